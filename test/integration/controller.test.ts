// The operator, running as a separate process with the Helm chart's least-privilege identity,
// against the real control plane. Every assertion is about the state of the world: which RBAC
// exists, what an impersonated request may really do, and what the audit log recorded.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { impersonatorName } from '../../src/core/index.js';
import { readAuditEvents, waitForAuditEvent } from '../harness/audit.js';
import { clusterInfo } from '../harness/cluster-info.js';
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
  getPolicy,
  isObserved,
  isReady,
  policy,
  rbacGet,
  waitForPolicy,
  type PolicyObject,
  type RbacObject,
} from '../harness/policies.js';

const s = Date.now().toString(36).slice(-6);
const ns = { app: `ctl-app-${s}`, my: `ctl-my-${s}`, other: `ctl-other-${s}` };
const proxyUser = `proxy-${s}`;
const users = {
  alice: `alice-${s}@example.com`,
  bob: `bob-${s}@example.com`,
  carol: `carol-${s}@example.com`,
  // The NameConflict case's own target: its leftovers must never touch the change case's carol.
  dave: `dave-${s}@example.com`,
};
const agent = { namespace: 'kube-system', name: `cicd-agent-${s}` };
const podReader = `ctl-pod-reader-${s}`;
const cmReader = `ctl-cm-reader-${s}`;
const sre = { role: `SRE On Call ${s}`, group: `sre-on-call-${s}` };
const clean = { role: `Clean ${s}`, group: `clean-${s}` };
const changeA = { role: `Team A ${s}`, group: `team-a-${s}` };
const changeB = { role: `Team B ${s}`, group: `team-b-${s}` };
const cross = { x: `Cross Role ${s}`, y: `cross role ${s}`, group: `cross-role-${s}` };
const RESYNC_MS = 2000;

const names = {
  proxy: `ctl-proxy-${s}`,
  collide: `ctl-collide-${s}`,
  cicd: `ctl-cicd-${s}`,
  conflict: `ctl-conflict-${s}`,
  change: `ctl-change-${s}`,
  offline: `ctl-offline-${s}`,
  crossX: `ctl-cross-x-${s}`,
  crossY: `ctl-cross-y-${s}`,
};

interface EventObject {
  reason: string;
  type: string;
  note: string;
  reportingController: string;
  regarding: { name: string; uid: string };
}
/** events.k8s.io Events the operator wrote about a policy (cluster-scoped objects' Events live in default). */
async function eventsAbout(policyName: string): Promise<EventObject[]> {
  const res = await adminRequest('GET', '/apis/events.k8s.io/v1/namespaces/default/events');
  return (res.json() as { items: EventObject[] }).items.filter(
    (e) => e.regarding.name === policyName && e.reportingController === 'impersonation-operator',
  );
}

const message = (body: string) => (JSON.parse(body) as { message?: string }).message ?? body;
const groupSubjects = (o: RbacObject) =>
  (o.subjects ?? []).filter((x) => x.kind === 'Group').map((x) => x.name);

/** Every status the API server reported for our policies, to check kstatus invariants at every step. */
const seen: { name: string; generation: number; status: NonNullable<PolicyObject['status']> }[] = [];

describe('operator (integration)', () => {
  let rbac: OperatorRbac;
  let operator: OperatorProcess;
  let proxy: string;
  let abortWatch: (() => void) | undefined;

  beforeAll(async () => {
    await ensureCrd();
    for (const n of Object.values(ns)) await ensureNamespace(n);
    for (const [name, resource] of [
      [podReader, 'pods'],
      [cmReader, 'configmaps'],
    ] as const) {
      const res = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
        metadata: { name },
        rules: [{ apiGroups: [''], resources: [resource], verbs: ['get', 'list'] }],
      });
      expect(res.status).toBe(201);
    }
    rbac = await installOperatorRbac({
      impersonate: {
        users: Object.values(users),
        groups: [sre.group, clean.group, changeA.group, changeB.group, cross.group],
        serviceAccounts: [{ namespace: ns.my, name: 'deployer' }],
      },
      bindableClusterRoles: [podReader, cmReader],
    });
    operator = await startOperator({
      kubeconfig: await rbac.kubeconfig(),
      args: ['--no-leader-elect', `--resync-period=${RESYNC_MS}ms`, '--workers=4'],
    });
    await operator.waitReady();
    proxy = await kubeconfigFor(proxyUser);

    const kc = new KubeConfig();
    kc.loadFromFile(clusterInfo().adminKubeconfig);
    const req = await new Watch(kc).watch(
      '/apis/impersonation-operator.io/v1alpha1/impersonationpolicies',
      {},
      (_type: string, obj: PolicyObject) => {
        if (obj.metadata.name.endsWith(s) && obj.status) {
          seen.push({
            name: obj.metadata.name,
            generation: obj.metadata.generation ?? 0,
            status: obj.status,
          });
        }
      },
      () => undefined,
    );
    abortWatch = () => req.abort();
  });

  afterAll(async () => {
    abortWatch?.();
    for (const n of Object.values(names)) await deletePolicy(n).catch(() => undefined);
    const code = operator ? await operator.stop() : 0;
    await rbac?.uninstall();
    for (const name of [podReader, cmReader]) {
      await adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`);
    }
    for (const n of Object.values(ns)) await adminRequest('DELETE', `/api/v1/namespaces/${n}`);
    // Graceful shutdown: SIGTERM drains the queue and exits 0.
    expect(code).toBe(0);
  });

  it('access proxy: proxy may act as alice with the SRE group, within that role, and no further', async () => {
    await applyPolicy(
      policy(names.proxy, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { users: [users.alice] },
        roles: [{ name: sre.role, clusterRoles: [podReader] }],
      }),
    );
    const p = await waitForPolicy(names.proxy, isReady, 'Ready=True');
    expect(p.status?.roleGroups).toEqual([{ role: sre.role, group: sre.group, clusterRoles: [podReader] }]);

    const asAlice = { impersonate: { user: users.alice, groups: [sre.group] } };
    const pods = `/api/v1/namespaces/${ns.app}/pods?proxy-test=${s}`;
    const allowed = await requestAs(proxy, 'GET', pods, asAlice);
    expect(allowed.status).toBe(200);
    const beyond = await requestAs(proxy, 'GET', `/api/v1/namespaces/${ns.app}/secrets`, asAlice);
    expect(beyond.status).toBe(403);
    expect(message(beyond.body)).toContain(`User "${users.alice}" cannot list resource "secrets"`);

    const wrongGroup = await requestAs(proxy, 'GET', pods, {
      impersonate: { user: users.alice, groups: [`ops-${s}`] },
    });
    expect(wrongGroup.status).toBe(403);
    expect(message(wrongGroup.body)).toContain(`User "${proxyUser}" cannot impersonate resource "groups"`);

    const event = await waitForAuditEvent((e) => e.requestURI === pods && e.stage === 'ResponseComplete');
    expect(event.user.username).toBe(proxyUser);
    expect(event.impersonatedUser?.username).toBe(users.alice);
    expect(event.impersonatedUser?.groups).toContain(sre.group);

    // Provisioned as asked: the status says Ready, and no Event is written for it (README "Events").
    expect(await eventsAbout(names.proxy)).toEqual([]);

    // Exactly one impersonator ClusterRole, every rule named and impersonate-only.
    const objects = await generatedObjects(names.proxy);
    const roles = objects.filter((o) => o.kind === 'ClusterRole');
    expect(roles).toHaveLength(1);
    for (const rule of roles[0]!.rules ?? []) {
      expect(rule.verbs).toEqual(['impersonate']);
      expect(rule.resourceNames?.length).toBeGreaterThan(0);
    }
    for (const o of objects) {
      expect(o.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('impersonation-operator');
      expect(o.metadata.ownerReferences).toEqual([
        expect.objectContaining({ uid: p.metadata.uid, controller: true, blockOwnerDeletion: true }),
      ]);
    }
  });

  it('collisions: colliding role names are held back, the clean role works, status says why', async () => {
    await applyPolicy(
      policy(names.collide, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { users: [users.bob] },
        roles: ['MyRole', 'myrole', 'My-Role', 'My role', clean.role].map((name) => ({
          name,
          clusterRoles: [podReader],
        })),
      }),
    );
    const p = await waitForPolicy(
      names.collide,
      (x) => isObserved(x) && (x.status?.collisions?.length ?? 0) >= 2,
    );
    const within = (p.status?.collisions ?? []).filter((c) => c.scope === 'WithinPolicy');
    expect(within.map((c) => [c.group, [...c.roles].sort()]).sort()).toEqual([
      ['my-role', ['My role', 'My-Role']],
      ['myrole', ['MyRole', 'myrole']],
    ]);
    expect(p.status?.roleGroups?.map((r) => r.group)).toEqual([clean.group]);
    const ready = condition(p, 'Ready');
    expect(ready?.status).toBe('False');
    expect(ready?.message).toContain('myrole');
    expect(ready?.message).toContain('my-role');

    const objects = await generatedObjects(names.collide);
    const boundGroups = objects.flatMap(groupSubjects);
    expect(boundGroups).toContain(clean.group);
    expect(boundGroups).not.toContain('myrole');
    expect(boundGroups).not.toContain('my-role');
    const impersonable = objects
      .filter((o) => o.kind === 'ClusterRole')
      .flatMap((o) => o.rules ?? [])
      .filter((r) => r.resources?.includes('groups'))
      .flatMap((r) => r.resourceNames ?? []);
    expect(impersonable).toEqual([clean.group]);

    const pods = `/api/v1/namespaces/${ns.app}/pods`;
    expect(
      (await requestAs(proxy, 'GET', pods, { impersonate: { user: users.bob, groups: [clean.group] } }))
        .status,
    ).toBe(200);
    const held = await requestAs(proxy, 'GET', pods, {
      impersonate: { user: users.bob, groups: ['myrole'] },
    });
    expect(held.status).toBe(403);
    expect(message(held.body)).toContain('cannot impersonate resource "groups"');
  });

  it('CI/CD: the runner may become the deployer in its namespace only, and deploy there', async () => {
    await ensureServiceAccount(agent.namespace, agent.name);
    for (const n of [ns.my, ns.other]) {
      await ensureServiceAccount(n, 'deployer');
      // The deployer's own rights (in both namespaces, so only the impersonation grant differs).
      await adminRequest('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${n}/roles`, {
        metadata: { name: 'deployer' },
        rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['create', 'get', 'list'] }],
      });
      await adminRequest('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${n}/rolebindings`, {
        metadata: { name: 'deployer' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'deployer' },
        subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: n }],
      });
    }
    await applyPolicy(
      policy(names.cicd, {
        impersonators: [{ kind: 'ServiceAccount', namespace: agent.namespace, name: agent.name }],
        targets: { serviceAccounts: [{ namespace: ns.my, name: 'deployer' }] },
      }),
    );
    await waitForPolicy(names.cicd, isReady, 'Ready=True');

    const runner = await serviceAccountKubeconfig(agent.namespace, agent.name);
    const deployment = (n: string) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `web-${s}`, namespace: n },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'nginx' }] },
        },
      },
    });
    const asDeployer = (n: string) => ({
      impersonate: { user: `system:serviceaccount:${n}:deployer` },
      body: deployment(n),
    });
    const created = await requestAs(
      runner,
      'POST',
      `/apis/apps/v1/namespaces/${ns.my}/deployments`,
      asDeployer(ns.my),
    );
    expect(created.status).toBe(201);
    const elsewhere = await requestAs(
      runner,
      'POST',
      `/apis/apps/v1/namespaces/${ns.other}/deployments`,
      asDeployer(ns.other),
    );
    expect(elsewhere.status).toBe(403);
    expect(message(elsewhere.body)).toContain('cannot impersonate resource "serviceaccounts"');

    // The grant is a Role in the service account's namespace, never a cluster-wide rule.
    const objects = await generatedObjects(names.cicd);
    const saRules = objects.flatMap((o) =>
      (o.rules ?? []).map((r) => ({ kind: o.kind, ns: o.metadata.namespace, r })),
    );
    const saGrants = saRules.filter((x) => x.r.resources?.includes('serviceaccounts'));
    expect(saGrants).toEqual([
      { kind: 'Role', ns: ns.my, r: expect.objectContaining({ resourceNames: ['deployer'] }) },
    ]);
  });

  it('drift: edits to generated objects and deletions are undone within seconds', async () => {
    const objects = await generatedObjects(names.proxy);
    const binding = objects.find(
      (o) =>
        o.kind === 'ClusterRoleBinding' &&
        o.roleRef?.kind === 'ClusterRole' &&
        o.roleRef.name.includes('impersonators'),
    )!;
    const role = objects.find((o) => o.kind === 'ClusterRole')!;
    const groupBinding = objects.find((o) => groupSubjects(o).includes(sre.group))!;
    const merge = 'application/merge-patch+json';

    const rb = `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${binding.metadata.name}`;
    const extra = [
      ...(binding.subjects ?? []),
      { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: `mallory-${s}` },
    ];
    expect((await adminRequest('PATCH', rb, { subjects: extra }, merge)).status).toBe(200);
    await eventually(
      'the extra subject to be removed',
      async () => {
        const now = await rbacGet('clusterrolebindings', binding.metadata.name);
        return now && JSON.stringify(now.subjects) === JSON.stringify(binding.subjects);
      },
      15_000,
    );

    const cr = `/apis/rbac.authorization.k8s.io/v1/clusterroles/${role.metadata.name}`;
    const widened = [
      ...(role.rules ?? []),
      { apiGroups: [''], resources: ['users'], verbs: ['impersonate'] },
    ];
    expect((await adminRequest('PATCH', cr, { rules: widened }, merge)).status).toBe(200);
    await eventually(
      'the widened rules to be reverted',
      async () => {
        const now = await rbacGet('clusterroles', role.metadata.name);
        return now && JSON.stringify(now.rules) === JSON.stringify(role.rules);
      },
      15_000,
    );

    const gb = `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${groupBinding.metadata.name}`;
    expect((await adminRequest('DELETE', gb)).status).toBe(200);
    const recreated = await eventually(
      'the deleted binding to be recreated',
      async () => {
        const now = await rbacGet('clusterrolebindings', groupBinding.metadata.name);
        return now && now.metadata.uid !== groupBinding.metadata.uid ? now : undefined;
      },
      15_000,
    );
    expect(recreated.roleRef).toEqual(groupBinding.roleRef);
    expect(recreated.subjects).toEqual(groupBinding.subjects);
  });

  it('a foreign object at a generated name is left untouched and reported as NameConflict', async () => {
    const name = impersonatorName(names.conflict);
    const foreign = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name, labels: { owner: 'someone-else' } },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }],
    });
    expect(foreign.status).toBe(201);
    const before = foreign.json() as RbacObject;
    await applyPolicy(
      policy(names.conflict, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { users: [users.dave] },
      }),
    );
    const p = await waitForPolicy(
      names.conflict,
      (x) => condition(x, 'Stalled')?.reason === 'NameConflict',
      'Stalled=NameConflict',
    );
    expect(condition(p, 'Ready')?.status).toBe('False');
    expect(condition(p, 'Stalled')?.message).toContain(name);
    const after = await rbacGet('clusterroles', name);
    expect(after?.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after?.metadata.ownerReferences).toBeUndefined();
    // Nothing may bind the impersonators to someone else's role.
    const bindings = (await generatedObjects(names.conflict)).filter((o) => o.roleRef?.name === name);
    expect(bindings).toEqual([]);
    const res = await requestAs(proxy, 'GET', '/api/v1/namespaces', { impersonate: { user: users.dave } });
    expect(res.status).toBe(403);
    const warning = await eventually('a NameConflict Event', async () =>
      (await eventsAbout(names.conflict)).find((e) => e.reason === 'NameConflict'),
    );
    expect(warning.type).toBe('Warning');
    expect(warning.regarding.uid).toBe(p.metadata.uid);
    expect(warning.note).toContain(name);
    // Delete the policy first: its periodic re-check must not claim the name once it is free.
    await deletePolicy(names.conflict);
    await adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`);
  });

  it('change: removing a role prunes, a new target replaces the binding, a removed user loses the grant', async () => {
    const spec = (roles: { name: string; clusterRoles: string[] }[], targetUsers: string[]) => ({
      impersonators: [{ kind: 'User', name: proxyUser }],
      targets: { users: targetUsers },
      roles,
    });
    await applyPolicy(
      policy(
        names.change,
        spec(
          [
            { name: changeA.role, clusterRoles: [podReader] },
            { name: changeB.role, clusterRoles: [podReader] },
          ],
          [users.carol],
        ),
      ),
    );
    await waitForPolicy(names.change, isReady, 'Ready=True');
    const bindingsFor = async (group: string) =>
      (await generatedObjects(names.change)).filter((o) => groupSubjects(o).includes(group));
    expect(await bindingsFor(changeB.group)).toHaveLength(1);
    const [oldA] = await bindingsFor(changeA.group);
    const pods = `/api/v1/namespaces/${ns.app}/pods`;
    expect(
      (await requestAs(proxy, 'GET', pods, { impersonate: { user: users.carol, groups: [changeA.group] } }))
        .status,
    ).toBe(200);

    // Remove role B and retarget role A: pods -> configmaps.
    await applyPolicy(
      policy(names.change, spec([{ name: changeA.role, clusterRoles: [cmReader] }], [users.carol])),
    );
    await waitForPolicy(names.change, isReady, 'Ready=True for generation 2');
    await eventually('role B bindings pruned', async () => (await bindingsFor(changeB.group)).length === 0);
    const nowA = await bindingsFor(changeA.group);
    expect(nowA.map((o) => o.roleRef?.name)).toEqual([cmReader]);
    expect(await rbacGet('clusterrolebindings', oldA!.metadata.name)).toBeUndefined();
    const asCarolA = { impersonate: { user: users.carol, groups: [changeA.group] } };
    expect((await requestAs(proxy, 'GET', `/api/v1/namespaces/${ns.app}/configmaps`, asCarolA)).status).toBe(
      200,
    );
    expect((await requestAs(proxy, 'GET', pods, asCarolA)).status).toBe(403);
    // Grants went away (role B's binding): one Revoked Event says how many objects.
    const revoked = await eventually('a Revoked Event', async () =>
      (await eventsAbout(names.change)).find((e) => e.reason === 'Revoked'),
    );
    expect(revoked.type).toBe('Normal');
    expect(revoked.note).toMatch(/^Removed \d+ RBAC objects? the policy no longer grants\.$/);

    // Remove carol as a target: impersonating her is refused from now on.
    await applyPolicy(
      policy(names.change, spec([{ name: changeA.role, clusterRoles: [cmReader] }], [users.bob])),
    );
    await waitForPolicy(names.change, isReady, 'Ready=True for generation 3');
    const refused = await eventually(
      'impersonating carol to be refused',
      async () => {
        const r = await requestAs(proxy, 'GET', '/api/v1/namespaces/default/configmaps', asCarolA);
        return r.status === 403 ? r : undefined;
      },
      // Revocation takes well under a second (README "Revocation"); the deadline holds on a busy machine.
      30_000,
    );
    expect(message(refused.body)).toContain('cannot impersonate resource "users"');
  });

  it('deletion: deleting a policy removes everything it generated', async () => {
    expect((await generatedObjects(names.change)).length).toBeGreaterThan(0);
    await deletePolicy(names.change);
    // The garbage collector does this; it notices a new resource type on its 30s discovery resync.
    await eventually(
      'generated objects to be garbage-collected',
      async () => (await generatedObjects(names.change)).length === 0,
      60_000,
    );
  });

  it('cross-policy collision: both policies hold the group back; removing one releases it in the other', async () => {
    const crossSpec = (role: string) => ({
      impersonators: [{ kind: 'User', name: proxyUser }],
      targets: { users: [users.alice] },
      roles: [{ name: role, clusterRoles: [podReader] }],
    });
    const bound = async (name: string) =>
      (await generatedObjects(name)).filter((o) => groupSubjects(o).includes(cross.group)).length;
    await applyPolicy(policy(names.crossX, crossSpec(cross.x)));
    await waitForPolicy(names.crossX, isReady, 'Ready=True');
    expect(await bound(names.crossX)).toBe(1);

    await applyPolicy(policy(names.crossY, crossSpec(cross.y)));
    const across = (p: PolicyObject) =>
      (p.status?.collisions ?? []).filter((c) => c.scope === 'AcrossPolicies');
    const y = await waitForPolicy(
      names.crossY,
      (p) => isObserved(p) && across(p).length > 0,
      'an AcrossPolicies collision',
    );
    expect(across(y)).toEqual([
      expect.objectContaining({
        group: cross.group,
        roles: [cross.y],
        otherPolicies: [{ policy: names.crossX, role: cross.x }],
      }),
    ]);
    // The policy that was there first is requeued and fails closed too.
    await waitForPolicy(
      names.crossX,
      (p) => across(p).length > 0,
      'the collision reported in the first policy',
    );
    await eventually(
      'the group binding of the first policy to be pruned',
      async () => (await bound(names.crossX)) === 0,
    );
    expect(await bound(names.crossY)).toBe(0);
    // Each policy says once, as a Warning, that it became Stalled for the collision.
    for (const name of [names.crossX, names.crossY]) {
      const collision = await eventually(`a Collision Event about ${name}`, async () => {
        const found = (await eventsAbout(name)).filter((e) => e.reason === 'Collision');
        return found.length > 0 ? found : undefined;
      });
      expect(collision.map((e) => e.type)).toEqual(['Warning']);
      expect(collision[0]!.note).toContain(cross.group);
    }

    await deletePolicy(names.crossY);
    await waitForPolicy(
      names.crossX,
      (p) => isReady(p) && across(p).length === 0,
      'Ready again without the collision',
    );
    const recovered = await eventually('a Recovered Event', async () =>
      (await eventsAbout(names.crossX)).find((e) => e.reason === 'Recovered'),
    );
    expect(recovered.type).toBe('Normal');
    await eventually('the group binding to be restored', async () => (await bound(names.crossX)) === 1);
    await deletePolicy(names.crossX);
  });

  it('idle: after Ready, several resync periods pass with zero writes by the operator', async () => {
    // Let every policy in the cluster (also other suites' leftovers) settle first.
    await eventually('every policy to be reconciled', async () => {
      const res = await adminRequest('GET', '/apis/impersonation-operator.io/v1alpha1/impersonationpolicies');
      const items = (res.json() as { items: PolicyObject[] }).items;
      return items.every((p) => p.status?.observedGeneration === p.metadata.generation);
    });
    await new Promise((r) => setTimeout(r, 1000));
    const from = new Date().toISOString();
    await new Promise((r) => setTimeout(r, RESYNC_MS * 3 + 500));
    const to = new Date().toISOString();
    const mine = (await readAuditEvents()).filter(
      (e) => e.user.username === rbac.username && e.stageTimestamp >= from && e.stageTimestamp <= to,
    );
    const writes = mine.filter((e) =>
      ['create', 'update', 'patch', 'delete', 'deletecollection'].includes(e.verb),
    );
    expect(writes).toEqual([]);
    // And no reads per reconcile: only the informers' long-running watches may be open.
    expect(mine.filter((e) => e.verb === 'get' || e.verb === 'list')).toEqual([]);
    // Resyncs did run reconciles in that window (so "zero writes" is not "did nothing").
    const metrics = await operator.metrics();
    expect(metrics).toMatch(/impersonation_operator_reconcile_total\{result="success"\} [1-9]/);
  });

  it('deletion while the operator is stopped: the garbage collector removes the children', async () => {
    await applyPolicy(
      policy(names.offline, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { users: [users.alice] },
        roles: [{ name: sre.role, clusterRoles: [podReader] }],
      }),
    );
    // Same role name as the proxy policy: not a collision (it is the same external role).
    const p = await waitForPolicy(names.offline, isReady, 'Ready=True');
    expect(p.status?.collisions ?? []).toEqual([]);
    expect((await generatedObjects(names.offline)).length).toBeGreaterThan(0);
    expect(await operator.stop()).toBe(0);
    await deletePolicy(names.offline);
    await eventually(
      'children to be garbage-collected without the operator',
      async () => (await generatedObjects(names.offline)).length === 0,
    );
    operator = await startOperator({
      kubeconfig: await rbac.kubeconfig(),
      args: ['--no-leader-elect', `--resync-period=${RESYNC_MS}ms`, '--workers=4'],
    });
    await operator.waitReady();
    // The restarted operator finds everything in place: the proxy policy is still Ready.
    expect(isReady(await getPolicy(names.proxy))).toBe(true);
  });

  it('status obeys kstatus at every step it was observed', () => {
    expect(seen.length).toBeGreaterThan(5);
    for (const { name, generation, status } of seen) {
      const get = (t: string) => status.conditions?.find((c) => c.type === t)?.status;
      const ctx = `${name} generation ${generation}: ${JSON.stringify(status.conditions)}`;
      expect([ctx, get('Reconciling') === 'True' && get('Stalled') === 'True']).toEqual([ctx, false]);
      if (get('Reconciling') === 'True' || get('Stalled') === 'True')
        expect([ctx, get('Ready')]).toEqual([ctx, 'False']);
      expect(status.observedGeneration ?? 0).toBeLessThanOrEqual(generation);
      for (const c of status.conditions ?? [])
        expect(c.observedGeneration ?? generation).toBeLessThanOrEqual(generation);
    }
  });
});
