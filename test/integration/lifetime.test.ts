// Lifetime, pause and group mapping (issue 12) against the real API server: access exists only inside
// spec.validFrom .. spec.validUntil (real impersonated requests), the boundary is acted on by a timer
// (also across an operator restart and a leader handover, also for a policy created after its end),
// spec.suspend removes and restores, and spec.groupPrefix is what bindings name, what impersonation
// grants, and what collisions are judged on. Windows are a few seconds long; the tests wait for
// conditions with generous deadlines and report (never assert tightly) how late the operator was.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
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
  policy,
  waitForPolicy,
  type PolicyObject,
} from '../harness/policies.js';
import { impersonatedStatus } from './security-support.js';

const s = Date.now().toString(36).slice(-6);
const proxyUser = `lproxy-${s}`;
const user = `lina-${s}@example.com`;
const reader = `lt-reader-${s}`;
const role = (tag: string) => `Life ${tag} ${s}`;
const group = (tag: string) => `life-${tag}-${s}`;
const lease = `impop-lt-${s}`;
const TAGS = ['until', 'from', 'restart', 'leader', 'late', 'suspend', 'cross'] as const;
const names = Object.fromEntries(TAGS.map((t) => [t, `lt-${t}-${s}`])) as Record<
  (typeof TAGS)[number],
  string
>;
const prefixed = {
  policy: `lt-prefix-${s}`,
  other: `lt-prefix-other-${s}`,
  clash: `lt-prefix-clash-${s}`,
  role: `SRE Prefix ${s}`,
  group: `sdm:sre-prefix-${s}`,
  bare: `sre-prefix-${s}`,
};

/** Whole seconds from now, RFC 3339 (the schema takes whole seconds). */
const at = (secondsAhead: number): string =>
  new Date(Math.ceil((Date.now() + secondsAhead * 1000) / 1000) * 1000)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z');

const spec = (tag: string, extra: Record<string, unknown> = {}) => ({
  impersonators: [{ kind: 'User', name: proxyUser }],
  targets: { users: [user] },
  roles: [{ name: role(tag), clusterRoles: [reader] }],
  ...extra,
});

const lifetimeOf = (p: PolicyObject | undefined) => p?.status?.lifetime;
const readyFor = (state: string) => (p: PolicyObject) =>
  p.status?.observedGeneration === p.metadata.generation &&
  lifetimeOf(p) === state &&
  condition(p, 'Ready')?.status === 'True' &&
  condition(p, 'Stalled')?.status === 'False';

interface EventObject {
  reason: string;
  note: string;
  reportingController: string;
  regarding: { name: string };
}
async function eventReasons(policyName: string): Promise<string[]> {
  const res = await adminRequest('GET', '/apis/events.k8s.io/v1/namespaces/default/events');
  return (res.json() as { items: EventObject[] }).items
    .filter((e) => e.regarding.name === policyName && e.reportingController === 'impersonation-operator')
    .map((e) => e.reason);
}

describe('lifetime, pause and group mapping (integration)', () => {
  let rbac: OperatorRbac;
  let proxy: string;
  const running: OperatorProcess[] = [];
  // No periodic resync: whatever happens at a boundary is the lifetime timer's doing.
  const start = async (args: string[] = ['--no-leader-elect'], env: Record<string, string> = {}) => {
    const op = await startOperator({
      kubeconfig: await rbac.kubeconfig(),
      args: [...args, '--resync-period=0'],
      env,
    });
    running.push(op);
    await op.waitReady();
    return op;
  };
  /** 200 when the proxy, impersonating the user with the role's group, may list configmaps. */
  const access = (groups: string[]) => impersonatedStatus(proxy, user, groups);

  /** Waits until access is refused; returns how many ms after `deadline` that was first seen. */
  async function refusedAfter(deadline: string, groups: string[]): Promise<number> {
    await eventually('access to be refused', async () => (await access(groups)) === 403, 60_000, 50);
    return Date.now() - Date.parse(deadline);
  }

  beforeAll(async () => {
    await ensureCrd();
    const res = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: reader },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
    });
    expect(res.status).toBe(201);
    rbac = await installOperatorRbac({
      impersonate: {
        users: [user],
        groups: [...TAGS.map(group), prefixed.group, prefixed.bare, `oidc:sre-prefix-${s}`],
      },
      bindableClusterRoles: [reader],
    });
    proxy = await kubeconfigFor(proxyUser);
  });

  afterAll(async () => {
    for (const op of running) await op.kill();
    for (const n of [...Object.values(names), prefixed.policy, prefixed.other, prefixed.clash])
      await deletePolicy(n);
    await rbac?.uninstall();
    await adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${reader}`);
  });

  describe('with one operator', () => {
    let op: OperatorProcess;
    beforeAll(async () => {
      op = await start();
    });
    afterAll(async () => {
      expect(await op.stop()).toBe(0);
    });

    it('validUntil a few seconds ahead: grants, then at the deadline access, objects and status go', async () => {
      const until = at(6);
      await applyPolicy(policy(names.until, spec('until', { validUntil: until })));
      const active = await waitForPolicy(names.until, readyFor('Active'), 'Active');
      expect(active.status?.nextLifetimeChange).toBe(until);
      expect(condition(active, 'Active')).toMatchObject({ status: 'True', reason: 'Active' });
      expect(await access([group('until')])).toBe(200);

      const late = await refusedAfter(until, [group('until')]);
      process.stderr.write(`[lifetime] validUntil: access refused ${late} ms after the deadline\n`);
      expect(late).toBeGreaterThanOrEqual(0);
      const expired = await waitForPolicy(names.until, readyFor('Expired'), 'Expired');
      expect(condition(expired, 'Active')).toMatchObject({ status: 'False', reason: 'Expired' });
      expect(condition(expired, 'Reconciling')?.status).toBe('False');
      expect(expired.status?.inventory).toEqual([]);
      expect(expired.status?.nextLifetimeChange).toBeUndefined();
      expect(await generatedObjects(names.until)).toEqual([]);
      await eventually('the Expired event', async () =>
        (await eventReasons(names.until)).includes('Expired'),
      );
    });

    it('validFrom a few seconds ahead: nothing until then, then it works', async () => {
      const from = at(5);
      await applyPolicy(policy(names.from, spec('from', { validFrom: from })));
      const early = await waitForPolicy(names.from, readyFor('NotYetValid'), 'NotYetValid');
      expect(early.status?.nextLifetimeChange).toBe(from);
      expect(await generatedObjects(names.from)).toEqual([]);
      expect(await access([group('from')])).toBe(403);

      await eventually(
        'access to be granted',
        async () => (await access([group('from')])) === 200,
        60_000,
        50,
      );
      const late = Date.now() - Date.parse(from);
      process.stderr.write(`[lifetime] validFrom: access granted ${late} ms after the start\n`);
      expect(late).toBeGreaterThanOrEqual(0);
      await waitForPolicy(names.from, readyFor('Active'), 'Active');
      await eventually('the Activated event', async () =>
        (await eventReasons(names.from)).includes('Activated'),
      );
    });

    it('created after validUntil: grants nothing, ever', async () => {
      await applyPolicy(policy(names.late, spec('late', { validUntil: at(-60) })));
      const p = await waitForPolicy(names.late, readyFor('Expired'), 'Expired');
      expect(p.status?.inventory).toEqual([]);
      expect(await generatedObjects(names.late)).toEqual([]);
      expect(await access([group('late')])).toBe(403);
    });

    it('suspend revokes and restores, keeping the spec', async () => {
      await applyPolicy(policy(names.suspend, spec('suspend')));
      await waitForPolicy(names.suspend, readyFor('Active'), 'Active');
      expect(await access([group('suspend')])).toBe(200);

      await applyPolicy(policy(names.suspend, spec('suspend', { suspend: true })));
      const suspended = await waitForPolicy(names.suspend, readyFor('Suspended'), 'Suspended');
      expect(condition(suspended, 'Ready')?.reason).toBe('Suspended');
      expect(await generatedObjects(names.suspend)).toEqual([]);
      expect(await access([group('suspend')])).toBe(403);
      expect((await getPolicy(names.suspend))?.spec.roles).toEqual(spec('suspend').roles);

      await applyPolicy(policy(names.suspend, spec('suspend', { suspend: false })));
      await waitForPolicy(names.suspend, readyFor('Active'), 'Active again');
      expect(await access([group('suspend')])).toBe(200);
      const reasons = await eventReasons(names.suspend);
      expect(reasons).toEqual(expect.arrayContaining(['Suspended', 'Resumed']));
    });

    it('groupPrefix sdm: is what the binding names and what an impersonated request must carry', async () => {
      await applyPolicy(
        policy(prefixed.policy, {
          impersonators: [{ kind: 'User', name: proxyUser }],
          targets: { users: [user] },
          roles: [{ name: prefixed.role, clusterRoles: [reader] }],
          groupPrefix: 'sdm:',
        }),
      );
      const p = await waitForPolicy(prefixed.policy, readyFor('Active'), 'Active');
      expect(p.status?.roleGroups).toEqual([
        { role: prefixed.role, group: prefixed.group, clusterRoles: [reader] },
      ]);
      const objects = await generatedObjects(prefixed.policy);
      const binding = objects.find((o) => o.kind === 'ClusterRoleBinding' && o.roleRef?.name === reader);
      expect(binding?.subjects).toEqual([
        { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: prefixed.group },
      ]);
      expect(await access([prefixed.group])).toBe(200);
      // The bare group is neither impersonable nor bound.
      expect(await access([prefixed.bare])).toBe(403);
    });

    it('a prefix that spells system: with the role name binds nothing (the final name is judged)', async () => {
      // groupPrefix 's' passes admission (it does not start with system:), and so does the role
      // 'ystem:authenticated'; together they would bind every client. The core judges the final name.
      const name = `lt-prefix-system-${s}`;
      await applyPolicy(
        policy(name, {
          impersonators: [{ kind: 'User', name: proxyUser }],
          roles: [{ name: 'ystem:authenticated', clusterRoles: [reader] }],
          groupPrefix: 's',
        }),
      );
      const p = await waitForPolicy(name, (x) => condition(x, 'Stalled')?.reason === 'Denied', 'Denied');
      expect(p.status?.denied).toEqual([
        expect.objectContaining({
          kind: 'Group',
          name: 'system:authenticated',
          reason: 'SystemBindingSubject',
        }),
      ]);
      expect(await generatedObjects(name)).toEqual([]);
      await deletePolicy(name);
    });

    it('collisions are judged on final names across policies', async () => {
      // Same role, other prefix: a different final group, no collision.
      await applyPolicy(
        policy(prefixed.other, {
          impersonators: [{ kind: 'User', name: proxyUser }],
          roles: [{ name: prefixed.role, clusterRoles: [reader] }],
          groupPrefix: 'oidc:',
        }),
      );
      await waitForPolicy(prefixed.other, readyFor('Active'), 'Active, no collision');
      expect(condition(await getPolicy(prefixed.policy), 'Stalled')?.status).toBe('False');

      // A role that spells the same final name without a prefix collides with the prefixed one.
      await applyPolicy(
        policy(prefixed.clash, {
          impersonators: [{ kind: 'User', name: proxyUser }],
          roles: [{ name: prefixed.group, clusterRoles: [reader] }],
          groupNameNormalization: 'Verbatim',
        }),
      );
      const clash = await waitForPolicy(
        prefixed.clash,
        (x) => condition(x, 'Stalled')?.reason === 'Collision',
        'Collision',
      );
      expect(clash.status?.collisions).toEqual([
        {
          group: prefixed.group,
          scope: 'AcrossPolicies',
          roles: [prefixed.group],
          otherPolicies: [{ policy: prefixed.policy, role: prefixed.role }],
        },
      ]);
      await waitForPolicy(
        prefixed.policy,
        (x) => condition(x, 'Stalled')?.reason === 'Collision',
        'Collision',
      );
      await eventually(
        'the prefixed group to be held back',
        async () => (await access([prefixed.group])) === 403,
      );
      // The oidc: policy is untouched by it.
      expect(condition(await getPolicy(prefixed.other), 'Stalled')?.status).toBe('False');

      await deletePolicy(prefixed.clash);
      await waitForPolicy(prefixed.policy, readyFor('Active'), 'released');
      await eventually('the prefixed group back', async () => (await access([prefixed.group])) === 200);
    });
  });

  it('the deadline holds across an operator restart inside the window', async () => {
    const first = await start();
    const until = at(8);
    await applyPolicy(policy(names.restart, spec('restart', { validUntil: until })));
    await waitForPolicy(names.restart, readyFor('Active'), 'Active');
    expect(await access([group('restart')])).toBe(200);
    await first.kill();
    expect(Date.now()).toBeLessThan(Date.parse(until));
    const second = await start();
    const late = await refusedAfter(until, [group('restart')]);
    process.stderr.write(`[lifetime] after a restart: access refused ${late} ms after the deadline\n`);
    expect(late).toBeGreaterThanOrEqual(0);
    await waitForPolicy(names.restart, readyFor('Expired'), 'Expired');
    expect(await generatedObjects(names.restart)).toEqual([]);
    expect(await second.stop()).toBe(0);
  });

  it('the deadline holds across a leader handover', async () => {
    const args = [
      '--leader-elect',
      `--leader-election-lease-name=${lease}`,
      `--leader-election-namespace=${rbac.namespace}`,
    ];
    const holder = async () => {
      const res = await adminRequest(
        'GET',
        `/apis/coordination.k8s.io/v1/namespaces/${rbac.namespace}/leases/${lease}`,
      );
      return res.status === 200
        ? (res.json() as { spec: { holderIdentity?: string } }).spec.holderIdentity
        : undefined;
    };
    const a = await start(args, { POD_NAME: `lt-a-${s}` });
    await eventually('replica A to lead', async () => (await holder()) === `lt-a-${s}`);
    const b = await start(args, { POD_NAME: `lt-b-${s}` });
    const until = at(10);
    await applyPolicy(policy(names.leader, spec('leader', { validUntil: until })));
    await waitForPolicy(names.leader, readyFor('Active'), 'Active');
    expect(await access([group('leader')])).toBe(200);
    expect(await a.stop()).toBe(0);
    await eventually('replica B to lead', async () => (await holder()) === `lt-b-${s}`, 20_000, 100);
    expect(Date.now()).toBeLessThan(Date.parse(until));
    const late = await refusedAfter(until, [group('leader')]);
    process.stderr.write(
      `[lifetime] after a leader handover: access refused ${late} ms after the deadline\n`,
    );
    expect(late).toBeGreaterThanOrEqual(0);
    await waitForPolicy(names.leader, readyFor('Expired'), 'Expired');
    expect(await generatedObjects(names.leader)).toEqual([]);
    expect(await b.stop()).toBe(0);
  });
});
