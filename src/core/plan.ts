// Desired objects + observed (cached) objects -> what to apply, replace, prune, and what is in the way.

import { POLICY_LABEL } from '../api/index.js';
import type { CoreConfig } from './config.js';
import { decidePolicy, type ClusterFacts } from './decisions.js';
import { compareObjects, desiredRbac } from './rbac.js';
import type {
  NameConflict,
  ObjectRef,
  ObservedObject,
  ObservedRbac,
  PeerPolicy,
  PolicyDecisions,
  PolicyInput,
  PolicyPlan,
  PruneTarget,
  RbacKind,
  RbacObject,
} from './types.js';

export interface PlanInput {
  policy: PolicyInput;
  /** Every other ImpersonationPolicy (parsed; not being deleted), for cross-policy collisions. */
  peers: readonly PeerPolicy[];
  config: CoreConfig;
  observed: ObservedRbac;
  /** What the cluster says about ClusterRoles and targets (see ClusterFacts). */
  facts?: ClusterFacts;
}

/** Our label AND an ownerReference to this very policy object (uid): the only objects we change or delete. */
export function isOwnedBy(object: ObservedObject, policy: { name: string; uid: string }): boolean {
  return (
    object.metadata?.labels?.[POLICY_LABEL] === policy.name &&
    (object.metadata.ownerReferences ?? []).some((ref) => ref.uid === policy.uid)
  );
}

export function refOf(object: RbacObject): ObjectRef {
  return object.metadata.namespace === undefined
    ? { kind: object.kind, name: object.metadata.name }
    : { kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace };
}

const keyOf = (kind: RbacKind, namespace: string | undefined, name: string | undefined): string =>
  `${kind}/${namespace ?? ''}/${name ?? ''}`;

function observedEntries(observed: ObservedRbac): [string, RbacKind, ObservedObject][] {
  const lists: [RbacKind, readonly ObservedObject[]][] = [
    ['ClusterRole', observed.clusterRoles],
    ['ClusterRoleBinding', observed.clusterRoleBindings],
    ['Role', observed.roles],
    ['RoleBinding', observed.roleBindings],
  ];
  return lists.flatMap(([kind, objects]) =>
    objects.map((o): [string, RbacKind, ObservedObject] => [
      keyOf(
        kind,
        kind === 'Role' || kind === 'RoleBinding' ? o.metadata?.namespace : undefined,
        o.metadata?.name,
      ),
      kind,
      o,
    ]),
  );
}

const sortedStrings = (values: readonly string[] | undefined): string[] => [...new Set(values ?? [])].sort();

/** The parts of an object the operator manages, in a comparable canonical form. */
function managedContent(object: ObservedObject): string {
  const rules = (object.rules ?? [])
    .map((r) =>
      JSON.stringify([
        sortedStrings(r.apiGroups),
        sortedStrings(r.resources),
        sortedStrings(r.verbs),
        sortedStrings(r.resourceNames),
        sortedStrings(r.nonResourceURLs),
      ]),
    )
    .sort();
  const subjects = (object.subjects ?? [])
    .map((s) => JSON.stringify([s.kind ?? '', s.apiGroup ?? '', s.namespace ?? '', s.name ?? '']))
    .sort();
  const roleRef = object.roleRef === undefined ? null : [object.roleRef.kind, object.roleRef.name];
  return JSON.stringify([rules, subjects, roleRef]);
}

function hasDesiredMetadata(observed: ObservedObject, desired: RbacObject): boolean {
  const labels = observed.metadata?.labels ?? {};
  const labelsOk = Object.entries(desired.metadata.labels).every(([k, v]) => labels[k] === v);
  const [owner] = desired.metadata.ownerReferences;
  const refs = observed.metadata?.ownerReferences ?? [];
  const ownerOk = refs.some(
    (r) =>
      r.uid === owner?.uid &&
      r.apiVersion === owner?.apiVersion &&
      r.kind === owner?.kind &&
      r.name === owner?.name &&
      r.controller === true &&
      r.blockOwnerDeletion === true,
  );
  return labelsOk && ownerOk;
}

function roleRefChanged(observed: ObservedObject, desired: RbacObject): boolean {
  if (!('roleRef' in desired)) return false;
  return observed.roleRef?.kind !== desired.roleRef.kind || observed.roleRef?.name !== desired.roleRef.name;
}

function conflictMessage(
  ref: ObjectRef,
  observed: ObservedObject,
  policy: { name: string; uid: string },
): string {
  const where = ref.namespace === undefined ? '' : ` in namespace ${ref.namespace}`;
  const labelled = observed.metadata?.labels?.[POLICY_LABEL] === policy.name;
  return labelled
    ? `${ref.kind} ${ref.name}${where} belongs to an earlier ImpersonationPolicy named ${policy.name} ` +
        '(another uid); it is left alone until the garbage collector removes it'
    : `${ref.kind} ${ref.name}${where} already exists and is not owned by this policy; ` +
        'it is left alone: delete or rename it to let the operator create its own';
}

/** Compares desired objects with what the cache holds. */
export function diffRbac(
  policy: { name: string; uid: string },
  desired: readonly RbacObject[],
  observed: ObservedRbac,
): Omit<PolicyPlan, 'decisions' | 'desired'> {
  const byKey = new Map<string, ObservedObject>();
  const owned: [string, RbacKind, ObservedObject][] = [];
  for (const [key, kind, object] of observedEntries(observed)) {
    byKey.set(key, object);
    if (isOwnedBy(object, policy)) owned.push([key, kind, object]);
  }

  const conflicts: NameConflict[] = [];
  for (const object of desired) {
    const ref = refOf(object);
    const found = byKey.get(keyOf(ref.kind, ref.namespace, ref.name));
    if (found !== undefined && !isOwnedBy(found, policy)) {
      conflicts.push({ ref, message: conflictMessage(ref, found, policy) });
    }
  }
  // A binding must never point at a Role/ClusterRole that is not ours.
  const conflicting = new Set(conflicts.map((c) => keyOf(c.ref.kind, c.ref.namespace, c.ref.name)));
  const withheld: ObjectRef[] = [];
  const apply: RbacObject[] = [];
  const replace: RbacObject[] = [];
  const unchanged: ObjectRef[] = [];
  const keep = new Set<string>();
  for (const object of desired) {
    const ref = refOf(object);
    const key = keyOf(ref.kind, ref.namespace, ref.name);
    if (conflicting.has(key)) continue;
    if ('roleRef' in object) {
      const target = keyOf(
        object.roleRef.kind,
        ref.namespace === undefined ? undefined : ref.namespace,
        object.roleRef.name,
      );
      if (conflicting.has(target)) {
        withheld.push(ref);
        continue;
      }
    }
    keep.add(key);
    const found = byKey.get(key);
    if (found === undefined) apply.push(object);
    else if (roleRefChanged(found, object)) replace.push(object);
    else if (!hasDesiredMetadata(found, object) || managedContent(found) !== managedContent(object))
      apply.push(object);
    else unchanged.push(ref);
  }

  const prune: PruneTarget[] = owned
    .filter(([key]) => !keep.has(key))
    .map(([, kind, object]): PruneTarget => {
      const namespaced = kind === 'Role' || kind === 'RoleBinding';
      return {
        kind,
        name: object.metadata?.name ?? '',
        ...(namespaced ? { namespace: object.metadata?.namespace ?? '' } : {}),
        ...(object.metadata?.uid === undefined ? {} : { uid: object.metadata.uid }),
      };
    })
    .sort(compareObjects);

  return { apply, replace, prune, conflicts, withheld, unchanged };
}

/**
 * The whole decision for one policy: decide what the spec may provision, build the desired
 * objects, and compare them with the observed ones.
 */
export function planPolicy(input: PlanInput): PolicyPlan {
  const { policy, peers, config, observed } = input;
  const identity = { name: policy.metadata.name, uid: policy.metadata.uid };
  const decisions = decidePolicy(policy, peers, config, input.facts);
  const desired = desiredRbac(identity, decisions.grants);
  return { decisions, desired, ...diffRbac(identity, desired, observed) };
}

const NOTHING: PolicyDecisions = {
  grants: {
    impersonators: [],
    users: [],
    anyUser: false,
    groups: [],
    uids: [],
    userExtras: [],
    serviceAccounts: [],
    bindings: [],
  },
  roleGroups: [],
  collisions: [],
  denied: [],
  roleCount: 0,
};

/**
 * A plan that removes everything the policy owns: for a spec that cannot be parsed (fail closed).
 * Pair it with `policyStatus({ invalidSpec })`.
 */
export function planRemoval(policy: { name: string; uid: string }, observed: ObservedRbac): PolicyPlan {
  return { decisions: NOTHING, desired: [], ...diffRbac(policy, [], observed) };
}
