// Desired objects + observed (cached) objects -> what to apply, replace, prune, and what is in the way.

import { POLICY_LABEL } from '../api/index.js';
import { OWNER_UID_ANNOTATION } from './names.js';
import type { CoreConfig } from './config.js';
import { decidePolicy, nothingDecided, type ClusterFacts } from './decisions.js';
import { decidePolicyAt } from './lifetime.js';
import { compareObjects, desiredRbac } from './rbac.js';
import type {
  NameConflict,
  ObjectRef,
  ObservedObject,
  ObservedRbac,
  PeerPolicy,
  PolicyInput,
  PolicyPlan,
  PolicyRule,
  PruneTarget,
  RbacKind,
  RbacObject,
  TerminatingObject,
  ForeignLabels,
} from './types.js';

export interface PlanInput {
  policy: PolicyInput;
  /** Every other ImpersonationPolicy (parsed; not being deleted), for cross-policy collisions. */
  peers: readonly PeerPolicy[];
  config: CoreConfig;
  observed: ObservedRbac;
  /** What the cluster says about ClusterRoles and targets (see ClusterFacts). */
  facts?: ClusterFacts;
  /** The time to judge spec.validFrom/validUntil/suspend at; absent: the lifetime is not applied. */
  now?: Date;
}

/**
 * Ours: our policy label and our ownership record (the policy's uid, see OWNER_UID_ANNOTATION). The
 * ownerReference does not count either way: a missing one is drift, a matching one alone adopts nothing.
 */
export function isOwnedBy(object: ObservedObject, policy: { name: string; uid: string }): boolean {
  return (
    object.metadata?.labels?.[POLICY_LABEL] === policy.name &&
    object.metadata.annotations?.[OWNER_UID_ANNOTATION] === policy.uid
  );
}

/**
 * Created by the operator for an earlier policy of this name: the record names another uid, or no policy
 * of the name exists (`uid` undefined). An orphan: removed, never reused.
 */
export function isStaleFor(
  object: ObservedObject,
  policy: { name: string; uid: string | undefined },
): boolean {
  const recorded = object.metadata?.annotations?.[OWNER_UID_ANNOTATION];
  return (
    object.metadata?.labels?.[POLICY_LABEL] === policy.name &&
    recorded !== undefined &&
    recorded !== '' &&
    recorded !== policy.uid
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
  const annotations = observed.metadata?.annotations ?? {};
  const annotationsOk = Object.entries(desired.metadata.annotations ?? {}).every(
    ([k, v]) => annotations[k] === v,
  );
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
  return labelsOk && annotationsOk && ownerOk;
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
    ? `${ref.kind} ${ref.name}${where} carries this policy's label but not the operator's ownership record ` +
        `(annotation ${OWNER_UID_ANNOTATION}: ${policy.uid}), so the operator did not create it for this policy; ` +
        'it is left alone and nothing is bound to it: delete it to let the operator create its own'
    : `${ref.kind} ${ref.name}${where} already exists and is not owned by this policy; ` +
        'it is left alone: delete or rename it to let the operator create its own';
}

// Permissions as atoms, to tell a write that only takes access away from one that adds some.
const ALL = '\u0000all'; // a rule without resourceNames
const URL = '\u0000url'; // the "apiGroup" of a nonResourceURLs atom
type Atom = readonly [group: string, resource: string, verb: string, name: string];

function ruleAtoms(rules: ObservedObject['rules']): Atom[] {
  const atoms: Atom[] = [];
  for (const r of rules ?? []) {
    const names = r.resourceNames === undefined || r.resourceNames.length === 0 ? [ALL] : r.resourceNames;
    for (const verb of r.verbs ?? []) {
      for (const url of r.nonResourceURLs ?? []) atoms.push([URL, url, verb, ALL]);
      for (const group of r.apiGroups ?? [])
        for (const resource of r.resources ?? [])
          for (const name of names) atoms.push([group, resource, verb, name]);
    }
  }
  return atoms;
}

const matches = (have: string, want: string, wildcard: boolean) =>
  have === want || (wildcard && have === '*');
function covered(atoms: readonly Atom[], a: Atom): boolean {
  return atoms.some(
    (t) =>
      (t[0] === a[0] || (t[0] === '*' && a[0] !== URL)) &&
      matches(t[1], a[1], true) &&
      matches(t[2], a[2], true) &&
      (t[3] === a[3] || t[3] === ALL),
  );
}

function atomsToRules(atoms: readonly Atom[]): PolicyRule[] {
  const byKey = new Map<string, { group: string; resource: string; verb: string; names: Set<string> }>();
  for (const [group, resource, verb, name] of atoms) {
    if (group === URL) continue; // never ours: dropped
    const key = JSON.stringify([group, resource, verb]);
    const entry = byKey.get(key) ?? { group, resource, verb, names: new Set<string>() };
    entry.names.add(name);
    byKey.set(key, entry);
  }
  return [...byKey.values()]
    .sort((a, b) =>
      JSON.stringify([a.group, a.resource, a.verb]) < JSON.stringify([b.group, b.resource, b.verb]) ? -1 : 1,
    )
    .map((e) => ({
      apiGroups: [e.group],
      resources: [e.resource],
      verbs: [e.verb],
      ...(e.names.has(ALL) ? {} : { resourceNames: [...e.names].sort() }),
    }));
}

const subjectKey = (s: { kind?: string; namespace?: string; name?: string }) =>
  JSON.stringify([s.kind ?? '', s.namespace ?? '', s.name ?? '']);

/**
 * How a write of `desired` over `observed` changes access: 'narrow' (takes away or keeps), 'widen'
 * (only adds), or 'mixed' (both; write `intersectionOf` first).
 */
function direction(observed: ObservedObject, desired: RbacObject): 'narrow' | 'widen' | 'mixed' {
  let removes: boolean;
  let adds: boolean;
  if ('rules' in desired) {
    const have = ruleAtoms(observed.rules);
    const want = ruleAtoms(desired.rules);
    adds = want.some((a) => !covered(have, a));
    removes = have.some((a) => !covered(want, a));
  } else {
    const have = new Set((observed.subjects ?? []).map(subjectKey));
    const want = new Set(desired.subjects.map(subjectKey));
    adds = [...want].some((k) => !have.has(k));
    removes = [...have].some((k) => !want.has(k));
  }
  return adds ? (removes ? 'mixed' : 'widen') : 'narrow';
}

/** `desired` cut down to what both it and `observed` grant: the narrowing half of a mixed update. */
export function intersectionOf(observed: ObservedObject, desired: RbacObject): RbacObject {
  if ('rules' in desired) {
    const have = ruleAtoms(observed.rules);
    const want = ruleAtoms(desired.rules);
    const both = [...want.filter((a) => covered(have, a)), ...have.filter((a) => covered(want, a))];
    return { ...desired, rules: atomsToRules(both) } as RbacObject;
  }
  const have = new Set((observed.subjects ?? []).map(subjectKey));
  return { ...desired, subjects: desired.subjects.filter((x) => have.has(subjectKey(x))) } as RbacObject;
}

function foreignLabelsOf(
  key: ObjectRef,
  observed: ObservedObject,
  desired: RbacObject,
): ForeignLabels | undefined {
  const labels = Object.keys(observed.metadata?.labels ?? {}).filter((k) => !(k in desired.metadata.labels));
  if (labels.length === 0) return undefined;
  return {
    ...key,
    ...(observed.metadata?.uid === undefined ? {} : { uid: observed.metadata.uid }),
    ...(observed.metadata?.resourceVersion === undefined
      ? {}
      : { resourceVersion: observed.metadata.resourceVersion }),
    labels: labels.sort(),
  };
}

/**
 * Compares desired objects with what the cache holds (plus the operator's own recent writes). What
 * changes access is split by direction so the controller can revoke before it grants.
 */
export function diffRbac(
  policy: { name: string; uid: string },
  desired: readonly RbacObject[],
  observed: ObservedRbac,
): Omit<PolicyPlan, 'decisions' | 'desired'> {
  const byKey = new Map<string, ObservedObject>();
  const owned: [string, RbacKind, ObservedObject][] = [];
  for (const [key, kind, object] of observedEntries(observed)) {
    byKey.set(key, object);
    if (isOwnedBy(object, policy) || isStaleFor(object, policy)) owned.push([key, kind, object]);
  }

  const conflicts: NameConflict[] = [];
  for (const object of desired) {
    const ref = refOf(object);
    const found = byKey.get(keyOf(ref.kind, ref.namespace, ref.name));
    if (found !== undefined && !isOwnedBy(found, policy) && !isStaleFor(found, policy)) {
      conflicts.push({ ref, message: conflictMessage(ref, found, policy) });
    }
  }
  // A binding must never point at a Role/ClusterRole that is not ours.
  const conflicting = new Set(conflicts.map((c) => keyOf(c.ref.kind, c.ref.namespace, c.ref.name)));
  const withheld: ObjectRef[] = [];
  const apply: RbacObject[] = [];
  const narrow: RbacObject[] = [];
  const replace: RbacObject[] = [];
  const unchanged: ObjectRef[] = [];
  const foreignLabels: ForeignLabels[] = [];
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
    const found = byKey.get(key);
    // An earlier incarnation's object at our name is pruned first; ours is created after.
    if (found === undefined || !isOwnedBy(found, policy)) {
      apply.push(object);
      continue;
    }
    keep.add(key);
    const labels = foreignLabelsOf(ref, found, object);
    if (labels !== undefined) foreignLabels.push(labels);
    if (roleRefChanged(found, object)) replace.push(object);
    else if (!hasDesiredMetadata(found, object) || managedContent(found) !== managedContent(object)) {
      const way = direction(found, object);
      if (way === 'narrow') narrow.push(object);
      else if (way === 'widen') apply.push(object);
      else {
        narrow.push(intersectionOf(found, object));
        apply.push(object);
      }
    } else if (labels !== undefined) narrow.push(object);
    else unchanged.push(ref);
  }

  const prune: PruneTarget[] = [];
  const terminating: TerminatingObject[] = [];
  for (const [key, kind, object] of owned) {
    if (keep.has(key)) continue;
    const namespaced = kind === 'Role' || kind === 'RoleBinding';
    const ref: ObjectRef = {
      kind,
      name: object.metadata?.name ?? '',
      ...(namespaced ? { namespace: object.metadata?.namespace ?? '' } : {}),
    };
    if (object.metadata?.deletionTimestamp !== undefined) {
      // Deletion accepted already; while finalizers hold it, it is still in force.
      const finalizers = [...(object.metadata.finalizers ?? [])];
      if (finalizers.length > 0) terminating.push({ ...ref, finalizers });
      continue;
    }
    prune.push({ ...ref, ...(object.metadata?.uid === undefined ? {} : { uid: object.metadata.uid }) });
  }
  prune.sort(compareObjects);
  terminating.sort(compareObjects);

  return { apply, replace, prune, conflicts, withheld, unchanged, narrow, foreignLabels, terminating };
}

/**
 * The whole decision for one policy: decide what the spec may provision, build the desired
 * objects, and compare them with the observed ones.
 */
export function planPolicy(input: PlanInput): PolicyPlan {
  const { policy, peers, config, observed } = input;
  const identity = { name: policy.metadata.name, uid: policy.metadata.uid };
  const decisions =
    input.now === undefined
      ? decidePolicy(policy, peers, config, input.facts)
      : decidePolicyAt(input.now, policy, peers, config, input.facts);
  const desired = desiredRbac(identity, decisions.grants);
  return { decisions, desired, ...diffRbac(identity, desired, observed) };
}

/**
 * A plan that removes everything the policy owns: for a spec that cannot be parsed (fail closed).
 * Pair it with `policyStatus({ invalidSpec })`.
 */
export function planRemoval(policy: { name: string; uid: string }, observed: ObservedRbac): PolicyPlan {
  return { decisions: nothingDecided(0), desired: [], ...diffRbac(policy, [], observed) };
}
