// Revocation against the real API server: narrowing before widening when a write fails part-way,
// permanent refusals reported as Stalled and healed by a later grant, Ready that never runs ahead of
// a removal (own writes the watch has not delivered yet), and grants created from a cache that had
// not seen the policy's deletion. The last two need a lagging watch: the operator's test-only
// --test-only-*-watch-delay flags delay delivery of watch events to its caches (never used in
// production), so the race is reproduced rather than hoped for.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { groupBindingName, impersonatorName } from '../../src/core/index.js';
import { IMPERSONATION_POLICIES } from '../../src/controller/resources.js';
import { KubeClient } from '../../src/kube/client.js';
import { KubeApiError } from '../../src/kube/errors.js';
import { waitForAuditEvent } from '../harness/audit.js';
import { clusterInfo } from '../harness/cluster-info.js';
import { kubeconfigFor } from '../harness/identities.js';
import { startOperator, type OperatorProcess } from '../harness/operator.js';
import { installOperatorRbac, type OperatorRbac } from '../harness/operator-rbac.js';
import {
  adminRequest,
  applyPolicy,
  condition,
  deletePolicy,
  ensureCrd,
  eventually,
  generatedObjects,
  getPolicy,
  isReady,
  policy,
  rbacGet,
  waitForPolicy,
  type PolicyObject,
} from '../harness/policies.js';
import { grant, impersonatedStatus, impersonationStatus, mayImpersonate } from './security-support.js';

const s = Date.now().toString(36).slice(-6);
const reader = `rev-reader-${s}`;
const unbindable = `rev-secret-reader-${s}`;
const REFUSAL_RECHECK = '--refusal-recheck-period=2s';
const ids = {
  narrow: {
    old: `rproxy-old-${s}`,
    new: `rproxy-new-${s}`,
    u1: `ruser-1-${s}@example.com`,
    u2: `ruser-2-${s}@example.com`,
  },
  refused: {
    proxy: `rproxy-ref-${s}`,
    user: `ruser-ref-${s}@example.com`,
    role: `Refused ${s}`,
    group: `refused-${s}`,
  },
  lag: {
    proxy: `rproxy-lag-${s}`,
    user: `ruser-lag-${s}@example.com`,
    roleA: `Lag A ${s}`,
    groupA: `lag-a-${s}`,
    roleB: `Lag B ${s}`,
    groupB: `lag-b-${s}`,
  },
  gone: {
    proxy: `rproxy-gone-${s}`,
    user: `ruser-gone-${s}@example.com`,
    role: `Gone ${s}`,
    group: `gone-${s}`,
  },
  latency: { proxy: `rproxy-lat-${s}`, user: `ruser-lat-${s}@example.com` },
};
const names = {
  narrow: `rev-narrow-${s}`,
  refused: `rev-refused-${s}`,
  lag: `rev-lag-${s}`,
  gone: `rev-gone-${s}`,
  latency: `rev-latency-${s}`,
};
const vap = `rev-deny-${s}`;

const observed = (generation: number) => (p: PolicyObject) =>
  p.status?.observedGeneration === generation && p.metadata.generation === generation;

describe('revocation (integration)', () => {
  let rbac: OperatorRbac;
  const running: OperatorProcess[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const start = async (args: string[] = []) => {
    const op = await startOperator({
      kubeconfig: await rbac.kubeconfig(),
      args: ['--no-leader-elect', '--resync-period=0', REFUSAL_RECHECK, ...args],
    });
    running.push(op);
    await op.waitReady();
    return op;
  };
  const stop = async (op: OperatorProcess) => {
    expect(await op.stop()).toBe(0);
    running.splice(running.indexOf(op), 1);
  };

  beforeAll(async () => {
    await ensureCrd();
    for (const [name, resource] of [
      [reader, 'configmaps'],
      [unbindable, 'secrets'],
    ] as const) {
      const res = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
        metadata: { name },
        rules: [{ apiGroups: [''], resources: [resource], verbs: ['list'] }],
      });
      expect(res.status).toBe(201);
    }
    rbac = await installOperatorRbac({
      impersonate: {
        users: [
          ids.narrow.u1,
          ids.narrow.u2,
          ids.refused.user,
          ids.lag.user,
          ids.gone.user,
          ids.latency.user,
        ],
        groups: [ids.refused.group, ids.lag.groupA, ids.lag.groupB, ids.gone.group],
      },
      bindableClusterRoles: [reader],
    });
  });

  afterAll(async () => {
    for (const n of Object.values(names)) await deletePolicy(n).catch(() => undefined);
    for (const op of [...running]) await op.stop();
    await adminRequest(
      'DELETE',
      `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${vap}`,
    );
    await adminRequest('DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${vap}`);
    for (const c of cleanups) await c().catch(() => undefined);
    await rbac?.uninstall();
    for (const n of [reader, unbindable])
      await adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${n}`);
  });

  it('a refused binding update leaves no wider grant than either spec, is Stalled=Refused, and heals', async () => {
    const op = await start();
    const id = ids.narrow;
    const spec = (proxy: string, user: string) => ({
      impersonators: [{ kind: 'User', name: proxy }],
      targets: { users: [user] },
    });
    await applyPolicy(policy(names.narrow, spec(id.old, id.u1)));
    await waitForPolicy(names.narrow, isReady, 'Ready=True');
    const oldProxy = await kubeconfigFor(id.old);
    const newProxy = await kubeconfigFor(id.new);
    expect(await mayImpersonate(oldProxy, 'users', id.u1)).toBe(true);

    // An admission policy refuses every update of the impersonator binding.
    const binding = impersonatorName(names.narrow);
    const created = await adminRequest(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies',
      {
        metadata: { name: vap },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: {
            resourceRules: [
              {
                apiGroups: ['rbac.authorization.k8s.io'],
                apiVersions: ['*'],
                operations: ['UPDATE'],
                resources: ['clusterrolebindings'],
              },
            ],
          },
          validations: [
            { expression: `object.metadata.name != '${binding}'`, message: 'frozen by the test' },
          ],
        },
      },
    );
    expect(created.status).toBe(201);
    const bound = await adminRequest(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings',
      {
        metadata: { name: vap },
        spec: { policyName: vap, validationActions: ['Deny'] },
      },
    );
    expect(bound.status).toBe(201);
    await eventually('the admission policy to take effect', async () => {
      const res = await adminRequest(
        'PATCH',
        `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${binding}?dryRun=All`,
        { metadata: { labels: { probe: 'x' } } },
        'application/merge-patch+json',
      );
      return res.status >= 400;
    });

    // New impersonator and new target at once: the binding must lose the old one before the role
    // gains the new target; that binding write is refused.
    await applyPolicy(policy(names.narrow, spec(id.new, id.u2)));
    const p = await waitForPolicy(
      names.narrow,
      (x) => observed(2)(x) && condition(x, 'Stalled')?.status === 'True',
      'Stalled for generation 2',
    );
    expect(condition(p, 'Stalled')?.reason).toBe('Refused');
    expect(condition(p, 'Stalled')?.message).toContain('admission');
    expect(condition(p, 'Reconciling')?.status).toBe('False');
    expect(condition(p, 'Ready')?.status).toBe('False');
    // Never wider than old or new: the old impersonator never gets the new target.
    expect(await mayImpersonate(oldProxy, 'users', id.u2)).toBe(false);
    expect(await mayImpersonate(newProxy, 'users', id.u2)).toBe(false);

    // Lift the refusal: the periodic re-check heals the policy without an edit.
    await adminRequest(
      'DELETE',
      `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${vap}`,
    );
    await adminRequest('DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${vap}`);
    await waitForPolicy(names.narrow, isReady, 'Ready=True after the refusal is lifted', 60_000);
    expect(await mayImpersonate(newProxy, 'users', id.u2)).toBe(true);
    expect(await mayImpersonate(oldProxy, 'users', id.u1)).toBe(false);
    expect(await mayImpersonate(oldProxy, 'users', id.u2)).toBe(false);
    await deletePolicy(names.narrow);
    await stop(op);
  });

  it('a missing bind grant is Stalled=Refused naming the ClusterRole and the chart value; granting it heals', async () => {
    const op = await start();
    const id = ids.refused;
    await applyPolicy(
      policy(names.refused, {
        impersonators: [{ kind: 'User', name: id.proxy }],
        targets: { users: [id.user] },
        roles: [{ name: id.role, clusterRoles: [unbindable] }],
      }),
    );
    const p = await waitForPolicy(
      names.refused,
      (x) => observed(1)(x) && condition(x, 'Stalled')?.reason === 'Refused',
      'Stalled=Refused',
    );
    const message = condition(p, 'Stalled')?.message ?? '';
    expect(message).toContain(`bind on ClusterRole ${unbindable}`);
    expect(message).toContain('grants.bindableClusterRoles');
    expect(condition(p, 'Reconciling')?.status).toBe('False');
    expect(
      await rbacGet('clusterrolebindings', groupBindingName(names.refused, id.group, unbindable)),
    ).toBeUndefined();

    cleanups.push(
      await grant(
        `rev-bind-${s}`,
        { kind: 'ServiceAccount', name: rbac.serviceAccount, namespace: rbac.namespace },
        [
          {
            apiGroups: ['rbac.authorization.k8s.io'],
            resources: ['clusterroles'],
            verbs: ['bind'],
            resourceNames: [unbindable],
          },
        ],
      ),
    );
    await waitForPolicy(names.refused, isReady, 'Ready=True once the grant exists', 60_000);
    const proxy = await kubeconfigFor(id.proxy);
    const res = await adminRequest('GET', '/api/v1/namespaces/default/secrets');
    expect(res.status).toBe(200);
    expect(await impersonatedStatus(proxy, id.user, [id.group])).toBe(403); // configmaps: not granted
    await deletePolicy(names.refused);
    await stop(op);
  });

  it('Ready=True for a generation means what it removed is gone, also while the watch lags', async () => {
    const op = await start(['--test-only-rbac-watch-delay=10s']);
    const id = ids.lag;
    const spec = (roles: string[]) => ({
      impersonators: [{ kind: 'User', name: id.proxy }],
      targets: { users: [id.user] },
      roles: roles.map((name) => ({ name, clusterRoles: [reader] })),
    });
    await applyPolicy(policy(names.lag, spec([id.roleA, id.roleB])));
    await waitForPolicy(names.lag, (x) => observed(1)(x) && isReady(x), 'Ready=True', 30_000);
    const b = groupBindingName(names.lag, id.groupB, reader);
    expect(await rbacGet('clusterrolebindings', b)).toBeDefined();
    // At once, while the operator's cache has not seen its own creates yet.
    await applyPolicy(policy(names.lag, spec([id.roleA])));
    await waitForPolicy(names.lag, (x) => observed(2)(x) && isReady(x), 'Ready=True for generation 2');
    expect(await rbacGet('clusterrolebindings', b)).toBeUndefined();
    const proxy = await kubeconfigFor(id.proxy);
    expect(await impersonatedStatus(proxy, id.user, [id.groupB])).toBe(403);
    expect(await impersonatedStatus(proxy, id.user, [id.groupA])).toBe(200);
    await deletePolicy(names.lag);
    await stop(op);
  });

  it('grants created from a cache that missed the deletion are removed at once by the operator', async () => {
    const op = await start(['--test-only-policy-watch-delay=3s']);
    const id = ids.gone;
    await applyPolicy(
      policy(names.gone, {
        impersonators: [{ kind: 'User', name: id.proxy }],
        targets: { users: [id.user] },
        roles: [{ name: id.role, clusterRoles: [reader] }],
      }),
    );
    // Deleted inside the window in which the operator's cache still shows it (the scenario, not a wait).
    await new Promise((r) => setTimeout(r, 1500));
    await deletePolicy(names.gone);
    const name = impersonatorName(names.gone);
    const mine =
      (verb: string) =>
      (e: { verb: string; user: { username: string }; objectRef?: { name?: string; resource?: string } }) =>
        e.verb === verb &&
        e.user.username === rbac.username &&
        e.objectRef?.resource === 'clusterrolebindings' &&
        (verb === 'create' ? true : e.objectRef?.name === name);
    const created = await waitForAuditEvent(
      (e) =>
        mine('create')(e) &&
        (e as { requestURI: string }).requestURI.includes('clusterrolebindings') &&
        e.responseStatus?.code === 201 &&
        JSON.stringify(e).includes(names.gone),
      20_000,
    ).catch(() => undefined);
    // The race happened: the operator created grants for a policy that was already gone ...
    expect(created).toBeDefined();
    // ... and the operator itself removed them, not only the garbage collector.
    const removed = await waitForAuditEvent(mine('delete'), 20_000);
    expect(removed.user.username).toBe(rbac.username);
    await eventually('no grants left', async () => (await generatedObjects(names.gone)).length === 0, 30_000);
    expect(await mayImpersonate(await kubeconfigFor(id.proxy), 'users', id.user)).toBe(false);
    await stop(op);
  });

  it('the status write is guarded by the uid: never onto a policy recreated under the same name', async () => {
    const name = `rev-guard-${s}`;
    const first = await applyPolicy(policy(name, { impersonators: [{ kind: 'User', name: `rguard-${s}` }] }));
    await deletePolicy(name);
    await eventually('the policy to be gone', async () => (await getPolicy(name)) === undefined);
    const second = await applyPolicy(
      policy(name, { impersonators: [{ kind: 'User', name: `rguard-${s}` }] }),
    );
    const client = await KubeClient.connect({ kubeconfig: clusterInfo().adminKubeconfig });
    try {
      const stale = await client
        .replaceStatusIfUid(IMPERSONATION_POLICIES, name, first.metadata.uid!, { observedGeneration: 1 })
        .catch((err: unknown) => err);
      expect(stale).toBeInstanceOf(KubeApiError);
      expect((stale as KubeApiError).code).toBe(422);
      // (the CRD's schema defaults observedGeneration to 0)
      expect((await getPolicy(name))?.status?.observedGeneration ?? 0).toBe(0);
      const ok = await client.replaceStatusIfUid<PolicyObject>(
        IMPERSONATION_POLICIES,
        name,
        second.metadata.uid!,
        {
          observedGeneration: 1,
        },
      );
      expect(ok.status?.observedGeneration).toBe(1);
    } finally {
      client.close();
      await deletePolicy(name);
    }
  });

  it('revocation latency: policy edit -> the impersonated request is refused', async () => {
    const op = await start();
    const id = ids.latency;
    const spec = (users: string[]) => ({
      impersonators: [{ kind: 'User', name: id.proxy }],
      targets: { users },
    });
    const proxy = await kubeconfigFor(id.proxy);
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      await applyPolicy(policy(names.latency, spec([id.user])));
      await eventually(
        'the grant',
        async () => [200, 201].includes(await impersonationStatus(proxy, id.user)),
        30_000,
        50,
      );
      const t0 = performance.now();
      await applyPolicy(policy(names.latency, spec([`nobody-${s}@example.com`])));
      await eventually(
        'the refusal',
        async () => (await impersonationStatus(proxy, id.user)) === 403,
        30_000,
        20,
      );
      samples.push(Math.round(performance.now() - t0));
    }
    samples.sort((a, b) => a - b);
    console.log(`revocation latency (ms, 5 samples, sorted): ${samples.join(', ')}`);
    expect(samples.length).toBe(5);
    await deletePolicy(names.latency);
    await stop(op);
  });
});
