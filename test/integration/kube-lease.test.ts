// Leader election on a real Lease: the API server's optimistic concurrency decides who wins.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeClient } from '../../src/kube/client.js';
import { LeaderElector, type Lease } from '../../src/kube/lease.js';
import { LEASES } from '../../src/kube/resources.js';
import { readFile, writeFile } from 'node:fs/promises';
import { adminKubeConfig } from '../harness/identities.js';
import { clusterInfo } from '../harness/cluster-info.js';
import { startOperator } from '../harness/operator.js';
import { installOperatorRbac, type OperatorRbac } from '../harness/operator-rbac.js';
import { adminClient, eventually, kubeConfigVia, suffix, TcpProxy } from './kube-support.js';

const id = suffix();
const NAMESPACE = 'default';
const FAST = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 400 };
/** Long enough that an acquire can be stalled for most of a renew deadline and still complete. */
const SLOW = { leaseDurationMs: 8000, renewDeadlineMs: 5000, retryPeriodMs: 2000 };

/** Records leadership transitions and checks that two candidates never lead at the same time. */
class Timeline {
  readonly events: string[] = [];
  private readonly leading = new Set<string>();
  overlap = false;
  callbacks(identity: string) {
    return {
      onStartedLeading: () => {
        if (this.leading.size > 0) this.overlap = true;
        this.leading.add(identity);
        this.events.push(`${identity} started`);
      },
      onStoppedLeading: () => {
        this.leading.delete(identity);
        this.events.push(`${identity} stopped`);
      },
    };
  }
  get leaders(): string[] {
    return [...this.leading];
  }
}

describe('LeaderElector against the API server', () => {
  let admin: KubeClient;
  const leases: string[] = [];
  /** Stopped after each test even when it fails, so no renew loop outlives its test. */
  const electors: LeaderElector[] = [];

  /** A leader candidate reaching the API server through a TcpProxy, and a directly connected standby;
   * `times` records when the first stepped down and when the standby took over. */
  async function proxiedLeaderAndStandby(name: string, identity: string, requestTimeoutMs: number) {
    const t = new Timeline();
    const proxy = await TcpProxy.start(clusterInfo().server);
    const client = await KubeClient.fromKubeConfig(kubeConfigVia(adminKubeConfig(), proxy.url), {
      requestTimeoutMs,
    });
    const times: { stepDown?: number; takeOver?: number; cut?: number } = {};
    const elector = (
      id: string,
      c: KubeClient,
      extra: Partial<ConstructorParameters<typeof LeaderElector>[0]>,
    ) =>
      new LeaderElector({
        client: c,
        name,
        namespace: NAMESPACE,
        identity: id,
        ...FAST,
        ...t.callbacks(id),
        ...extra,
      });
    const leader = elector(identity, client, {
      onStoppedLeading: () => {
        times.stepDown = Date.now();
        t.callbacks(identity).onStoppedLeading();
      },
    });
    const standby = elector('standby', admin, {
      onStartedLeading: () => {
        times.takeOver = Date.now();
        t.callbacks('standby').onStartedLeading();
      },
    });
    electors.push(standby, leader);
    return { t, proxy, times, leader, standby, client };
  }

  beforeAll(async () => {
    admin = await adminClient();
  });
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
  });
  afterAll(async () => {
    for (const name of leases) await admin.remove(LEASES, name, { namespace: NAMESPACE });
    admin.close();
  });

  it('two candidates: exactly one leads; stopping it releases the lease and the other takes over quickly', async () => {
    const name = `kube-lease-${id}-a`;
    leases.push(name);
    const t = new Timeline();
    const make = (identity: string) =>
      new LeaderElector({
        client: admin,
        name,
        namespace: NAMESPACE,
        identity,
        ...FAST,
        ...t.callbacks(identity),
      });
    const one = make('one');
    const two = make('two');
    electors.push(one, two);
    one.start();
    await eventually(() => one.isLeader(), 10_000, 'the first candidate to lead');
    two.start();
    // Several renew periods: the leader keeps the lease, the other stays a candidate.
    await new Promise((r) => setTimeout(r, 2500));
    expect(t.leaders).toEqual(['one']);
    expect(two.isLeader()).toBe(false);
    expect(two.leader).toBe('one');

    const lease = await admin.get<Lease>(LEASES, name, { namespace: NAMESPACE });
    expect(lease.spec).toMatchObject({ holderIdentity: 'one', leaseDurationSeconds: 3 });

    const stoppedAt = Date.now();
    await one.stop();
    const released = await admin.get<Lease>(LEASES, name, { namespace: NAMESPACE });
    expect(released.spec?.holderIdentity ?? '').toBe('');
    expect(released.spec?.leaseDurationSeconds).toBe(1);
    await eventually(() => two.isLeader(), 5000, 'the second candidate to take over');
    // Released, so the standby does not wait out the 3s lease: it takes over at its next retry.
    expect(Date.now() - stoppedAt).toBeLessThan(FAST.leaseDurationMs);
    const taken = await admin.get<Lease>(LEASES, name, { namespace: NAMESPACE });
    expect(taken.spec).toMatchObject({ holderIdentity: 'two', leaseTransitions: 1 });
    await two.stop();
    expect(t.overlap).toBe(false);
    expect(t.events).toEqual(['one started', 'one stopped', 'two started', 'two stopped']);
  });

  it('a leader cut off from the API server steps down after renewDeadline, before the standby takes over', async () => {
    const name = `kube-lease-${id}-b`;
    leases.push(name);
    const {
      t,
      proxy,
      times,
      leader,
      standby,
      client: isolated,
    } = await proxiedLeaderAndStandby(name, 'isolated', 1000);
    try {
      leader.start();
      await eventually(() => leader.isLeader(), 10_000, 'the isolated candidate to lead');
      standby.start();
      await new Promise((r) => setTimeout(r, 1000));
      await proxy.pause();
      times.cut = Date.now();
      await eventually(() => standby.isLeader(), 15_000, 'the standby to take over');
      expect(times.stepDown).toBeDefined();
      expect(times.stepDown!).toBeLessThan(times.takeOver!);
      expect(t.overlap).toBe(false);
    } finally {
      await standby.stop();
      await leader.stop();
      isolated.close();
      await proxy.close();
    }
  });

  it('a candidate whose acquire was stalled for most of the renew deadline keeps leading through its renewals', async () => {
    const name = `kube-lease-${id}-c`;
    leases.push(name);
    const t = new Timeline();
    const proxy = await TcpProxy.start(clusterInfo().server);
    const slow = await KubeClient.fromKubeConfig(kubeConfigVia(adminKubeConfig(), proxy.url), {
      requestTimeoutMs: 30_000,
    });
    const candidate = new LeaderElector({
      client: slow,
      name,
      namespace: NAMESPACE,
      identity: 'stalled',
      ...SLOW,
      ...t.callbacks('stalled'),
    });
    electors.push(candidate);
    try {
      // The API server is healthy but nothing reaches it for 4 s while the first acquire is in flight
      // (as after a SIGSTOP of the API server); then every held byte is delivered.
      proxy.stall();
      candidate.start();
      await new Promise((r) => setTimeout(r, SLOW.renewDeadlineMs - 1000));
      proxy.release();
      await eventually(() => candidate.isLeader(), 15_000, 'the stalled candidate to acquire');
      const acquired = await admin.get<Lease>(LEASES, name, { namespace: NAMESPACE });
      expect(acquired.spec?.holderIdentity).toBe('stalled');
      // Three renewals later it still holds the lease and has not stepped down.
      const renewTimes = new Set([acquired.spec?.renewTime]);
      await eventually(
        async () => {
          const lease = await admin.get<Lease>(LEASES, name, { namespace: NAMESPACE });
          expect(lease.spec?.holderIdentity).toBe('stalled');
          renewTimes.add(lease.spec?.renewTime);
          return renewTimes.size >= 4;
        },
        30_000,
        'three renewals of the lease',
      );
      expect(candidate.isLeader()).toBe(true);
      expect(t.events).toEqual(['stalled started']);
    } finally {
      await candidate.stop();
      slow.close();
      await proxy.close();
    }
  });

  it('a leader whose requests are blackholed for longer than the renew deadline steps down, before the standby takes over', async () => {
    const name = `kube-lease-${id}-d`;
    leases.push(name);
    // The client's own timeout is far beyond the renew deadline: the elector must bound its renewals itself.
    const {
      t,
      proxy,
      times,
      leader,
      standby,
      client: blackholed,
    } = await proxiedLeaderAndStandby(name, 'blackholed', 60_000);
    try {
      leader.start();
      await eventually(() => leader.isLeader(), 10_000, 'the leader to acquire');
      standby.start();
      await eventually(() => standby.leader === 'blackholed', 10_000, 'the standby to see the leader');
      proxy.stall();
      await eventually(() => times.stepDown, 15_000, 'the blackholed leader to step down');
      expect(leader.isLeader()).toBe(false);
      await eventually(() => standby.isLeader(), 15_000, 'the standby to take over');
      expect(times.stepDown!).toBeLessThan(times.takeOver!);
      expect(t.overlap).toBe(false);
      const taken = await admin.get<Lease>(LEASES, name, { namespace: NAMESPACE });
      expect(taken.spec?.holderIdentity).toBe('standby');
    } finally {
      await standby.stop();
      proxy.release();
      await leader.stop();
      blackholed.close();
      await proxy.close();
    }
  });
});

describe('the operator behind a stalled API server', () => {
  let admin: KubeClient;
  let rbac: OperatorRbac;
  beforeAll(async () => {
    admin = await adminClient();
    rbac = await installOperatorRbac({});
  });
  afterAll(async () => {
    await rbac?.uninstall();
    admin?.close();
  });

  it('an acquire stalled at start-up (as after a SIGSTOP of the API server) is followed by leading on: no exit, leader gauge 1, renewals', async () => {
    const lease = `kube-lease-${id}-op`;
    const proxy = await TcpProxy.start(clusterInfo().server);
    const direct = await rbac.kubeconfig();
    const proxied = `${direct}.proxied`;
    await writeFile(proxied, (await readFile(direct, 'utf8')).split(clusterInfo().server).join(proxy.url));
    // The operator sends nothing before its first acquire, so that acquire is in flight through the stall.
    proxy.stall();
    const op = await startOperator({
      kubeconfig: proxied,
      args: [
        '--leader-elect',
        `--leader-election-lease-name=${lease}`,
        `--leader-election-namespace=${rbac.namespace}`,
        `--leader-elect-lease-duration=${SLOW.leaseDurationMs}ms`,
        `--leader-elect-renew-deadline=${SLOW.renewDeadlineMs}ms`,
        `--leader-elect-retry-period=${SLOW.retryPeriodMs}ms`,
      ],
      env: { POD_NAME: 'stalled-operator' },
    });
    let exitCode: number | null;
    try {
      await new Promise((r) => setTimeout(r, SLOW.renewDeadlineMs - 500));
      proxy.release();
      await op.waitReady(60_000);
      const gauge = async () => /^impersonation_operator_leader 1$/m.test(await op.metrics());
      await eventually(gauge, 30_000, 'the leader gauge to be 1');
      const renewTimes = new Set<string | undefined>();
      await eventually(
        async () => {
          const l = await admin.get<Lease>(LEASES, lease, { namespace: rbac.namespace });
          expect(l.spec?.holderIdentity).toBe('stalled-operator');
          renewTimes.add(l.spec?.renewTime);
          return renewTimes.size >= 4;
        },
        120_000,
        'three renewals by the operator',
      );
      expect(op.child.exitCode).toBeNull();
      expect(await gauge()).toBe(true);
      expect(op.output()).not.toContain('Lost leadership');
    } finally {
      proxy.release();
      exitCode = await op.stop();
      await proxy.close();
    }
    expect(exitCode).toBe(0);
  });
});
