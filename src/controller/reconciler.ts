// reconcile(policyName): gather from the informer caches, decide with the pure core, act through the
// kube adapter, then write status once (only when it changed). It never branches on the event that
// woke it: a missing policy means "nothing to do" (the garbage collector removes what it owned).
import { KIND, type ImpersonationPolicyStatus } from '../api/index.js';
import {
  decidePolicy,
  derivedGroups,
  desiredRbac,
  diffRbac,
  planRemoval,
  policyStatus,
  refOf,
  sameStatus,
  type ActFailure,
  type CoreConfig,
  type ObjectRef,
  type ObservedObject,
  type ObservedRbac,
  type PolicyPlan,
  type RbacKind,
  type RbacObject,
} from '../core/index.js';
import type { KubeClient } from '../kube/client.js';
import { isAlreadyExists, isConflict, isNotFound, KubeApiError } from '../kube/errors.js';
import type { EventRecorder } from '../kube/events.js';
import {
  CLUSTER_ROLE_BINDINGS,
  CLUSTER_ROLES,
  ROLE_BINDINGS,
  ROLES,
  type ResourceRef,
} from '../kube/resources.js';
import type { ReadonlyStore } from '../kube/store.js';
import type { KubeObject, ReadonlyDeep } from '../kube/types.js';
import type { Logger } from '../logger.js';
import type { ReconcileResult } from './controller.js';
import type { AuthorCheck } from './author-check.js';
import type { PolicyIndex, PolicyObject } from './policy-index.js';
import type { RecentWrites } from './recent-writes.js';
import { IMPERSONATION_POLICIES } from './resources.js';

export const RESOURCES: Record<RbacKind, ResourceRef> = {
  ClusterRole: CLUSTER_ROLES,
  ClusterRoleBinding: CLUSTER_ROLE_BINDINGS,
  Role: ROLES,
  RoleBinding: ROLE_BINDINGS,
};

/** The label index every RBAC store carries: policy name -> generated objects. */
export const BY_POLICY = 'byPolicy';

export interface ReconcileStats {
  applied: number;
  created: number;
  replaced: number;
  pruned: number;
  conflicts: number;
  collisions: number;
  denied: number;
  statusWritten: boolean;
}

export interface ReconcilerDeps {
  policies: ReadonlyStore<PolicyObject>;
  rbac: Record<RbacKind, ReadonlyStore<KubeObject>>;
  index: PolicyIndex;
  recent: RecentWrites;
  client: Pick<KubeClient, 'apply' | 'create' | 'remove' | 'get' | 'patchStatus'>;
  config: CoreConfig;
  events?: EventRecorder | undefined;
  log: Logger;
  now: () => Date;
  /** Called after each reconcile of an existing policy (metrics). */
  onReconciled?: (name: string, stats: ReconcileStats, status: ImpersonationPolicyStatus) => void;
  /** No confused deputy: judges the policy's author before anything is planned (see author-check.ts). */
  authorCheck?: Pick<AuthorCheck, 'judge' | 'forget' | 'admitted'> | undefined;
  /** How often a policy with a NameConflict re-checks whether the foreign object went away. */
  conflictRecheckMs?: number;
}

/** `Kind/namespace/name`: one key space for the recent-writes memory. */
export const writeKey = (kind: string, namespace: string | undefined, name: string): string =>
  `${kind}/${namespace ?? ''}/${name}`;

const storeKey = (ref: ObjectRef): string => (ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name);

/** Thrown after status was written when some action failed: the queue retries with backoff. */
export class ReconcileError extends Error {
  override name = 'ReconcileError';
  constructor(
    readonly policy: string,
    readonly failures: readonly ActFailure[],
  ) {
    super(
      `${failures.length} action(s) failed for ImpersonationPolicy ${policy}: ` +
        failures.map((f) => `${f.operation} ${f.ref.kind} ${storeKey(f.ref)}: ${f.message}`).join('; '),
    );
  }
}

export function createReconciler(deps: ReconcilerDeps) {
  const { policies, rbac, index, recent, client, config, log } = deps;

  const observe = (kind: RbacKind, key: string): ReadonlyDeep<KubeObject> | undefined => {
    const [ns, name] = key.includes('/') ? key.split('/', 2) : [undefined, key];
    return recent.observe(writeKey(kind, ns, name!), rbac[kind].get(key));
  };

  /** Our labelled objects plus whatever sits at the names we want (those may be foreign). */
  function gather(policyName: string, desired: readonly RbacObject[]): ObservedRbac {
    const lists: Record<RbacKind, ObservedObject[]> = {
      ClusterRole: [],
      ClusterRoleBinding: [],
      Role: [],
      RoleBinding: [],
    };
    const seen = new Set<string>();
    const add = (kind: RbacKind, key: string) => {
      const id = `${kind}/${key}`;
      if (seen.has(id)) return;
      seen.add(id);
      const obj = observe(kind, key);
      if (obj) lists[kind].push(obj as ObservedObject);
    };
    for (const kind of Object.keys(rbac) as RbacKind[]) {
      for (const obj of rbac[kind].byIndex(BY_POLICY, policyName))
        add(kind, storeKey(refOfObserved(kind, obj)));
    }
    for (const obj of desired) add(obj.kind, storeKey(refOf(obj)));
    return {
      clusterRoles: lists.ClusterRole,
      clusterRoleBindings: lists.ClusterRoleBinding,
      roles: lists.Role,
      roleBindings: lists.RoleBinding,
    };
  }

  async function act(
    owner: { name: string; uid: string },
    plan: PolicyPlan,
    observed: ObservedRbac,
    stats: ReconcileStats,
  ): Promise<{ failures: ActFailure[]; conflicts: PolicyPlan['conflicts']; withheld: ObjectRef[] }> {
    const failures: ActFailure[] = [];
    const conflicts = [...plan.conflicts];
    const withheld = [...plan.withheld];
    const fail = (ref: ObjectRef, operation: ActFailure['operation'], err: unknown) => {
      failures.push({ ref, operation, message: describe(err) });
    };
    const uidOf = (ref: ObjectRef): string | undefined => {
      const list = listOf(observed, ref.kind);
      return list.find((o) => o.metadata?.name === ref.name && o.metadata?.namespace === ref.namespace)
        ?.metadata?.uid;
    };

    const write = async (obj: RbacObject, mode: 'apply' | 'create'): Promise<void> => {
      const ref = refOf(obj);
      const resource = RESOURCES[obj.kind];
      const key = writeKey(obj.kind, ref.namespace, ref.name);
      if (mode === 'apply') {
        recent.wrote(key, await client.apply(resource, obj));
        stats.applied++;
        return;
      }
      try {
        recent.wrote(key, await client.create(resource, obj));
        stats.created++;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        // Not in our (label-filtered) cache, yet the name is taken: ours only if it points at us.
        const live = await client.get<KubeObject>(resource, ref.name, { namespace: ref.namespace });
        if (isOwnedByUid(live, owner.uid)) {
          recent.wrote(key, await client.apply(resource, obj));
          stats.applied++;
        } else {
          conflicts.push({
            ref,
            message: `${obj.kind} ${storeKey(ref)} already exists and is not owned by this policy; it was left untouched`,
          });
        }
      }
    };

    const run = async (objs: readonly RbacObject[], operation: 'apply' | 'replace') => {
      await Promise.all(
        objs.map(async (obj) => {
          const ref = refOf(obj);
          try {
            if (operation === 'replace') {
              const uid = uidOf(ref);
              try {
                await client.remove(RESOURCES[obj.kind], ref.name, { namespace: ref.namespace, uid });
              } catch (err) {
                if (!isNotFound(err) && !isConflict(err)) throw err;
              }
              recent.deleted(writeKey(obj.kind, ref.namespace, ref.name), undefined);
              await write(obj, 'create');
              stats.replaced++;
            } else {
              const exists = listOf(observed, obj.kind).some(
                (o) => o.metadata?.name === ref.name && o.metadata?.namespace === ref.namespace,
              );
              await write(obj, exists ? 'apply' : 'create');
            }
          } catch (err) {
            fail(ref, operation, err);
          }
        }),
      );
    };

    // Roles first: binding a role the operator does not hold is refused while the role is missing.
    const isRole = (o: RbacObject) => o.kind === 'ClusterRole' || o.kind === 'Role';
    await run(plan.apply.filter(isRole), 'apply');
    await run(plan.replace.filter(isRole), 'replace');
    // A generated role found foreign while creating it must not be bound: withhold its bindings.
    const foreignRoles = new Set(
      conflicts
        .filter((c) => c.ref.kind === 'ClusterRole' || c.ref.kind === 'Role')
        .map((c) => roleKey(c.ref)),
    );
    const bindable = (o: RbacObject) => {
      if (isRole(o) || !('roleRef' in o)) return false;
      const target: ObjectRef =
        o.roleRef.kind === 'Role'
          ? { kind: 'Role', name: o.roleRef.name, namespace: o.metadata.namespace ?? '' }
          : { kind: 'ClusterRole', name: o.roleRef.name };
      if (!foreignRoles.has(roleKey(target))) return true;
      withheld.push(refOf(o));
      return false;
    };
    await run(plan.apply.filter(bindable), 'apply');
    await run(plan.replace.filter(bindable), 'replace');

    await Promise.all(
      plan.prune.map(async (target) => {
        const ref: ObjectRef = target.namespace
          ? { kind: target.kind, name: target.name, namespace: target.namespace }
          : { kind: target.kind, name: target.name };
        try {
          await client.remove(RESOURCES[target.kind], target.name, {
            namespace: target.namespace,
            uid: target.uid,
          });
          stats.pruned++;
        } catch (err) {
          // Gone already, or replaced by another object meanwhile (uid precondition): nothing of ours to prune.
          if (!isNotFound(err) && !isConflict(err)) return fail(ref, 'prune', err);
        }
        recent.deleted(
          writeKey(target.kind, target.namespace, target.name),
          observe(target.kind, storeKey(ref)),
        );
      }),
    );
    return { failures, conflicts, withheld };
  }

  function emitEvents(
    policy: ReadonlyDeep<PolicyObject>,
    stats: ReconcileStats,
    status: ImpersonationPolicyStatus,
    previous: ImpersonationPolicyStatus | undefined,
    failures: readonly ActFailure[],
  ) {
    const events = deps.events;
    if (!events) return;
    const record = (type: 'Normal' | 'Warning', reason: string, action: string, note: string) =>
      events.record(policy, { type, reason, action, note });
    const changed = stats.applied + stats.created + stats.replaced;
    if (changed > 0) record('Normal', 'Applied', 'Apply', `Applied ${changed} RBAC object(s)`);
    if (stats.pruned > 0)
      record('Normal', 'Pruned', 'Prune', `Pruned ${stats.pruned} RBAC object(s) no longer desired`);
    const same = (a: unknown, b: unknown) => JSON.stringify(a ?? []) === JSON.stringify(b ?? []);
    if ((status.collisions?.length ?? 0) > 0 && !same(status.collisions, previous?.collisions)) {
      const groups = status.collisions!.map(
        (c) => `${c.group} <- ${c.roles.map((r) => JSON.stringify(r)).join(', ')}`,
      );
      record(
        'Warning',
        'Collision',
        'Reconcile',
        `Role names collide after normalization (held back): ${groups.join('; ')}`,
      );
    }
    if ((status.denied?.length ?? 0) > 0 && !same(status.denied, previous?.denied)) {
      record(
        'Warning',
        'Denied',
        'Reconcile',
        status.denied!.map((d) => `${d.kind} ${d.name}: ${d.reason}`).join('; '),
      );
    }
    const conflicts = conditionMessage(status, 'Stalled');
    if (stats.conflicts > 0 && conflicts) record('Warning', 'NameConflict', 'Apply', conflicts);
    if (failures.length > 0) {
      record(
        'Warning',
        'ApplyFailed',
        'Apply',
        failures.map((f) => `${f.operation} ${f.ref.kind} ${storeKey(f.ref)}: ${f.message}`).join('; '),
      );
    }
  }

  return async function reconcile(name: string): Promise<ReconcileResult> {
    // We never create policies: absent from the cache means deleted, whatever we wrote to its status.
    const cached = policies.get(name);
    const policy = cached && recent.observe(writeKey(KIND, undefined, name), cached);
    if (!policy || !policy.metadata?.uid) {
      deps.authorCheck?.forget(name);
      return {}; // deleted: the garbage collector removes its children
    }
    if (policy.metadata.deletionTimestamp) return {}; // being deleted: owned objects go with it
    const owner = { name, uid: policy.metadata.uid };
    const spec = index.parse(policy);
    const stats: ReconcileStats = {
      applied: 0,
      created: 0,
      replaced: 0,
      pruned: 0,
      conflicts: 0,
      collisions: 0,
      denied: 0,
      statusWritten: false,
    };

    let plan: PolicyPlan;
    let observed: ObservedRbac;
    const authorRefused = spec.ok ? await deps.authorCheck?.judge(policy, spec.value) : undefined;
    if (spec.ok && !authorRefused) {
      const candidates = index.peersOf(name, derivedGroups(spec.value));
      const peers = deps.authorCheck
        ? await deps.authorCheck.admitted(candidates, (n) => policies.get(n))
        : candidates;
      const decisions = decidePolicy({ metadata: owner, spec: spec.value }, peers, config);
      const desired = desiredRbac(owner, decisions.grants);
      observed = gather(name, desired);
      plan = { decisions, desired, ...diffRbac(owner, desired, observed) };
    } else {
      // An unparseable spec, or one its author may not grant, provisions nothing (fail closed).
      observed = gather(name, []);
      plan = planRemoval(owner, observed);
    }

    const { failures, conflicts, withheld } = await act(owner, plan, observed, stats);
    plan = { ...plan, conflicts, withheld };
    stats.conflicts = conflicts.length;
    stats.collisions = plan.decisions.collisions.length;
    stats.denied = plan.decisions.denied.length;

    const previous = policy.status as ImpersonationPolicyStatus | undefined;
    const status = policyStatus({
      generation: policy.metadata.generation ?? 0,
      now: deps.now(),
      previous,
      plan,
      failures,
      ...(spec.ok ? {} : { invalidSpec: spec.message }),
      ...(authorRefused ? { authorRefused } : {}),
    });
    if (!sameStatus(status, previous)) {
      const updated = await client.patchStatus<PolicyObject>(IMPERSONATION_POLICIES, name, { status });
      recent.wrote(writeKey(KIND, undefined, name), updated);
      stats.statusWritten = true;
    }
    emitEvents(policy, stats, status, previous, failures);
    deps.onReconciled?.(name, stats, status);
    log.debug({ impersonationPolicy: name, ...stats }, 'Reconciled ImpersonationPolicy');

    if (failures.length > 0) throw new ReconcileError(name, failures);
    // A foreign object at one of our names is not watched (our informers filter by label): look again later.
    if (conflicts.length > 0) return { requeueAfter: deps.conflictRecheckMs ?? 30_000 };
    return {};
  };
}

const roleKey = (ref: ObjectRef): string => `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;

function listOf(observed: ObservedRbac, kind: RbacKind): readonly ObservedObject[] {
  switch (kind) {
    case 'ClusterRole':
      return observed.clusterRoles;
    case 'ClusterRoleBinding':
      return observed.clusterRoleBindings;
    case 'Role':
      return observed.roles;
    case 'RoleBinding':
      return observed.roleBindings;
  }
}

function refOfObserved(kind: RbacKind, obj: ReadonlyDeep<KubeObject>): ObjectRef {
  const name = obj.metadata?.name ?? '';
  const namespace = obj.metadata?.namespace;
  return namespace ? { kind, name, namespace } : { kind, name };
}

function isOwnedByUid(obj: KubeObject, uid: string): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((r) => r.uid === uid && r.controller === true);
}

function describe(err: unknown): string {
  if (err instanceof KubeApiError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

function conditionMessage(status: ImpersonationPolicyStatus, type: string): string | undefined {
  return status.conditions?.find((c) => c.type === type && c.status === 'True')?.message;
}
