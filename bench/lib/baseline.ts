// The baseline: the fastest client we can write that does the operator's minimum work — the same
// objects (from the operator's core), the same HTTP stack (KubeClient), the same identity, and no
// reads at all: it already knows everything. A role is created before the bindings that reference
// it (the API server refuses a binding to a missing role it cannot check); everything else runs in
// parallel, limited only by a global cap on requests in flight.
import { API_VERSION, KIND, type ImpersonationPolicyStatus } from '../../src/api/index.js';
import { IMPERSONATION_POLICIES } from '../../src/controller/resources.js';
import { RESOURCES } from '../../src/controller/reconciler.js';
import type { RbacObject } from '../../src/core/index.js';
import type { KubeClient } from '../../src/kube/client.js';
import type { EventRecorder } from '../../src/kube/events.js';
import { keyOfObject } from './workload.js';

/** A counting semaphore: at most `limit` tasks at once. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

const isRole = (o: RbacObject) => o.kind === 'ClusterRole' || o.kind === 'Role';

/** Bindings that reference one of `roles` by kind/name (and namespace for a Role). */
function dependsOn(binding: RbacObject, role: RbacObject): boolean {
  if (!('roleRef' in binding)) return false;
  if (binding.roleRef.kind !== role.kind || binding.roleRef.name !== role.metadata.name) return false;
  return role.kind === 'ClusterRole' || binding.metadata.namespace === role.metadata.namespace;
}

/** The policy an Event is about. */
export interface PolicyRef {
  name: string;
  uid: string;
}

export class MinimalWriter {
  private readonly limit: Limiter;
  /** Requests sent, by verb. */
  readonly sent: Record<string, number> = {};

  /** With `events`, the writer also records the Events the operator records (Applied, Pruned). */
  constructor(
    private readonly client: KubeClient,
    concurrency: number,
    private readonly events?: EventRecorder,
  ) {
    this.limit = new Limiter(concurrency);
  }

  private count(verb: string) {
    this.sent[verb] = (this.sent[verb] ?? 0) + 1;
  }

  async create(obj: RbacObject): Promise<void> {
    this.count('create');
    await this.limit.run(() => this.client.create(RESOURCES[obj.kind], obj));
  }

  async apply(obj: RbacObject): Promise<void> {
    this.count('apply');
    await this.limit.run(() => this.client.apply(RESOURCES[obj.kind], obj));
  }

  async remove(obj: RbacObject): Promise<void> {
    this.count('delete');
    await this.limit.run(() =>
      this.client.remove(RESOURCES[obj.kind], obj.metadata.name, { namespace: obj.metadata.namespace }),
    );
  }

  async status(policy: string, status: ImpersonationPolicyStatus): Promise<void> {
    this.count('patch status');
    await this.limit.run(() => this.client.patchStatus(IMPERSONATION_POLICIES, policy, { status }));
  }

  private event(policy: PolicyRef, reason: 'Applied' | 'Pruned', count: number): void {
    if (!this.events || count === 0) return;
    this.count('create event');
    const note =
      reason === 'Applied'
        ? `Applied ${count} RBAC object(s)`
        : `Pruned ${count} RBAC object(s) no longer desired`;
    this.events.record(
      { apiVersion: API_VERSION, kind: KIND, name: policy.name, uid: policy.uid },
      { type: 'Normal', reason, action: reason === 'Applied' ? 'Apply' : 'Prune', note },
    );
  }

  /** Waits for the Events still being written. */
  async flush(): Promise<void> {
    await this.events?.flush();
  }

  /** Creates `objects`, each role before the bindings that reference it. */
  async createAll(objects: readonly RbacObject[]): Promise<void> {
    const roles = objects.filter(isRole);
    const bindings = objects.filter((o) => !isRole(o));
    const chains = roles.map(async (role) => {
      await this.create(role);
      await Promise.all(bindings.filter((b) => dependsOn(b, role)).map((b) => this.create(b)));
    });
    const free = bindings.filter((b) => !roles.some((r) => dependsOn(b, r))).map((b) => this.create(b));
    await Promise.all([...chains, ...free]);
  }

  /** A new policy: its objects, then its status. */
  async provision(policy: PolicyRef, objects: readonly RbacObject[], status: ImpersonationPolicyStatus) {
    await this.createAll(objects);
    await this.status(policy.name, status);
    this.event(policy, 'Applied', objects.length);
  }

  /** Deleted objects of one policy: recreated (no status change). */
  async repair(policy: PolicyRef, objects: readonly RbacObject[]) {
    await this.createAll(objects);
    this.event(policy, 'Applied', objects.length);
  }

  /** A changed policy: the minimum writes from `before` to `after`, then its status. */
  async change(
    policy: PolicyRef,
    before: readonly RbacObject[],
    after: readonly RbacObject[],
    signatureOf: (o: RbacObject) => string,
    status: ImpersonationPolicyStatus,
  ): Promise<void> {
    const old = new Map(before.map((o) => [keyOfObject(o), o]));
    const wanted = new Set(after.map(keyOfObject));
    const created = after.filter((o) => !old.has(keyOfObject(o)));
    const changed = after.filter((o) => {
      const prev = old.get(keyOfObject(o));
      return prev !== undefined && signatureOf(prev) !== signatureOf(o);
    });
    const removed = before.filter((o) => !wanted.has(keyOfObject(o)));
    await Promise.all([
      ...changed.map((o) => this.apply(o)),
      this.createAll(created),
      ...removed.map((o) => this.remove(o)),
    ]);
    await this.status(policy.name, status);
    this.event(policy, 'Applied', changed.length + created.length);
    this.event(policy, 'Pruned', removed.length);
  }
}
