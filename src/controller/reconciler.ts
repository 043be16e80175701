// reconcile(policyName): gather from the informer caches, decide with the pure core, act through the
// kube adapter, then write status once (only when it changed). It never branches on the event that
// woke it: a missing policy means "desired is empty" (its orphans are removed by our own record).
import { KIND, type ImpersonationPolicySpec, type ImpersonationPolicyStatus } from '../api/index.js';
import {
  decidePolicy,
  derivedGroups,
  desiredRbac,
  diffRbac,
  planRemoval,
  policyStatus,
  refOf,
  sameStatus,
  isOwnedBy,
  inactiveDecisions,
  lifetimeRequeueMs,
  policyLifetime,
  policyEvents,
  type ActFailure,
  type Lifetime,
  type ClusterFacts,
  type CoreConfig,
  type ForeignLabels,
  type PruneTarget,
  type TerminatingObject,
  type ObjectRef,
  type ObservedObject,
  type ObservedRbac,
  type PolicyPlan,
  type RbacKind,
  type RbacObject,
} from '../core/index.js';
import type { KubeClient } from '../kube/client.js';
import { isAlreadyExists, isConflict, isInvalid, isNotFound, KubeApiError } from '../kube/errors.js';
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
  client: Pick<
    KubeClient,
    'apply' | 'create' | 'remove' | 'removeObject' | 'get' | 'replaceStatusIfUid' | 'patchMerge'
  >;
  config: CoreConfig;
  events?: EventRecorder | undefined;
  log: Logger;
  now: () => Date;
  /** Called after each reconcile of an existing policy (metrics); `spec` is absent when it is invalid. */
  onReconciled?: (
    name: string,
    stats: ReconcileStats,
    status: ImpersonationPolicyStatus,
    spec: ImpersonationPolicySpec | undefined,
  ) => void;
  /** No confused deputy: judges the policy's author before anything is planned (see author-check.ts). */
  authorCheck?: Pick<AuthorCheck, 'judge' | 'forget' | 'admitted'> | undefined;
  /** How often a policy with a NameConflict re-checks whether the foreign object went away. */
  conflictRecheckMs?: number;
  /** What the cluster says about the spec's ClusterRoles and targets (may ask the API server). */
  facts?: (spec: ImpersonationPolicySpec) => Promise<ClusterFacts>;
  /** How often a policy whose writes the API server refused for good (Stalled=Refused) tries again. */
  refusalRecheckMs?: number;
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
    // Our own writes the informer has not delivered yet: pruning must see them too.
    for (const key of recent.writtenFor(policyName)) {
      const [kind, namespace, objectName] = key.split('/') as [RbacKind, string, string];
      if (kind in rbac) add(kind, namespace ? `${namespace}/${objectName}` : objectName);
    }
    for (const obj of desired) add(obj.kind, storeKey(refOf(obj)));
    return {
      clusterRoles: lists.ClusterRole,
      clusterRoleBindings: lists.ClusterRoleBinding,
      roles: lists.Role,
      roleBindings: lists.RoleBinding,
    };
  }

  /**
   * Executes a plan, revoking before granting: foreign labels are stripped, bindings narrowed (or
   * removed for a new roleRef), owned objects pruned and roles narrowed first; only when all of that
   * succeeded are roles created or widened, then bindings. So a failure part-way never leaves a grant
   * wider than either the old or the new spec. Roles come before their bindings, since RBAC refuses to
   * bind a role the operator does not hold while the role is missing.
   */
  async function act(
    owner: { name: string; uid: string },
    plan: PolicyPlan,
    observed: ObservedRbac,
    stats: ReconcileStats,
  ): Promise<ActOutcome> {
    const failures: ActFailure[] = [];
    const conflicts = [...plan.conflicts];
    const withheld = [...plan.withheld];
    const terminating = [...(plan.terminating ?? [])];
    const removed: ObjectRef[] = [];
    const created: (ObjectRef & { uid: string })[] = [];
    const fail = (ref: ObjectRef, operation: ActFailure['operation'], err: unknown, obj?: RbacObject) => {
      const refusal = refusalOf(err, ref, obj);
      failures.push({
        ref,
        operation,
        message: describe(err),
        ...(refusal === undefined ? {} : { refusal }),
      });
    };
    const find = (ref: ObjectRef) =>
      listOf(observed, ref.kind).find(
        (o) => o.metadata?.name === ref.name && o.metadata?.namespace === ref.namespace,
      );
    const keyOfRef = (ref: ObjectRef) => writeKey(ref.kind, ref.namespace, ref.name);

    const write = async (obj: RbacObject, recreate = false): Promise<void> => {
      const ref = refOf(obj);
      const resource = RESOURCES[obj.kind];
      const key = keyOfRef(ref);
      const found = find(ref);
      // Replaced (deleted for a new roleRef): create, so nothing that took the name meanwhile is merged into.
      if (!recreate && found !== undefined && isOwnedBy(found, owner)) {
        recent.wrote(key, await client.apply(resource, obj), owner.name);
        stats.applied++;
        return;
      }
      try {
        const made: KubeObject = await client.create(resource, obj);
        recent.wrote(key, made, owner.name);
        if (made.metadata?.uid) created.push({ ...ref, uid: made.metadata.uid });
        stats.created++;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        // Not in our (label-filtered) cache, yet the name is taken: ours only by our own record.
        const live = await client.get<KubeObject>(resource, ref.name, { namespace: ref.namespace });
        if (isOwnedBy(live as ObservedObject, owner)) {
          recent.wrote(key, await client.apply(resource, obj), owner.name);
          stats.applied++;
        } else {
          conflicts.push({
            ref,
            message: `${obj.kind} ${storeKey(ref)} already exists and was not created by the operator for this policy; it was left untouched`,
          });
        }
      }
    };

    const remove = async (target: PruneTarget): Promise<void> => {
      const ref: ObjectRef = target.namespace
        ? { kind: target.kind, name: target.name, namespace: target.namespace }
        : { kind: target.kind, name: target.name };
      try {
        const result = await client.removeObject(RESOURCES[target.kind], target.name, {
          namespace: target.namespace,
          uid: target.uid,
        });
        if (result.outcome === 'terminating') {
          // Accepted, but a foreign finalizer keeps it: still in force, so not counted as pruned.
          terminating.push({ ...ref, finalizers: [...(result.object.metadata?.finalizers ?? [])] });
          return;
        }
        if (result.outcome === 'deleted') stats.pruned++;
      } catch (err) {
        // Replaced by another object meanwhile (uid precondition): nothing of ours to prune.
        if (!isConflict(err)) return fail(ref, 'prune', err);
      }
      recent.deleted(keyOfRef(ref), observe(target.kind, storeKey(ref)), owner.name);
    };

    const stripLabels = async (target: ForeignLabels): Promise<void> => {
      const ref: ObjectRef = target.namespace
        ? { kind: target.kind, name: target.name, namespace: target.namespace }
        : { kind: target.kind, name: target.name };
      try {
        // A merge patch with a resourceVersion precondition: server-side apply leaves labels that another
        // field manager set, so they must be removed explicitly.
        const updated = await client.patchMerge<KubeObject>(
          RESOURCES[target.kind],
          target.name,
          { metadata: { labels: Object.fromEntries(target.labels.map((l) => [l, null])) } },
          { namespace: target.namespace, resourceVersion: target.resourceVersion },
        );
        recent.wrote(keyOfRef(ref), updated, owner.name);
        stats.applied++;
      } catch (err) {
        fail(ref, 'apply', err);
      }
    };

    const isRole = (o: { kind: RbacKind }) => o.kind === 'ClusterRole' || o.kind === 'Role';
    const each = async <T>(items: readonly T[], fn: (item: T) => Promise<void>) => {
      await Promise.all(items.map(fn));
    };
    const writing = (operation: 'apply' | 'replace') => async (obj: RbacObject) => {
      try {
        await write(obj, operation === 'replace');
        if (operation === 'replace') stats.replaced++;
      } catch (err) {
        fail(refOf(obj), operation, err, obj);
      }
    };

    // 1. Revoke: foreign labels (an aggregation label hands our rules to every holder of another role),
    //    binding subjects, bindings whose roleRef changes, pruning, then role rules.
    await each(plan.foreignLabels ?? [], stripLabels);
    const narrow = plan.narrow ?? [];
    await each(
      narrow.filter((o) => !isRole(o)),
      writing('apply'),
    );
    await each(plan.replace, async (obj) => {
      const ref = refOf(obj);
      try {
        await client.remove(RESOURCES[obj.kind], ref.name, {
          namespace: ref.namespace,
          uid: find(ref)?.metadata?.uid,
        });
      } catch (err) {
        if (!isConflict(err)) return fail(ref, 'replace', err, obj);
      }
      recent.deleted(keyOfRef(ref), undefined, owner.name);
    });
    await each(plan.prune, remove);
    await each(narrow.filter(isRole), writing('apply'));
    // Nothing widens unless every revocation went through.
    if (failures.length > 0)
      return { failures, conflicts, withheld, terminating, removed, created, widened: false };

    // 2. Grant: roles (new ones must exist before their bindings), then bindings.
    await each(plan.apply.filter(isRole), writing('apply'));
    const foreignRoles = new Set(conflicts.filter((c) => isRole(c.ref)).map((c) => roleKey(c.ref)));
    const targetOf = (o: {
      kind: RbacKind;
      roleRef?: { kind?: string; name?: string } | undefined;
      namespace?: string | undefined;
    }): ObjectRef =>
      o.roleRef?.kind === 'Role'
        ? { kind: 'Role', name: o.roleRef.name ?? '', namespace: o.namespace ?? '' }
        : { kind: 'ClusterRole', name: o.roleRef?.name ?? '' };
    // A generated role found foreign while creating it: nothing of ours may stay bound to it.
    const boundToForeign = (['ClusterRoleBinding', 'RoleBinding'] as const).flatMap((kind) =>
      listOf(observed, kind)
        .filter((o) => isOwnedBy(o, owner))
        .filter((o) =>
          foreignRoles.has(roleKey(targetOf({ kind, roleRef: o.roleRef, namespace: o.metadata?.namespace }))),
        )
        .map((o): PruneTarget => ({
          kind,
          name: o.metadata?.name ?? '',
          ...(kind === 'RoleBinding' ? { namespace: o.metadata?.namespace ?? '' } : {}),
          ...(o.metadata?.uid === undefined ? {} : { uid: o.metadata.uid }),
        })),
    );
    await each(boundToForeign, async (target) => {
      await remove(target);
      removed.push(
        target.namespace === undefined
          ? { kind: target.kind, name: target.name }
          : { kind: target.kind, name: target.name, namespace: target.namespace },
      );
    });
    const bindable = (o: RbacObject) => {
      if (isRole(o) || !('roleRef' in o)) return false;
      if (
        !foreignRoles.has(
          roleKey(targetOf({ kind: o.kind, roleRef: o.roleRef, namespace: o.metadata.namespace })),
        )
      )
        return true;
      withheld.push(refOf(o));
      return false;
    };
    await each(plan.apply.filter(bindable), writing('apply'));
    await each(plan.replace.filter(bindable), writing('replace'));
    return { failures, conflicts, withheld, terminating, removed, created, widened: true };
  }

  /**
   * What our last status listed as created for this policy that neither the cache (label-filtered) nor
   * the desired set accounts for: looked up (never in steady state, where the cache holds everything
   * listed). Still ours: the cache lags, so it is pruned now. Present but without our labels or record:
   * out of our reach (the chart's operator guard lets us touch only labelled objects), reported.
   */
  async function findUnmanaged(
    owner: { name: string; uid: string },
    inventory: readonly { kind: string; name: string; namespace?: string | undefined }[],
    observed: ObservedRbac,
    desired: readonly RbacObject[],
    stats: ReconcileStats,
  ): Promise<ObjectRef[]> {
    const known = new Set(desired.map((o) => roleKey(refOf(o))));
    for (const kind of Object.keys(RESOURCES) as RbacKind[]) {
      for (const o of listOf(observed, kind)) {
        const namespace = o.metadata?.namespace;
        const name = o.metadata?.name ?? '';
        known.add(roleKey(namespace ? { kind, name, namespace } : { kind, name }));
      }
    }
    const found: ObjectRef[] = [];
    for (const entry of inventory) {
      if (!(entry.kind in RESOURCES)) continue;
      const kind = entry.kind as RbacKind;
      const ref: ObjectRef =
        entry.namespace === undefined
          ? { kind, name: entry.name }
          : { kind, name: entry.name, namespace: entry.namespace };
      if (known.has(roleKey(ref))) continue;
      let live: KubeObject;
      try {
        live = await client.get<KubeObject>(RESOURCES[kind], ref.name, { namespace: ref.namespace });
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      if (isOwnedBy(live as ObservedObject, owner)) {
        try {
          if (
            await client.remove(RESOURCES[kind], ref.name, {
              namespace: ref.namespace,
              uid: live.metadata?.uid,
            })
          )
            stats.pruned++;
        } catch (err) {
          if (!isConflict(err)) throw err;
        }
        recent.deleted(writeKey(kind, ref.namespace, ref.name), live, owner.name);
        continue;
      }
      found.push(ref);
    }
    return found;
  }

  /** Our policy is gone (or was replaced): remove what this reconcile created for it, at once. */
  async function removeCreated(
    owner: { name: string; uid: string },
    created: readonly (ObjectRef & { uid: string })[],
  ) {
    await Promise.all(
      created.map(async (ref) => {
        try {
          await client.remove(RESOURCES[ref.kind], ref.name, { namespace: ref.namespace, uid: ref.uid });
        } catch (err) {
          if (!isConflict(err)) throw err;
        }
        recent.deleted(writeKey(ref.kind, ref.namespace, ref.name), undefined, owner.name);
      }),
    );
    log.info(
      { impersonationPolicy: owner.name, removed: created.length },
      'Removed RBAC created for a deleted ImpersonationPolicy',
    );
  }

  /**
   * Removes the orphans of policies of this name that no longer exist: objects carrying the label and
   * our ownership record with another uid than `uid` (all of them when no policy of the name exists),
   * and, for a policy being deleted (`uid` given), its own objects too: desired is empty.
   */
  async function removeOrphans(name: string, uid: string | undefined): Promise<ReconcileResult> {
    const observed = gather(name, []);
    const plan = planRemoval({ name, uid: uid ?? '' }, observed);
    if (plan.prune.length === 0 && (plan.terminating ?? []).length === 0) return {};
    const stats = emptyStats();
    const { failures, terminating } = await act({ name, uid: uid ?? '' }, plan, observed, stats);
    if (stats.pruned > 0)
      log.info(
        { impersonationPolicy: name, pruned: stats.pruned },
        'Pruned RBAC of a deleted ImpersonationPolicy',
      );
    if (failures.length > 0) throw new ReconcileError(name, failures);
    return terminating.length > 0 ? { requeueAfter: deps.conflictRecheckMs ?? 30_000 } : {};
  }

  /** One Event per transition a person would want (core/events.ts), not one per write. */
  function emitEvents(
    policy: ReadonlyDeep<PolicyObject>,
    stats: ReconcileStats,
    status: ImpersonationPolicyStatus,
    previous: ImpersonationPolicyStatus | undefined,
    lifetime: Lifetime | undefined,
  ) {
    const events = deps.events;
    if (!events) return;
    for (const event of policyEvents({ previous, status, lifetime, pruned: stats.pruned }))
      events.record(policy, event);
  }

  return async function reconcile(name: string): Promise<ReconcileResult> {
    // We never create policies: absent from the cache means deleted, whatever we wrote to its status.
    const cached = policies.get(name);
    const policy = cached && recent.observe(writeKey(KIND, undefined, name), cached);
    // Deleted: the garbage collector removes children that kept their ownerReference; we remove every
    // object our record says we created for it, whatever was done to its ownerReferences.
    if (!policy || !policy.metadata?.uid) {
      deps.authorCheck?.forget(name);
      return removeOrphans(name, undefined);
    }
    if (policy.metadata.deletionTimestamp) return removeOrphans(name, policy.metadata.uid);
    const owner = { name, uid: policy.metadata.uid };
    const spec = index.parse(policy);
    const stats = emptyStats();
    // The operator's clock decides the lifetime (the API server knows nothing of it); one reading per reconcile.
    const now = deps.now();
    const lifetime = spec.ok ? policyLifetime(spec.value, now) : undefined;

    let plan: PolicyPlan;
    let observed: ObservedRbac;
    const authorRefused = spec.ok ? await deps.authorCheck?.judge(policy, spec.value) : undefined;
    if (spec.ok && !authorRefused) {
      const candidates = index.peersOf(name, derivedGroups(spec.value));
      const peers = deps.authorCheck
        ? await deps.authorCheck.admitted(candidates, (n) => policies.get(n))
        : candidates;
      // Outside its lifetime a policy grants nothing (it still names its groups, so peers still see it).
      const decisions =
        lifetime?.state === 'Active'
          ? decidePolicy(
              { metadata: owner, spec: spec.value },
              peers,
              config,
              (await deps.facts?.(spec.value)) ?? {},
            )
          : inactiveDecisions(spec.value);
      const desired = desiredRbac(owner, decisions.grants);
      observed = gather(name, desired);
      plan = { decisions, desired, ...diffRbac(owner, desired, observed) };
    } else {
      // An unparseable spec, or one its author may not grant, provisions nothing (fail closed).
      observed = gather(name, []);
      plan = planRemoval(owner, observed);
    }

    const outcome = await act(owner, plan, observed, stats);
    const { failures, withheld, terminating } = outcome;
    const previous = policy.status as ImpersonationPolicyStatus | undefined;
    // Names found taken while creating: if our last status listed them, they are ours gone astray.
    const takenInAct = outcome.conflicts.slice(plan.conflicts.length).map((c) => c.ref);
    const unmanaged = await findUnmanaged(
      owner,
      previous?.inventory ?? [],
      observed,
      plan.desired.filter((o) => !takenInAct.some((r) => roleKey(r) === roleKey(refOf(o)))),
      stats,
    );
    const astray = new Set(unmanaged.map(roleKey));
    const conflicts = outcome.conflicts.filter((c) => !astray.has(roleKey(c.ref)));
    const notOurs = new Set([
      ...outcome.conflicts.map((c) => roleKey(c.ref)),
      ...outcome.removed.map(roleKey),
    ]);
    plan = {
      ...plan,
      conflicts,
      withheld,
      terminating,
      unchanged: plan.unchanged.filter((r) => !notOurs.has(roleKey(r))),
      // Writes skipped because a revocation failed are not in force; names found taken are not ours.
      apply: outcome.widened ? plan.apply.filter((o) => !notOurs.has(roleKey(refOf(o)))) : [],
      ...(unmanaged.length > 0 ? { unmanaged } : {}),
    };
    stats.conflicts = conflicts.length;
    stats.collisions = plan.decisions.collisions.length;
    stats.denied = plan.decisions.denied.length;

    const status = policyStatus({
      generation: policy.metadata.generation ?? 0,
      now,
      previous,
      plan,
      failures,
      ...(lifetime === undefined ? {} : { lifetime }),
      ...(spec.ok ? {} : { invalidSpec: spec.message }),
      ...(authorRefused ? { authorRefused } : {}),
    });
    if (!sameStatus(status, previous)) {
      let updated: PolicyObject | undefined;
      try {
        // Guarded by the uid: it fails rather than land on a policy recreated under the same name.
        updated = await client.replaceStatusIfUid<PolicyObject>(
          IMPERSONATION_POLICIES,
          name,
          owner.uid,
          status,
        );
      } catch (err) {
        if (!isNotFound(err) && !isInvalid(err)) throw err;
      }
      if (updated?.metadata?.uid !== owner.uid) {
        // The policy went (or was replaced) while we acted from a cache that had not seen it yet: what we
        // just created would be live grants for no policy; remove them now, not when the GC gets to it.
        await removeCreated(owner, outcome.created);
        return {};
      }
      recent.wrote(writeKey(KIND, undefined, name), updated);
      stats.statusWritten = true;
    }
    emitEvents(policy, stats, status, previous, lifetime);
    deps.onReconciled?.(name, stats, status, spec.ok ? spec.value : undefined);
    log.debug({ impersonationPolicy: name, ...stats }, 'Reconciled ImpersonationPolicy');

    if (failures.some((f) => f.refusal === undefined)) throw new ReconcileError(name, failures);
    // The next window boundary is a timer, not a resync: the queue wakes this key when it is due.
    const boundary = lifetime === undefined ? undefined : lifetimeRequeueMs(lifetime, deps.now());
    // A refusal heals when someone grants what is missing, which we cannot watch: look again, slowly.
    if (failures.length > 0) return soonest(deps.refusalRecheckMs ?? 300_000, boundary);
    // A foreign object at one of our names is not watched (our informers filter by label): look again later.
    if (conflicts.length > 0 || terminating.length > 0 || unmanaged.length > 0)
      return soonest(deps.conflictRecheckMs ?? 30_000, boundary);
    return boundary === undefined ? {} : { requeueAfter: boundary };
  };
}

/** The earlier of two requeue delays. */
const soonest = (ms: number, boundary: number | undefined): ReconcileResult => ({
  requeueAfter: boundary === undefined ? ms : Math.min(ms, boundary),
});

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

function emptyStats(): ReconcileStats {
  return {
    applied: 0,
    created: 0,
    replaced: 0,
    pruned: 0,
    conflicts: 0,
    collisions: 0,
    denied: 0,
    statusWritten: false,
  };
}

interface ActOutcome {
  failures: ActFailure[];
  conflicts: PolicyPlan['conflicts'];
  withheld: ObjectRef[];
  terminating: TerminatingObject[];
  /** Objects removed beyond the plan's prune list (bindings to a role found foreign). */
  removed: ObjectRef[];
  /** What this reconcile created, with uids: removed again if the policy turns out to be gone. */
  created: (ObjectRef & { uid: string })[];
  /** False when a revocation failed, so nothing was created or widened. */
  widened: boolean;
}

/**
 * What a permanent refusal is missing, in words an administrator can act on; undefined for errors
 * worth retrying soon (outages, conflicts, throttling).
 */
export function refusalOf(err: unknown, ref: ObjectRef, obj?: RbacObject): string | undefined {
  if (!(err instanceof KubeApiError)) return undefined;
  const text = err.serverMessage ?? err.message;
  if (err.code === 403) {
    if (/not currently held|cannot bind|escalat/i.test(text)) {
      if (obj !== undefined && 'roleRef' in obj && obj.roleRef.kind === 'ClusterRole') {
        return (
          `the operator's identity lacks bind on ClusterRole ${obj.roleRef.name} (or the permissions it grants); ` +
          `add it to the chart's grants.bindableClusterRoles`
        );
      }
      if (ref.kind === 'ClusterRole' || ref.kind === 'Role' || (obj !== undefined && 'roleRef' in obj)) {
        return (
          `the operator's identity does not hold the impersonation rights this ${ref.kind} grants; ` +
          `add the targets to the chart's grants.impersonate`
        );
      }
    }
    return `the API server refused the operator's identity: ${text}`;
  }
  if ((err.code === 400 || err.code === 422) && /denied|forbidden/i.test(text)) {
    return `refused by an admission policy: ${text}`;
  }
  return undefined;
}

function describe(err: unknown): string {
  if (err instanceof KubeApiError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
