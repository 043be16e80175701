// Constrained impersonation (issue 11, KEP-5284) against the real 1.37 API server: the operator,
// with the chart's least-privilege identity, turns spec.allowedActions into impersonate:<mode> and
// impersonate-on:<mode>:<verb> rules, and the API server then lets an impersonator act as its
// targets for exactly those requests. Every assertion is about the state of the world.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isFinalStage, toAuditRecord } from '../../src/audit/event.js';
import { PolicyUsage } from '../../src/audit/policy-match.js';
import { SummaryBuilder } from '../../src/audit/summary.js';
import type { RbacObject as CoreRbacObject } from '../../src/core/index.js';
import { readAuditEvents, waitForAuditEvent, type AuditEvent } from '../harness/audit.js';
import { kubeconfigFor, serviceAccountKubeconfig } from '../harness/identities.js';
import { requestAs } from '../harness/http.js';
import { startOperator, type OperatorProcess } from '../harness/operator.js';
import { installOperatorRbac, type OperatorRbac } from '../harness/operator-rbac.js';
import {
  adminRequest,
  applyPolicy,
  condition,
  deletePolicy,
  ensureCrd,
  ensureNamespace,
  ensureServiceAccount,
  eventually,
  generatedObjects,
  isReady,
  policy,
  waitForPolicy,
} from '../harness/policies.js';

const s = Date.now().toString(36).slice(-6);
const ns = { my: `cim-my-${s}`, other: `cim-other-${s}`, ci: `cim-ci-${s}` };
const proxyUser = `cim-proxy-${s}`;
const alice = `alice-${s}@example.com`;
const sre = { role: `SRE On Call ${s}`, group: `sre-on-call-${s}` };
const podManager = `cim-pod-manager-${s}`;
const names = { ci: `cim-ci-${s}`, proxy: `cim-proxy-${s}` };
const deployment = `web-${s}`;

const message = (body: string) => (JSON.parse(body) as { message?: string }).message ?? body;

type ConstrainedAudit = AuditEvent & { authenticationMetadata?: { impersonationConstraint?: string } };

describe('constrained impersonation (integration)', () => {
  let rbac: OperatorRbac;
  let operator: OperatorProcess;
  let runner: string;
  let deployer: string;
  let proxy: string;
  let aliceOwn: string;

  beforeAll(async () => {
    await ensureCrd();
    for (const n of Object.values(ns)) await ensureNamespace(n);
    await ensureServiceAccount(ns.ci, 'runner');
    // The deployer may do everything with Deployments and Secrets in both namespaces by itself, so
    // only the constraint stands between the runner and all of that.
    for (const n of [ns.my, ns.other]) {
      await ensureServiceAccount(n, 'deployer');
      await adminRequest('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${n}/rolebindings`, {
        metadata: { name: 'deployer-edit' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
        subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: ns.my }],
      });
    }
    const res = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: podManager },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'delete'] }],
    });
    expect(res.status).toBe(201);
    rbac = await installOperatorRbac({
      impersonate: {
        users: [alice],
        groups: [sre.group],
        serviceAccounts: [{ namespace: ns.my, name: 'deployer' }],
      },
      bindableClusterRoles: [podManager],
      constrained: {
        enabled: true,
        actions: [
          {
            verbs: ['get', 'list', 'create', 'patch', 'delete'],
            apiGroups: ['apps'],
            resources: ['deployments'],
          },
          { verbs: ['get', 'list', 'delete'], apiGroups: [''], resources: ['pods'] },
        ],
      },
    });
    operator = await startOperator({
      kubeconfig: await rbac.kubeconfig(),
      args: ['--no-leader-elect', '--resync-period=2s', '--workers=4', '--access-review-ttl=1s'],
    });
    await operator.waitReady();
    runner = await serviceAccountKubeconfig(ns.ci, 'runner');
    deployer = await serviceAccountKubeconfig(ns.my, 'deployer');
    proxy = await kubeconfigFor(proxyUser);
    aliceOwn = await kubeconfigFor(alice, [sre.group]);
  });

  afterAll(async () => {
    await operator?.stop();
    for (const name of Object.values(names)) await deletePolicy(name).catch(() => undefined);
    await adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${podManager}`);
    for (const n of Object.values(ns)) await adminRequest('DELETE', `/api/v1/namespaces/${n}`);
    await rbac?.uninstall();
  });

  const deploymentBody = (n: string) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: deployment, namespace: n },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'nginx' }] },
      },
    },
  });
  const asDeployer = (n: string) => ({ user: `system:serviceaccount:${n}:deployer` });
  const deployments = (n: string) => `/apis/apps/v1/namespaces/${n}/deployments`;
  const patch = (kubeconfig: string, impersonate?: { user: string }) =>
    requestAs(kubeconfig, 'PATCH', `${deployments(ns.my)}/${deployment}`, {
      ...(impersonate ? { impersonate } : {}),
      body: { metadata: { labels: { patched: String(Date.now()) } } },
      contentType: 'application/merge-patch+json',
    });

  const ciSpec = (verbs: string[]) => ({
    impersonators: [{ kind: 'ServiceAccount', namespace: ns.ci, name: 'runner' }],
    targets: { serviceAccounts: [{ namespace: ns.my, name: 'deployer' }] },
    allowedActions: [{ verbs, apiGroups: ['apps'], resources: ['deployments'], namespaces: [ns.my] }],
  });

  it('CI runner as my-namespace/deployer: creates and patches Deployments there, nothing else', async () => {
    // Before the policy the runner can do nothing as the deployer.
    const before = await requestAs(runner, 'POST', deployments(ns.my), {
      impersonate: asDeployer(ns.my),
      body: deploymentBody(ns.my),
    });
    expect(before.status).toBe(403);

    await applyPolicy(policy(names.ci, ciSpec(['create', 'patch', 'get'])));
    await waitForPolicy(names.ci, isReady, 'Ready=True');
    const objects = await generatedObjects(names.ci);
    const verbs = objects.flatMap((o) => (o.rules ?? []).flatMap((r) => r.verbs ?? []));
    expect(verbs).not.toContain('impersonate');
    expect(verbs).toEqual(
      expect.arrayContaining(['impersonate:serviceaccount', 'impersonate-on:serviceaccount:create']),
    );

    const created = await eventually('the runner may create the Deployment as the deployer', async () => {
      const r = await requestAs(runner, 'POST', deployments(ns.my), {
        impersonate: asDeployer(ns.my),
        body: deploymentBody(ns.my),
      });
      return r.status === 201 ? r : undefined;
    });
    expect(created.status).toBe(201);
    expect((await patch(runner, asDeployer(ns.my))).status).toBe(200);

    const refused = {
      delete: await requestAs(runner, 'DELETE', `${deployments(ns.my)}/${deployment}`, {
        impersonate: asDeployer(ns.my),
      }),
      secrets: await requestAs(runner, 'GET', `/api/v1/namespaces/${ns.my}/secrets`, {
        impersonate: asDeployer(ns.my),
      }),
      otherNamespace: await requestAs(runner, 'POST', deployments(ns.other), {
        impersonate: asDeployer(ns.other),
        body: deploymentBody(ns.other),
      }),
      otherNamespaceSameDeployer: await requestAs(runner, 'GET', deployments(ns.other), {
        impersonate: asDeployer(ns.my),
      }),
    };
    expect(Object.fromEntries(Object.entries(refused).map(([k, r]) => [k, r.status]))).toEqual({
      delete: 403,
      secrets: 403,
      otherNamespace: 403,
      otherNamespaceSameDeployer: 403,
    });
    // The refusal names the constrained verb the runner lacks (the legacy one is never granted).
    expect(message(refused.delete.body)).toContain('impersonate-on:serviceaccount:delete');

    // The deployer itself may do all of it: only the constraint held the runner back.
    expect((await requestAs(deployer, 'GET', `/api/v1/namespaces/${ns.my}/secrets`)).status).toBe(200);
    expect((await requestAs(deployer, 'GET', deployments(ns.other))).status).toBe(200);
    expect((await requestAs(deployer, 'DELETE', `${deployments(ns.my)}/${deployment}`)).status).toBe(200);

    const event = (await waitForAuditEvent(
      (e) =>
        e.verb === 'create' &&
        e.requestURI === deployments(ns.my) &&
        e.stage === 'ResponseComplete' &&
        e.responseStatus?.code === 201,
    )) as ConstrainedAudit;
    expect(event.impersonatedUser?.username).toBe(`system:serviceaccount:${ns.my}:deployer`);
    expect(event.authenticationMetadata?.impersonationConstraint).toBe('impersonate:serviceaccount');
  });

  it('removing an action revokes it within the API server cache time (measured)', async () => {
    // The Deployment again, then the patch allowed, then patch removed from the policy.
    await requestAs(deployer, 'POST', deployments(ns.my), { body: deploymentBody(ns.my) });
    expect((await patch(runner, asDeployer(ns.my))).status).toBe(200);
    const before = await waitForPolicy(names.ci, isReady);
    await applyPolicy(policy(names.ci, ciSpec(['create', 'get'])));
    const ready = await waitForPolicy(
      names.ci,
      (p) => isReady(p) && (p.metadata.generation ?? 0) > (before.metadata.generation ?? 0),
      'Ready=True for the narrowed spec',
    );
    const readyAt = Date.now();
    expect(condition(ready, 'Ready')?.status).toBe('True');
    await eventually(
      'the patch to be refused',
      async () => (await patch(runner, asDeployer(ns.my))).status === 403,
      60_000,
      100,
    );
    const lagMs = Date.now() - readyAt;
    // Reported, not asserted (timing is the machine's): the README documents the figure.
    console.log(`constrained impersonation: patch refused ${lagMs} ms after the policy was Ready`);
    expect(
      (
        await requestAs(runner, 'GET', `${deployments(ns.my)}/${deployment}`, {
          impersonate: asDeployer(ns.my),
        })
      ).status,
    ).toBe(200);
  });

  it('access proxy as alice + sre-on-call: get/list pods, refused delete; the audit log says constrained', async () => {
    await applyPolicy(
      policy(names.proxy, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { users: [alice] },
        roles: [{ name: sre.role, clusterRoles: [podManager] }],
        allowedActions: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }],
      }),
    );
    await waitForPolicy(names.proxy, isReady, 'Ready=True');
    const asAlice = { impersonate: { user: alice, groups: [sre.group] } };
    const pods = `/api/v1/namespaces/${ns.my}/pods`;
    const listed = await eventually('the proxy may list pods as alice', async () => {
      const r = await requestAs(proxy, 'GET', pods, asAlice);
      return r.status === 200 ? r : undefined;
    });
    expect(listed.status).toBe(200);
    expect((await requestAs(proxy, 'GET', `${pods}/nope`, asAlice)).status).toBe(404); // get: allowed, absent
    const del = await requestAs(proxy, 'DELETE', `${pods}/nope`, asAlice);
    expect(del.status).toBe(403);
    expect(message(del.body)).toContain('impersonate-on:user-info:delete');
    // Alice herself may delete (404: allowed, nothing there): the constraint held the proxy back.
    expect((await requestAs(aliceOwn, 'DELETE', `${pods}/nope`)).status).toBe(404);
    // Not her secrets either (she has none, the constraint lists none).
    expect((await requestAs(proxy, 'GET', `/api/v1/namespaces/${ns.my}/configmaps`, asAlice)).status).toBe(
      403,
    );

    const event = (await waitForAuditEvent(
      (e) =>
        e.verb === 'list' &&
        e.requestURI === pods &&
        e.stage === 'ResponseComplete' &&
        e.user.username === proxyUser &&
        e.responseStatus?.code === 200,
    )) as ConstrainedAudit;
    expect(event.impersonatedUser?.username).toBe(alice);
    expect(event.impersonatedUser?.groups).toEqual(expect.arrayContaining([sre.group]));
    expect(event.authenticationMetadata?.impersonationConstraint).toBe('impersonate:user-info');

    // `kubectl impersonation audit`'s summary of the real log: the proxy's requests as alice were
    // allowed by the constrained grant.
    const builder = new SummaryBuilder();
    for (const e of await readAuditEvents()) {
      const rec = toAuditRecord(e);
      if (rec && isFinalStage(rec.stage) && rec.impersonator.username === proxyUser) builder.add(rec);
    }
    const asAliceSummary = builder
      .summary()
      .impersonators.find((i) => i.impersonator === proxyUser)
      ?.targets.find((t) => t.target.username === alice);
    expect(asAliceSummary?.constrained?.['impersonate:user-info']).toBeGreaterThanOrEqual(2);
  });

  it('a legacy grant to the same impersonator bypasses the constraint, and the status says which', async () => {
    const legacy = `cim-legacy-${s}`;
    const pods = `/api/v1/namespaces/${ns.my}/pods`;
    const asAlice = { impersonate: { user: alice, groups: [sre.group] } };
    expect((await requestAs(proxy, 'DELETE', `${pods}/nope`, asAlice)).status).toBe(403);
    const cr = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: legacy },
      rules: [
        {
          apiGroups: [''],
          resources: ['users', 'groups'],
          verbs: ['impersonate'],
          resourceNames: [alice, sre.group],
        },
      ],
    });
    expect(cr.status).toBe(201);
    const crb = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: legacy },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: legacy },
      subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: proxyUser }],
    });
    expect(crb.status).toBe(201);
    try {
      // The attack: with the legacy grant the proxy may delete as alice, whatever the policy lists.
      await eventually(
        'the legacy grant to take effect',
        async () => (await requestAs(proxy, 'DELETE', `${pods}/nope`, asAlice)).status === 404,
      );
      const reported = await waitForPolicy(
        names.proxy,
        (p) =>
          ((p.status as { constraintBypasses?: unknown[] } | undefined)?.constraintBypasses ?? []).length ===
          2,
        'status.constraintBypasses',
      );
      expect((reported.status as { constraintBypasses: unknown[] }).constraintBypasses).toEqual([
        {
          impersonator: `User ${proxyUser}`,
          target: `User '${alice}'`,
          grantedBy: expect.stringContaining(`ClusterRoleBinding "${legacy}"`),
        },
        {
          impersonator: `User ${proxyUser}`,
          target: `Group '${sre.group}'`,
          grantedBy: expect.stringContaining(`ClusterRoleBinding "${legacy}"`),
        },
      ]);
      expect(condition(reported, 'Ready')?.message).toContain('WARNING: the constraint is bypassed');

      // `kubectl impersonation audit --policies` flags the legacy use, from the real log and the
      // RBAC the operator really wrote for the policy.
      const usage = new PolicyUsage([
        {
          policy: names.proxy,
          objects: (await generatedObjects(names.proxy)) as unknown as CoreRbacObject[],
        },
      ]);
      for (const e of await readAuditEvents()) {
        const rec = toAuditRecord(e);
        if (rec && isFinalStage(rec.stage) && rec.impersonator.username === proxyUser) usage.add(rec);
      }
      expect(usage.report().legacyUse).toEqual([
        expect.objectContaining({ policy: names.proxy, impersonator: proxyUser, target: alice }),
      ]);
    } finally {
      await adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${legacy}`);
      await adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${legacy}`);
    }
    await waitForPolicy(
      names.proxy,
      (p) => (p.status as { constraintBypasses?: unknown[] } | undefined)?.constraintBypasses === undefined,
      'the bypass report to clear',
    );
  });
});
