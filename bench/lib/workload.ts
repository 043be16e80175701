// The benchmark's synthetic policies and what they must produce. Policy i has one impersonator, one
// target user and k roles with distinct names (no cross-policy collisions), each bound to one
// ClusterRole; a churn edit adds a target user (the impersonator ClusterRole changes) and moves
// role 0 to another ClusterRole (one binding is created, one pruned). Expected objects come from the
// operator's own pure core, so the baseline writes and the watcher checks exactly what the operator
// would write.
import { API_VERSION, KIND, parsePolicySpec, type ImpersonationPolicyStatus } from '../../src/api/index.js';
import {
  DEFAULT_CORE_CONFIG,
  planPolicy,
  policyLifetime,
  policyStatus,
  type RbacKind,
  type RbacObject,
} from '../../src/core/index.js';

export const IMPERSONATOR = 'bench-proxy';
/** Target ClusterRoles the roles are bound to (role j uses VIEW_ROLES[j % length]). */
export const VIEW_ROLES = ['impop-bench-view-0', 'impop-bench-view-1', 'impop-bench-view-2'];
/** Role 0 moves here on a churn edit. */
export const CHURN_ROLE = 'impop-bench-churn';

export interface PolicySpec {
  impersonators: { kind: 'User'; name: string }[];
  targets: { users: string[] };
  roles: { name: string; clusterRoles: string[] }[];
}

export const policyName = (i: number): string => `bench-${String(i).padStart(5, '0')}`;
const user = (i: number) => `bench-user-${i}`;
const churnUser = (i: number) => `bench-user-${i}-b`;
const roleName = (i: number, j: number) => `Bench ${i} R${j}`;
/** What the AccessProxy normalization makes of roleName(i, j). */
const groupName = (i: number, j: number) => `bench-${i}-r${j}`;

export function policySpec(i: number, k: number, churned = false): PolicySpec {
  return {
    impersonators: [{ kind: 'User', name: IMPERSONATOR }],
    targets: { users: churned ? [user(i), churnUser(i)] : [user(i)] },
    roles: Array.from({ length: k }, (_, j) => ({
      name: roleName(i, j),
      clusterRoles: [churned && j === 0 ? CHURN_ROLE : VIEW_ROLES[j % VIEW_ROLES.length]!],
    })),
  };
}

export function policyObject(i: number, k: number) {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name: policyName(i) }, spec: policySpec(i, k) };
}

/** The chart's grant values that let the operator hand out everything the n policies (and their churn) need. */
export function grantsFor(n: number, k: number) {
  const users: string[] = [];
  const groups: string[] = [];
  for (let i = 0; i < n; i++) {
    users.push(user(i), churnUser(i));
    for (let j = 0; j < k; j++) groups.push(groupName(i, j));
  }
  return {
    impersonate: { users, groups },
    bindableClusterRoles: [...VIEW_ROLES, CHURN_ROLE],
  };
}

/** `Kind/namespace/name`, the key the watcher and the baseline use for an RBAC object. */
export const objectKey = (kind: string, namespace: string | undefined, name: string): string =>
  `${kind}/${namespace ?? ''}/${name}`;

export const keyOfObject = (o: RbacObject): string =>
  objectKey(o.kind, o.metadata.namespace, o.metadata.name);

export interface PolicyOutcome {
  objects: RbacObject[];
  status: ImpersonationPolicyStatus;
}

/** What the operator's core wants for this policy object (name, uid, generation, spec). */
export function outcomeOf(
  policy: { name: string; uid: string; generation: number },
  spec: PolicySpec,
  now: Date,
): PolicyOutcome {
  const parsed = parsePolicySpec(spec);
  if (!parsed.ok) throw new Error(`bench policy spec is invalid: ${parsed.message}`);
  const empty = { clusterRoles: [], clusterRoleBindings: [], roles: [], roleBindings: [] };
  const plan = planPolicy({
    policy: { metadata: { name: policy.name, uid: policy.uid }, spec: parsed.value },
    peers: [],
    config: DEFAULT_CORE_CONFIG,
    observed: empty,
  });
  return {
    objects: plan.desired,
    // The status the operator writes for it, lifetime included (so a cold start on it writes nothing).
    status: policyStatus({
      generation: policy.generation,
      now,
      plan,
      lifetime: policyLifetime(parsed.value, now),
    }),
  };
}

/** The part of an RBAC object the watcher compares: rules, or roleRef and subjects, and the owner. */
export function signature(o: {
  metadata?: { ownerReferences?: readonly { uid?: string }[] };
  rules?: readonly {
    apiGroups?: readonly string[];
    resources?: readonly string[];
    verbs?: readonly string[];
    resourceNames?: readonly string[];
  }[];
  roleRef?: { kind?: string; name?: string };
  subjects?: readonly { kind?: string; name?: string; namespace?: string }[];
}): string {
  const sorted = (v: readonly string[] | undefined) => [...(v ?? [])].sort().join(',');
  const rules = (o.rules ?? [])
    .map((r) =>
      [sorted(r.apiGroups), sorted(r.resources), sorted(r.verbs), sorted(r.resourceNames)].join('|'),
    )
    .sort();
  const subjects = (o.subjects ?? []).map((s) => `${s.kind}:${s.namespace ?? ''}:${s.name}`).sort();
  const owners = (o.metadata?.ownerReferences ?? []).map((r) => r.uid ?? '').sort();
  return JSON.stringify([rules, o.roleRef?.kind ?? '', o.roleRef?.name ?? '', subjects, owners]);
}

export const RBAC_KINDS: readonly RbacKind[] = ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];
