// Tampering with what the operator generated, as an attacker with few rights would: a user holding
// only `patch` and `delete` on ClusterRoles and ClusterRoleBindings (RBAC's escalation check lets a
// patch through that touches only ownerReferences and finalizers; the test control plane runs the
// OwnerReferencesPermissionEnforcement plugin, which asks for `delete` to change ownerReferences), an
// impersonator who may patch ClusterRoles (it holds the rules of ours), and someone who replaces a
// generated Role. Every assertion is about the state of the world: objects, real impersonated
// requests, SelfSubjectAccessReviews.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { impersonatorName } from '../../src/core/index.js';
import { kubeconfigFor } from '../harness/identities.js';
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
  rbacGet,
  waitForPolicy,
  type RbacObject,
} from '../harness/policies.js';
import { grant, impersonatedStatus, mayImpersonate, patchAs } from './security-support.js';

const s = Date.now().toString(36).slice(-6);
const ns = `tmp-${s}`;
const reader = `tmp-reader-${s}`;
const tamperer = `tamperer-${s}`;
const viewer = `tmp-viewer-${s}`;
const aggregateLabel = `rbac.authorization.k8s.io/aggregate-to-tamper-${s}`;
const aggregator = `tmp-aggregated-${s}`;
// Each case its own identities, so no case can pass or fail on another's leftovers.
const ids = {
  strip: {
    proxy: `tproxy-strip-${s}`,
    user: `tuser-strip-${s}@example.com`,
    role: `Strip ${s}`,
    group: `strip-${s}`,
  },
  offline: {
    proxy: `tproxy-off-${s}`,
    user: `tuser-off-${s}@example.com`,
    role: `Offline ${s}`,
    group: `offline-${s}`,
  },
  hold: {
    proxy: `tproxy-hold-${s}`,
    user: `tuser-hold-${s}@example.com`,
    roleA: `Hold A ${s}`,
    groupA: `hold-a-${s}`,
    roleB: `Hold B ${s}`,
    groupB: `hold-b-${s}`,
  },
  label: { proxy: `tproxy-label-${s}`, user: `tuser-label-${s}@example.com` },
  replace: { proxy: `tproxy-repl-${s}` },
  record: {
    proxy: `tproxy-rec-${s}`,
    user: `tuser-rec-${s}@example.com`,
    role: `Record ${s}`,
    group: `record-${s}`,
  },
  relabel: {
    proxy: `tproxy-rel-${s}`,
    user: `tuser-rel-${s}@example.com`,
    roleA: `Relabel A ${s}`,
    groupA: `relabel-a-${s}`,
    roleB: `Relabel B ${s}`,
    groupB: `relabel-b-${s}`,
  },
};
const names = {
  strip: `tmp-strip-${s}`,
  offline: `tmp-offline-${s}`,
  hold: `tmp-hold-${s}`,
  label: `tmp-label-${s}`,
  replace: `tmp-replace-${s}`,
  relabel: `tmp-relabel-${s}`,
  record: `tmp-record-${s}`,
};
const RESYNC = '--resync-period=0';
const HOLD = 'example.com/hold';

const byRole = (objects: RbacObject[], name: string) => objects.filter((o) => o.roleRef?.name === name);
const groupBinding = async (policyName: string, group: string) =>
  (await generatedObjects(policyName)).find((o) => (o.subjects ?? []).some((x) => x.name === group));

describe('tampering with generated RBAC (integration)', () => {
  let rbac: OperatorRbac;
  let operator: OperatorProcess;
  let tamper: string;
  const cleanups: (() => Promise<void>)[] = [];
  const start = async () => {
    operator = await startOperator({
      kubeconfig: await rbac.kubeconfig(),
      args: ['--no-leader-elect', RESYNC],
    });
    await operator.waitReady();
  };

  beforeAll(async () => {
    await ensureCrd();
    await ensureNamespace(ns);
    const role = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: reader },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
    });
    expect(role.status).toBe(201);
    rbac = await installOperatorRbac({
      impersonate: {
        users: [
          ids.strip.user,
          ids.offline.user,
          ids.hold.user,
          ids.label.user,
          ids.relabel.user,
          ids.record.user,
        ],
        groups: [
          ids.strip.group,
          ids.offline.group,
          ids.hold.groupA,
          ids.hold.groupB,
          ids.relabel.groupA,
          ids.relabel.groupB,
          ids.record.group,
        ],
        serviceAccounts: [{ namespace: ns, name: 'deployer' }],
      },
      bindableClusterRoles: [reader],
    });
    // The attacker: patch and delete on ClusterRoles and ClusterRoleBindings, nothing else.
    cleanups.push(
      await grant(`tmp-tamper-${s}`, { kind: 'User', name: tamperer }, [
        {
          apiGroups: ['rbac.authorization.k8s.io'],
          resources: ['clusterroles', 'clusterrolebindings'],
          verbs: ['get', 'patch', 'delete'],
        },
      ]),
    );
    tamper = await kubeconfigFor(tamperer);
    await start();
  });

  afterAll(async () => {
    for (const n of Object.values(names)) await deletePolicy(n).catch(() => undefined);
    const code = operator ? await operator.stop() : 0;
    await rbac?.uninstall();
    for (const c of cleanups) await c().catch(() => undefined);
    await adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${reader}`);
    await adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${aggregator}`);
    await adminRequest('DELETE', `/api/v1/namespaces/${ns}`);
    expect(code).toBe(0);
  });

  const proxySpec = (
    id: { proxy: string; user: string },
    roles: { name: string; clusterRoles: string[] }[] = [],
  ) => ({
    impersonators: [{ kind: 'User', name: id.proxy }],
    targets: { users: [id.user] },
    roles,
  });

  it('a stripped ownerReference is drift: restored at once, and the grant still goes with its policy', async () => {
    const id = ids.strip;
    await applyPolicy(policy(names.strip, proxySpec(id, [{ name: id.role, clusterRoles: [reader] }])));
    await waitForPolicy(names.strip, isReady, 'Ready=True');
    const proxy = await kubeconfigFor(id.proxy);
    expect(await impersonatedStatus(proxy, id.user, [id.group])).toBe(200);

    const strip = async () => {
      for (const o of (await generatedObjects(names.strip)).filter((x) => x.kind === 'ClusterRoleBinding')) {
        const res = await patchAs(tamper, 'clusterrolebindings', o.metadata.name, {
          metadata: { ownerReferences: null },
        });
        expect([res.status, res.body]).toEqual([200, expect.any(String)]);
      }
    };
    await strip();
    await eventually(
      'the ownerReferences to be restored',
      async () =>
        (await generatedObjects(names.strip))
          .filter((o) => o.kind === 'ClusterRoleBinding')
          .every((o) => (o.metadata.ownerReferences ?? []).length === 1),
      30_000,
    );
    expect(isReady(await waitForPolicy(names.strip, isReady))).toBe(true);

    // Strip again and delete the policy at once: whichever of operator and garbage collector acts, the
    // grant goes (before, a stripped binding stayed in force forever).
    await strip();
    await deletePolicy(names.strip);
    await eventually(
      'every generated object to be removed',
      async () => (await generatedObjects(names.strip)).length === 0,
      60_000,
    );
    expect(await mayImpersonate(proxy, 'users', id.user)).toBe(false);
    expect(await impersonatedStatus(proxy, id.user, [id.group])).toBe(403);
  });

  it('the ownership record (labels, policy-uid annotation) cannot be forged or removed, nor an aggregationRule added, with patch alone', async () => {
    const id = ids.record;
    await applyPolicy(policy(names.record, proxySpec(id, [{ name: id.role, clusterRoles: [reader] }])));
    const p = await waitForPolicy(names.record, isReady, 'Ready=True');
    const before = await generatedObjects(names.record);
    const record = 'impersonation-operator.io/policy-uid';
    // Only ownerReferences and finalizers escape the API server's RBAC escalation check; every other
    // change needs the rights the object grants, which the patch-only user lacks.
    for (const o of before.filter((x) => x.kind === 'ClusterRole' || x.kind === 'ClusterRoleBinding')) {
      const plural = o.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings';
      for (const metadata of [
        { annotations: { [record]: 'someone-else' } },
        { annotations: { [record]: null } },
        { labels: { 'impersonation-operator.io/policy': null } },
      ]) {
        const res = await patchAs(tamper, plural, o.metadata.name, { metadata });
        expect([o.kind, res.status]).toEqual([o.kind, 403]);
      }
      if (o.kind === 'ClusterRole') {
        // An aggregationRule would let the clusterrole-aggregation controller fill our role with the
        // rules of every role carrying the selected label (here: admin's). The escalation check refuses
        // it like any write by someone who lacks the role's rules, and an aggregationRule needs
        // cluster-admin rights (or escalate) on top, so the informer's compact copy need not keep it.
        const res = await patchAs(tamper, plural, o.metadata.name, {
          aggregationRule: {
            clusterRoleSelectors: [
              { matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } },
            ],
          },
        });
        expect([o.kind, res.status]).toEqual([o.kind, 403]);
      }
    }
    const after = await generatedObjects(names.record);
    expect(after.map((o) => [o.metadata.name, o.metadata.resourceVersion]).sort()).toEqual(
      before.map((o) => [o.metadata.name, o.metadata.resourceVersion]).sort(),
    );
    expect(
      after.every(
        (o) =>
          (o.metadata as { annotations?: Record<string, string> }).annotations?.[record] === p.metadata.uid,
      ),
    ).toBe(true);
    await deletePolicy(names.record);
  });

  it('a policy deleted while no operator ran, its ownerReferences stripped: the next operator removes the orphans', async () => {
    const id = ids.offline;
    await applyPolicy(policy(names.offline, proxySpec(id, [{ name: id.role, clusterRoles: [reader] }])));
    await waitForPolicy(names.offline, isReady, 'Ready=True');
    const proxy = await kubeconfigFor(id.proxy);
    expect(await operator.stop()).toBe(0);
    const objects = await generatedObjects(names.offline);
    expect(objects.length).toBe(3);
    for (const o of objects) {
      const plural = o.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings';
      expect(
        (await patchAs(tamper, plural, o.metadata.name, { metadata: { ownerReferences: null } })).status,
      ).toBe(200);
    }
    await deletePolicy(names.offline);
    // Nothing removes them now: the garbage collector has no owner to follow.
    expect(await mayImpersonate(proxy, 'users', id.user)).toBe(true);
    await start();
    await eventually(
      'the orphans to be removed',
      async () => (await generatedObjects(names.offline)).length === 0,
      30_000,
    );
    expect(await mayImpersonate(proxy, 'users', id.user)).toBe(false);
  });

  it('a foreign finalizer on a pruned binding: reported as still in force, Ready only once it is gone', async () => {
    const id = ids.hold;
    const roles = [
      { name: id.roleA, clusterRoles: [reader] },
      { name: id.roleB, clusterRoles: [reader] },
    ];
    await applyPolicy(policy(names.hold, proxySpec(id, roles)));
    await waitForPolicy(names.hold, isReady, 'Ready=True');
    const proxy = await kubeconfigFor(id.proxy);
    const held = (await groupBinding(names.hold, id.groupB))!;
    expect(
      (await patchAs(tamper, 'clusterrolebindings', held.metadata.name, { metadata: { finalizers: [HOLD] } }))
        .status,
    ).toBe(200);

    await applyPolicy(policy(names.hold, proxySpec(id, [roles[0]!])));
    const p = await waitForPolicy(
      names.hold,
      (x) => x.status?.observedGeneration === 2 && condition(x, 'Stalled')?.reason === 'DeletionBlocked',
      'Stalled=DeletionBlocked for generation 2',
    );
    expect(condition(p, 'Ready')?.status).toBe('False');
    expect(condition(p, 'Stalled')?.message).toContain(held.metadata.name);
    expect(condition(p, 'Stalled')?.message).toContain(HOLD);
    expect(p.status?.inventory).toContainEqual({ kind: 'ClusterRoleBinding', name: held.metadata.name });
    // The status says what is true: the binding is still in force for members of the group.
    const member = await kubeconfigFor(`tmember-${s}`, [id.groupB]);
    const list = () => requestAs(member, 'GET', '/api/v1/namespaces/default/configmaps');
    expect((await list()).status).toBe(200);

    expect(
      (await patchAs(tamper, 'clusterrolebindings', held.metadata.name, { metadata: { finalizers: null } }))
        .status,
    ).toBe(200);
    await waitForPolicy(names.hold, isReady, 'Ready=True once the finalizer is gone');
    expect(await rbacGet('clusterrolebindings', held.metadata.name)).toBeUndefined();
    expect((await list()).status).toBe(403);
    expect(await impersonatedStatus(proxy, id.user, [id.groupA])).toBe(200);
  });

  it('an aggregation label added by an impersonator is stripped at once; the aggregated role loses the rules', async () => {
    const id = ids.label;
    const agg = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: aggregator },
      aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [aggregateLabel]: 'true' } }] },
    });
    expect(agg.status).toBe(201);
    const viewerBinding = `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/tmp-viewer-${s}`;
    const bound = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: `tmp-viewer-${s}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: aggregator },
      subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: viewer }],
    });
    expect(bound.status).toBe(201);
    cleanups.push(async () => void (await adminRequest('DELETE', viewerBinding)));
    await applyPolicy(policy(names.label, proxySpec(id)));
    await waitForPolicy(names.label, isReady, 'Ready=True');
    // The impersonator may patch ClusterRoles: it holds the rules of ours, so RBAC lets it relabel ours.
    cleanups.push(
      await grant(`tmp-label-patch-${s}`, { kind: 'User', name: id.proxy }, [
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['get', 'patch'] },
      ]),
    );
    const proxy = await kubeconfigFor(id.proxy);
    const viewerKc = await kubeconfigFor(viewer);
    const ours = impersonatorName(names.label);
    const patched = await eventually('the impersonator to relabel our ClusterRole', async () => {
      const res = await patchAs(proxy, 'clusterroles', ours, {
        metadata: { labels: { [aggregateLabel]: 'true' } },
      });
      return res.status === 200 ? res : undefined;
    });
    expect(patched.status).toBe(200);

    await eventually(
      'the aggregation label to be stripped',
      async () => (await rbacGet('clusterroles', ours))?.metadata.labels?.[aggregateLabel] === undefined,
      30_000,
    );
    await eventually(
      'the aggregated role to lose the impersonation rules',
      async () => ((await rbacGet('clusterroles', aggregator))?.rules ?? []).length === 0,
      30_000,
    );
    expect(await mayImpersonate(viewerKc, 'users', id.user)).toBe(false);
    expect(await impersonatedStatus(viewerKc, id.user)).toBe(403);
    expect(await mayImpersonate(proxy, 'users', id.user)).toBe(true);
  });

  it('a generated Role replaced by a foreign one: nothing of ours stays bound to it, and it is reported', async () => {
    const id = ids.replace;
    await ensureServiceAccount(ns, 'deployer');
    await applyPolicy(
      policy(names.replace, {
        impersonators: [{ kind: 'User', name: id.proxy }],
        targets: { serviceAccounts: [{ namespace: ns, name: 'deployer' }] },
      }),
    );
    await waitForPolicy(names.replace, isReady, 'Ready=True');
    const proxy = await kubeconfigFor(id.proxy);
    const name = impersonatorName(names.replace);
    expect(await mayImpersonate(proxy, 'serviceaccounts', 'deployer', ns)).toBe(true);
    expect(await mayImpersonate(proxy, 'serviceaccounts', 'anyone-else', ns)).toBe(false);

    // Replaced (as admin: creating a Role with impersonate rules takes escalate) by one granting every SA.
    const path = `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`;
    // The operator may recreate its own between our delete and create: try until ours is the foreign one.
    const foreign = await eventually('a foreign Role at the generated name', async () => {
      await adminRequest('DELETE', `${path}/${name}`);
      const res = await adminRequest('POST', path, {
        metadata: { name },
        rules: [{ apiGroups: [''], resources: ['serviceaccounts'], verbs: ['impersonate'] }],
      });
      return res.status === 201 ? res : undefined;
    });

    const p = await waitForPolicy(
      names.replace,
      // Ours once (the last status listed it), now someone else's: reported as gone astray.
      (x) => condition(x, 'Stalled')?.reason === 'Unmanaged',
      'Stalled=Unmanaged',
    );
    expect(condition(p, 'Stalled')?.message).toContain(name);
    await eventually(
      'our RoleBinding to the foreign Role to be removed',
      async () => byRole(await generatedObjects(names.replace), name).every((o) => o.kind !== 'RoleBinding'),
      30_000,
    );
    expect(await rbacGet('rolebindings', name, ns)).toBeUndefined();
    expect(await mayImpersonate(proxy, 'serviceaccounts', 'anyone-else', ns)).toBe(false);
    expect(await mayImpersonate(proxy, 'serviceaccounts', 'deployer', ns)).toBe(false);
    // The foreign Role itself is left alone.
    expect((await rbacGet('roles', name, ns))?.metadata.uid).toBe(
      (foreign.json() as RbacObject).metadata.uid,
    );

    // Once it is gone, the operator provisions its own again.
    expect((await adminRequest('DELETE', `${path}/${name}`)).status).toBe(200);
    await waitForPolicy(names.replace, isReady, 'Ready=True again', 90_000);
    expect(await mayImpersonate(proxy, 'serviceaccounts', 'deployer', ns)).toBe(true);
    expect(await mayImpersonate(proxy, 'serviceaccounts', 'anyone-else', ns)).toBe(false);
  });

  it('a group binding stripped of our labels by someone holding its rights: never Ready while it survives', async () => {
    const id = ids.relabel;
    const roles = [
      { name: id.roleA, clusterRoles: [reader] },
      { name: id.roleB, clusterRoles: [reader] },
    ];
    await applyPolicy(policy(names.relabel, proxySpec(id, roles)));
    await waitForPolicy(names.relabel, isReady, 'Ready=True');
    const target = (await groupBinding(names.relabel, id.groupB))!;
    // Whoever holds the bound role's rules may update the binding (RBAC's escalation check): a reader
    // with patch on ClusterRoleBindings strips our labels and record, and the binding leaves our sight.
    const relabeller = `trelabel-${s}`;
    cleanups.push(
      await grant(`tmp-relabel-${s}`, { kind: 'User', name: relabeller }, [
        { apiGroups: [''], resources: ['configmaps'], verbs: ['list'] },
        {
          apiGroups: ['rbac.authorization.k8s.io'],
          resources: ['clusterrolebindings'],
          verbs: ['get', 'patch'],
        },
      ]),
    );
    const kc = await kubeconfigFor(relabeller);
    const stripped = await eventually('the relabel to be allowed', async () => {
      const res = await patchAs(kc, 'clusterrolebindings', target.metadata.name, {
        metadata: { labels: null, annotations: null },
      });
      return res.status === 200 ? res : undefined;
    });
    expect(stripped.status).toBe(200);

    // The role is removed from the policy: the binding it had is still in force, so no Ready=True.
    await applyPolicy(policy(names.relabel, proxySpec(id, [roles[0]!])));
    const p = await waitForPolicy(
      names.relabel,
      (x) => x.status?.observedGeneration === 2 && condition(x, 'Stalled')?.reason === 'Unmanaged',
      'Stalled=Unmanaged for generation 2',
    );
    expect(condition(p, 'Ready')?.status).toBe('False');
    expect(condition(p, 'Stalled')?.message).toContain(target.metadata.name);
    const member = await kubeconfigFor(`trelmember-${s}`, [id.groupB]);
    expect((await requestAs(member, 'GET', '/api/v1/namespaces/default/configmaps')).status).toBe(200);

    // An administrator deletes it: the policy is Ready again, and nothing is left of role B.
    expect(
      (
        await adminRequest(
          'DELETE',
          `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${target.metadata.name}`,
        )
      ).status,
    ).toBe(200);
    await waitForPolicy(names.relabel, isReady, 'Ready=True once it is gone', 90_000);
    expect((await requestAs(member, 'GET', '/api/v1/namespaces/default/configmaps')).status).toBe(403);
  });
});
