// Proof that the local control plane is real: RBAC, impersonation, the audit log and CRD schema
// validation are decided by kube-apiserver itself.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { adminKubeConfig, kubeconfigFor } from '../harness/identities.js';
import { requestAs } from '../harness/http.js';
import { waitForAuditEvent } from '../harness/audit.js';
import { clusterInfo } from '../harness/cluster-info.js';
import { kubectl } from '../harness/kubectl.js';

const suffix = Date.now().toString(36);
const names = {
  impersonator: `smoke-impersonator-${suffix}`,
  devView: `smoke-dev-view-${suffix}`,
  crd: `widgets${suffix}.smoke.example.com`,
};
const alice = 'alice@example.com';
const message = (body: string) => (JSON.parse(body) as { message: string }).message;

describe('local control plane (smoke)', () => {
  let admin: string;
  let proxy: string;
  let intruder: string;

  beforeAll(async () => {
    admin = clusterInfo().adminKubeconfig;
    proxy = await kubeconfigFor('proxy');
    intruder = await kubeconfigFor('intruder');
    const crRes = await requestAs(admin, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      body: {
        metadata: { name: names.impersonator },
        rules: [
          { apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: [alice] },
          { apiGroups: [''], resources: ['groups'], verbs: ['impersonate'], resourceNames: ['dev'] },
        ],
      },
    });
    expect(crRes.status).toBe(201);
    const crbRes = await requestAs(admin, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      body: {
        metadata: { name: names.impersonator },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: names.impersonator },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'proxy' }],
      },
    });
    expect(crbRes.status).toBe(201);
  });

  afterAll(async () => {
    for (const [kind, name] of [
      ['clusterrolebindings', names.impersonator],
      ['clusterrolebindings', names.devView],
      ['clusterroles', names.impersonator],
    ] as const) {
      await requestAs(admin, 'DELETE', `/apis/rbac.authorization.k8s.io/v1/${kind}/${name}`);
    }
    await requestAs(admin, 'DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${names.crd}`);
  });

  it('reports the pinned Kubernetes version', async () => {
    const res = await requestAs(admin, 'GET', '/version');
    expect(res.status).toBe(200);
    expect((res.json() as { gitVersion: string }).gitVersion).toBe(clusterInfo().version);
  });

  it('authorizes impersonated requests with RBAC: 403 before binding dev to view, 200 after', async () => {
    const asAliceDev = { impersonate: { user: alice, groups: ['dev'] } };
    const before = await requestAs(proxy, 'GET', '/api/v1/namespaces', asAliceDev);
    expect(before.status).toBe(403);
    // The refusal is about alice's rights, not about the impersonation.
    expect(message(before.body)).toContain(`User "${alice}" cannot list resource "namespaces"`);

    const bind = await requestAs(admin, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      body: {
        metadata: { name: names.devView },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dev' }],
      },
    });
    expect(bind.status).toBe(201);

    // RBAC authorizer caches nothing: the new binding takes effect on the next request.
    let after = await requestAs(proxy, 'GET', '/api/v1/namespaces', asAliceDev);
    for (let i = 0; i < 20 && after.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await requestAs(proxy, 'GET', '/api/v1/namespaces', asAliceDev);
    }
    expect(after.status).toBe(200);
    expect((after.json() as { kind: string }).kind).toBe('NamespaceList');
  });

  it('refuses impersonating a group that was not granted', async () => {
    const res = await requestAs(proxy, 'GET', '/api/v1/namespaces', {
      impersonate: { user: alice, groups: ['ops'] },
    });
    expect(res.status).toBe(403);
    expect(message(res.body)).toBe(
      'groups "ops" is forbidden: User "proxy" cannot impersonate resource "groups" in API group "" at the cluster scope',
    );
  });

  it('refuses an identity with no grant impersonating alice', async () => {
    const res = await requestAs(intruder, 'GET', '/api/v1/namespaces', { impersonate: { user: alice } });
    expect(res.status).toBe(403);
    // Kubernetes 1.37 also tries constrained impersonation (impersonate-on:<mode>:<verb>) before refusing.
    expect(message(res.body)).toMatch(/^namespaces is forbidden: User "intruder" cannot impersonate/);
  });

  it('records both identities in the audit log', async () => {
    const probe = `/api/v1/namespaces?limit=1&smoke=${suffix}`;
    const res = await requestAs(proxy, 'GET', probe, { impersonate: { user: alice, groups: ['dev'] } });
    expect(res.status).toBe(200);
    const event = await waitForAuditEvent((e) => e.requestURI === probe && e.stage === 'ResponseComplete');
    expect(event.user.username).toBe('proxy');
    expect(event.impersonatedUser?.username).toBe(alice);
    expect(event.impersonatedUser?.groups).toContain('dev');
    expect(event.responseStatus?.code).toBe(200);
  });

  it('installs a CRD and rejects an object that violates its schema with the API server message', async () => {
    const [plural, group] = [names.crd.split('.')[0]!, names.crd.split('.').slice(1).join('.')];
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: names.crd },
      spec: {
        group,
        scope: 'Cluster',
        names: { plural, singular: plural.replace(/s$/, ''), kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: {
                    type: 'object',
                    required: ['size'],
                    properties: { size: { type: 'integer', minimum: 1, maximum: 10 } },
                  },
                },
              },
            },
          },
        ],
      },
    };
    const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(crd) });
    expect(applied.code).toBe(0);
    const established = await kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      `crd/${names.crd}`,
    ]);
    expect(established.code).toBe(0);

    const path = `/apis/${group}/v1/${plural}`;
    const good = await requestAs(admin, 'POST', path, {
      body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'ok' }, spec: { size: 3 } },
    });
    expect(good.status).toBe(201);
    const bad = await requestAs(admin, 'POST', path, {
      body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'bad' }, spec: { size: 42 } },
    });
    expect(bad.status).toBe(422);
    expect(bad.body).toContain(
      'spec.size: Invalid value: 42: spec.size in body should be less than or equal to 10',
    );
    // client-node talks to the same server with the admin kubeconfig.
    expect(adminKubeConfig().getCurrentCluster()?.server).toBe(clusterInfo().server);
  });
});
