// The operator under failure: killed mid-reconcile, the API server restarted under it, and two
// replicas with leader election where only the leader writes and the other takes over.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readAuditEvents } from '../harness/audit.js';
import { restartApiserver } from '../harness/cluster-info.js';
import { kubeconfigFor } from '../harness/identities.js';
import { requestAs } from '../harness/http.js';
import { startOperator, type OperatorProcess } from '../harness/operator.js';
import { installOperatorRbac, type OperatorRbac } from '../harness/operator-rbac.js';
import {
  adminRequest,
  applyPolicy,
  deletePolicy,
  ensureCrd,
  eventually,
  generatedObjects,
  getPolicy,
  isReady,
  policy,
  waitForPolicy,
} from '../harness/policies.js';

const s = Date.now().toString(36).slice(-6);
const proxyUser = `fproxy-${s}`;
const user = `frank-${s}@example.com`;
const target = `flt-reader-${s}`;
const ROLES = 30;
const KILL_POLICIES = 10;
const roleName = (i: number) => `Fault Role ${i} ${s}`;
const groupName = (i: number) => `fault-role-${i}-${s}`;
const names = { restart: `flt-restart-${s}`, leader: `flt-leader-${s}` };
const killNames = Array.from({ length: KILL_POLICIES }, (_, i) => `flt-kill-${i}-${s}`);
const lease = `impop-flt-${s}`;

const spec = (roles: number) => ({
  impersonators: [{ kind: 'User', name: proxyUser }],
  targets: { users: [user] },
  roles: Array.from({ length: roles }, (_, i) => ({ name: roleName(i), clusterRoles: [target] })),
});

/** Desired objects for `roles` roles: impersonator ClusterRole + its binding + one binding per role. */
const expectedCount = (roles: number) => 2 + roles;

describe('operator under faults (integration)', () => {
  let rbac: OperatorRbac;
  const running: OperatorProcess[] = [];
  const start = async (args: string[], env: Record<string, string> = {}) => {
    const op = await startOperator({ kubeconfig: await rbac.kubeconfig(), args, env });
    running.push(op);
    return op;
  };

  beforeAll(async () => {
    await ensureCrd();
    const res = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: target },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
    });
    expect(res.status).toBe(201);
    rbac = await installOperatorRbac({
      impersonate: { users: [user], groups: Array.from({ length: ROLES + 1 }, (_, i) => groupName(i)) },
      bindableClusterRoles: [target],
    });
  });

  afterAll(async () => {
    for (const op of running) await op.kill();
    for (const n of [...Object.values(names), ...killNames]) await deletePolicy(n);
    await rbac?.uninstall();
    await adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${target}`);
  });

  it('killed mid-reconcile and restarted: converges to exactly the desired objects', async () => {
    const first = await start(['--no-leader-elect', '--workers=2']);
    await first.waitReady();
    // Several policies share the same roles (same external role names: no collision), so the
    // operator has a few hundred objects to write when it is killed.
    for (const n of killNames) await applyPolicy(policy(n, spec(ROLES)));
    const total = KILL_POLICIES * expectedCount(ROLES);
    const written = async () => {
      let n = 0;
      for (const name of killNames) n += (await generatedObjects(name)).length;
      return n;
    };
    // Kill it once it has started writing (SIGKILL: no chance to finish or clean up).
    await eventually(
      'the first generated object',
      async () => (await generatedObjects(killNames[0]!)).length > 0,
      30_000,
      5,
    );
    await first.kill();
    process.stderr.write(`[faults] killed with ${await written()} of ${total} objects written\n`);

    const second = await start(['--no-leader-elect', '--workers=2']);
    await second.waitReady();
    for (const name of killNames) {
      const p = await waitForPolicy(name, isReady, 'Ready=True after restart');
      const objects = await generatedObjects(name);
      expect(objects).toHaveLength(expectedCount(ROLES));
      const keys = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      expect(new Set(keys).size).toBe(keys.length);
      expect(objects.every((o) => o.metadata.ownerReferences?.[0]?.uid === p.metadata.uid)).toBe(true);
      expect(p.status?.inventory).toHaveLength(expectedCount(ROLES));
    }
    expect(await written()).toBe(total);
    expect(await second.stop()).toBe(0);
  });

  it('API server restarted under a running operator: it reconnects and keeps reconciling', async () => {
    const op = await start(['--no-leader-elect', '--resync-period=5s']);
    await op.waitReady();
    await applyPolicy(policy(names.restart, spec(2)));
    await waitForPolicy(names.restart, isReady, 'Ready=True');

    await restartApiserver(2000);
    expect(op.child.exitCode).toBeNull();

    // A change made after the restart is reconciled (the watches were re-established) ...
    await applyPolicy(policy(names.restart, spec(3)));
    const p = await waitForPolicy(
      names.restart,
      (x) => isReady(x) && x.metadata.generation === 2,
      'generation 2 Ready',
    );
    expect(p.status?.roleGroups?.map((r) => r.group).sort()).toEqual(
      [groupName(0), groupName(1), groupName(2)].sort(),
    );
    // ... and so is drift.
    const victim = (await generatedObjects(names.restart)).find((o) => o.kind === 'ClusterRoleBinding')!;
    await adminRequest(
      'DELETE',
      `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${victim.metadata.name}`,
    );
    await eventually('the deleted binding to come back', async () => {
      const now = (await generatedObjects(names.restart)).find(
        (o) => o.metadata.name === victim.metadata.name,
      );
      return now && now.metadata.uid !== victim.metadata.uid;
    });
    expect((await fetch(`http://127.0.0.1:${op.probePort}/healthz`)).status).toBe(200);
    expect(await op.stop()).toBe(0);
  });

  it('leader election: only the leader writes; when it stops, the other takes over and converges', async () => {
    const args = [
      '--leader-elect',
      `--leader-election-lease-name=${lease}`,
      `--leader-election-namespace=${rbac.namespace}`,
      '--resync-period=2s',
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
    const a = await start(args, { POD_NAME: `replica-a-${s}` });
    await a.waitReady();
    await eventually('replica A to hold the lease', async () => (await holder()) === `replica-a-${s}`);
    const b = await start(args, { POD_NAME: `replica-b-${s}` });
    await b.waitReady();

    const from = new Date().toISOString();
    await applyPolicy(policy(names.leader, spec(2)));
    await waitForPolicy(names.leader, isReady, 'Ready=True');
    const writesBy = async (replica: string, since: string) =>
      (await readAuditEvents()).filter(
        (e) =>
          e.user.username === rbac.username &&
          (e.userAgent ?? '').includes(replica) &&
          e.stageTimestamp >= since &&
          ['create', 'update', 'patch', 'delete'].includes(e.verb) &&
          e.objectRef?.resource !== 'leases',
      );
    expect((await writesBy(`replica-a-${s}`, from)).length).toBeGreaterThan(0);
    expect(await writesBy(`replica-b-${s}`, from)).toEqual([]);
    expect(await holder()).toBe(`replica-a-${s}`);

    // SIGTERM: A finishes, releases the lease and exits 0; B takes over without waiting for expiry.
    const stoppedAt = Date.now();
    expect(await a.stop()).toBe(0);
    await eventually(
      'replica B to hold the lease',
      async () => (await holder()) === `replica-b-${s}`,
      20_000,
      100,
    );
    process.stderr.write(`[faults] takeover after ${Date.now() - stoppedAt}ms\n`);

    const since = new Date().toISOString();
    await applyPolicy(policy(names.leader, spec(3)));
    const p = await waitForPolicy(
      names.leader,
      (x) => isReady(x) && x.metadata.generation === 2,
      'generation 2 Ready',
    );
    expect(p.status?.roleGroups).toHaveLength(3);
    expect((await writesBy(`replica-b-${s}`, since)).length).toBeGreaterThan(0);
    // The new binding really works.
    const proxy = await kubeconfigFor(proxyUser);
    const res = await requestAs(proxy, 'GET', '/api/v1/namespaces/default/configmaps', {
      impersonate: { user, groups: [groupName(2)] },
    });
    expect(res.status).toBe(200);
    expect(await b.stop()).toBe(0);
    expect(isReady(await getPolicy(names.leader))).toBe(true);
  });
});
