// The REST layer against the real API server: what server-side apply, delete preconditions, /status
// and RBAC decide is observed, not assumed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeClient, RequestEvent } from '../../src/kube/client.js';
import { KubeApiError, isConflict, isForbidden, isNotFound } from '../../src/kube/errors.js';
import { CLUSTER_ROLES, CUSTOM_RESOURCE_DEFINITIONS, type ResourceRef } from '../../src/kube/resources.js';
import type { KubeObject } from '../../src/kube/types.js';
import { KubeClient as Client } from '../../src/kube/client.js';
import { clusterInfo } from '../harness/cluster-info.js';
import { kubeConfigFor, serviceAccountKubeconfig } from '../harness/identities.js';
import { adminClient, eventually, suffix } from './kube-support.js';

interface ClusterRole extends KubeObject {
  rules?: { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[] }[];
}

const id = suffix();
const label = { 'kube-client-test': id };
const crName = (n: string): string => `kube-client-${id}-${n}`;
const role = (name: string, verbs = ['get']): ClusterRole => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name, labels: label },
  rules: [{ apiGroups: [''], resources: ['configmaps'], verbs }],
});

const group = `kct${id}.example.com`;
const WIDGETS: ResourceRef = { group, version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: false };

describe('KubeClient against the API server', () => {
  let client: KubeClient;
  const requests: RequestEvent[] = [];

  beforeAll(async () => {
    client = await adminClient({ onRequest: (e) => requests.push(e) });
  });

  afterAll(async () => {
    const list = await client.list<ClusterRole>(CLUSTER_ROLES, { labelSelector: `kube-client-test=${id}` });
    for (const cr of list.items) await client.remove(CLUSTER_ROLES, cr.metadata!.name!);
    await client.remove(CUSTOM_RESOURCE_DEFINITIONS, `widgets.${group}`);
    client.close();
  });

  it('server-side apply: applying the same object twice is a no-op (resourceVersion unchanged)', async () => {
    const first = await client.apply(CLUSTER_ROLES, role(crName('ssa')));
    const second = await client.apply(CLUSTER_ROLES, role(crName('ssa')));
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    const changed = await client.apply(CLUSTER_ROLES, role(crName('ssa'), ['get', 'list']));
    expect(changed.metadata?.resourceVersion).not.toBe(first.metadata?.resourceVersion);
    expect(changed.rules?.[0]?.verbs).toEqual(['get', 'list']);
    expect(changed.metadata?.managedFields?.map((f) => (f as { manager: string }).manager)).toEqual([
      'impersonation-operator',
    ]);
    expect(requests.filter((r) => r.verb === 'apply').map((r) => r.code)).toEqual([201, 200, 200]);
  });

  it('server-side apply: a field owned by another manager is a 409 Conflict unless forced', async () => {
    const name = crName('owned');
    await client.apply(CLUSTER_ROLES, role(name, ['get']), { fieldManager: 'someone-else' });
    const err = await client
      .apply(CLUSTER_ROLES, role(name, ['delete']), { force: false })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(isConflict(err)).toBe(true);
    expect((err as KubeApiError).reason).toBe('Conflict');
    expect((err as KubeApiError).serverMessage).toContain('someone-else');
    const forced = await client.apply(CLUSTER_ROLES, role(name, ['delete']));
    expect(forced.rules?.[0]?.verbs).toEqual(['delete']);
  });

  it('delete with a stale uid precondition is refused (409) and leaves the new object in place', async () => {
    const name = crName('uid');
    const old = await client.create(CLUSTER_ROLES, role(name));
    expect(await client.remove(CLUSTER_ROLES, name, { uid: old.metadata!.uid! })).toBe(true);
    // Someone recreates an object with the same name (a different uid).
    const replacement = await eventually(
      () => client.create(CLUSTER_ROLES, role(name)),
      10_000,
      'the name to be free again',
    );
    const err = await client
      .remove(CLUSTER_ROLES, name, { uid: old.metadata!.uid! })
      .catch((e: unknown) => e);
    expect(isConflict(err)).toBe(true);
    expect((err as KubeApiError).serverMessage).toMatch(/UID in the precondition .* does not match/);
    const live = await client.get<ClusterRole>(CLUSTER_ROLES, name);
    expect(live.metadata?.uid).toBe(replacement.metadata?.uid);
    expect(await client.remove(CLUSTER_ROLES, name, { uid: replacement.metadata!.uid! })).toBe(true);
    // Already gone: not an error.
    expect(await client.remove(CLUSTER_ROLES, name, { uid: replacement.metadata!.uid! })).toBe(false);
  });

  it('turns failures into typed errors with the status code, reason and server message', async () => {
    const missing = await client.get(CLUSTER_ROLES, crName('missing')).catch((e: unknown) => e);
    expect(isNotFound(missing)).toBe(true);
    expect((missing as KubeApiError).reason).toBe('NotFound');
    expect((missing as KubeApiError).serverMessage).toContain('not found');

    const nobody = await Client.fromKubeConfig(await kubeConfigFor(`kube-client-nobody-${id}`));
    try {
      const forbidden = await nobody.list(CLUSTER_ROLES).catch((e: unknown) => e);
      expect(isForbidden(forbidden)).toBe(true);
      expect((forbidden as KubeApiError).reason).toBe('Forbidden');
      expect((forbidden as KubeApiError).serverMessage).toContain(`kube-client-nobody-${id}`);
    } finally {
      nobody.close();
    }

    const invalid = await client
      .apply(CLUSTER_ROLES, { ...role(crName('bad')), rules: [{ verbs: [] }] })
      .catch((e: unknown) => e);
    expect((invalid as KubeApiError).code).toBe(422);
    expect((invalid as KubeApiError).reason).toBe('Invalid');
  });

  it('lists page by page with a label selector', async () => {
    for (const n of ['p1', 'p2', 'p3']) await client.apply(CLUSTER_ROLES, role(crName(n)));
    const names: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    do {
      const page = await client.list<ClusterRole>(CLUSTER_ROLES, {
        labelSelector: `kube-client-test=${id}`,
        limit: 2,
        continue: cont,
      });
      pages++;
      names.push(...page.items.map((i) => i.metadata!.name!));
      cont = page.metadata?.continue || undefined;
    } while (cont);
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(names).toEqual(expect.arrayContaining([crName('p1'), crName('p2'), crName('p3')]));
  });

  it('patchStatus writes only status through the /status subresource', async () => {
    await client.apply(CUSTOM_RESOURCE_DEFINITIONS, {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Cluster',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', properties: { size: { type: 'integer' } } },
                  status: { type: 'object', properties: { phase: { type: 'string' } } },
                },
              },
            },
          },
        ],
      },
    } as KubeObject);
    type Widget = KubeObject & { spec?: { size?: number }; status?: { phase?: string } };
    const created = await eventually(
      () => client.apply<Widget>(WIDGETS, { metadata: { name: 'w' }, spec: { size: 1 } } as Widget),
      30_000,
      'the CRD to be served',
    );
    const patched = await client.patchStatus<Widget>(WIDGETS, 'w', {
      status: { phase: 'Ready' },
      spec: { size: 9 },
    });
    expect(patched.status?.phase).toBe('Ready');
    expect(patched.spec?.size).toBe(1); // /status ignores spec
    expect(patched.metadata?.generation).toBe(created.metadata?.generation);
    // Optimistic concurrency: a stale resourceVersion is a 409.
    const stale = await client
      .patchStatus(
        WIDGETS,
        'w',
        { status: { phase: 'Old' } },
        { resourceVersion: created.metadata!.resourceVersion! },
      )
      .catch((e: unknown) => e);
    expect(isConflict(stale)).toBe(true);
    await client.remove(WIDGETS, 'w');
  });

  it('connects without client-node from kubeconfig files: client certificate and service-account token', async () => {
    const whoami = async (c: KubeClient): Promise<{ username?: string; groups?: string[] }> => {
      const review = await c.request<{ status: { userInfo: { username?: string; groups?: string[] } } }>({
        verb: 'create',
        resource: 'selfsubjectreviews',
        method: 'POST',
        path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      });
      return review.status.userInfo;
    };
    const asAdmin = await Client.connect({ kubeconfig: clusterInfo().adminKubeconfig });
    try {
      expect((await whoami(asAdmin)).groups).toContain('system:masters');
    } finally {
      asAdmin.close();
    }

    const SERVICE_ACCOUNTS: ResourceRef = {
      group: '',
      version: 'v1',
      plural: 'serviceaccounts',
      kind: 'ServiceAccount',
      namespaced: true,
    };
    const sa = `kube-client-${id}`;
    await client.create(SERVICE_ACCOUNTS, { metadata: { name: sa, namespace: 'default' } });
    const asSa = await Client.connect({ kubeconfig: await serviceAccountKubeconfig('default', sa) });
    try {
      expect((await whoami(asSa)).username).toBe(`system:serviceaccount:default:${sa}`);
      // Real RBAC: the service account may not list ClusterRoles.
      expect(isForbidden(await asSa.list(CLUSTER_ROLES).catch((e: unknown) => e))).toBe(true);
    } finally {
      asSa.close();
      await client.remove(SERVICE_ACCOUNTS, sa, { namespace: 'default' });
    }
  });

  it('reports every request to the observer with verb, resource and code', () => {
    expect(requests.length).toBeGreaterThan(10);
    expect(requests).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ verb: 'get', resource: 'clusterroles', code: 404 }),
        expect.objectContaining({ verb: 'delete', resource: 'clusterroles', code: 409 }),
        expect.objectContaining({ verb: 'patch', resource: 'widgets/status', code: 200 }),
        expect.objectContaining({ verb: 'list', resource: 'clusterroles', code: 200 }),
      ]),
    );
    for (const r of requests) expect(r.durationMs).toBeGreaterThanOrEqual(0);
  });
});
