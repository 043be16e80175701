// Plain data types shared by the core's functions: the RBAC objects it produces, the cached objects
// it reads, and the inputs/outputs of the plan. Raw-JSON shapes (no classes, no Dates), so objects
// from an informer cache and client-node's model types both fit.

import type {
  Collision,
  ConstraintBypass,
  Denial,
  ImpersonationPolicySpec,
  RoleGroup,
} from '../api/index.js';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';
export const RBAC_API_VERSION = `${RBAC_GROUP}/v1`;

export type RbacKind = 'ClusterRole' | 'ClusterRoleBinding' | 'Role' | 'RoleBinding';
export const RBAC_KINDS: readonly RbacKind[] = ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface GeneratedMeta {
  name: string;
  namespace?: string;
  labels: Record<string, string>;
  /** The ownership record (OWNER_UID_ANNOTATION); see names.ts. */
  annotations?: Record<string, string>;
  ownerReferences: OwnerReference[];
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  /** Absent only on the explicit any-user rule. */
  resourceNames?: string[];
}

export interface Subject {
  kind: 'User' | 'Group' | 'ServiceAccount';
  /** rbac.authorization.k8s.io for User and Group; absent for ServiceAccount (as the API server stores it). */
  apiGroup?: string;
  name: string;
  namespace?: string;
}

export interface RoleRef {
  apiGroup: typeof RBAC_GROUP;
  kind: 'ClusterRole' | 'Role';
  name: string;
}

export interface ClusterRole {
  apiVersion: typeof RBAC_API_VERSION;
  kind: 'ClusterRole';
  metadata: GeneratedMeta;
  rules: PolicyRule[];
}
export interface ClusterRoleBinding {
  apiVersion: typeof RBAC_API_VERSION;
  kind: 'ClusterRoleBinding';
  metadata: GeneratedMeta;
  roleRef: RoleRef;
  subjects: Subject[];
}
export interface Role {
  apiVersion: typeof RBAC_API_VERSION;
  kind: 'Role';
  metadata: GeneratedMeta & { namespace: string };
  rules: PolicyRule[];
}
export interface RoleBinding {
  apiVersion: typeof RBAC_API_VERSION;
  kind: 'RoleBinding';
  metadata: GeneratedMeta & { namespace: string };
  roleRef: RoleRef;
  subjects: Subject[];
}

/** A complete object the operator wants to exist, ready for server-side apply. */
export type RbacObject = ClusterRole | ClusterRoleBinding | Role | RoleBinding;

/** Identifies one object. `namespace` only for Role and RoleBinding. */
export interface ObjectRef {
  kind: RbacKind;
  name: string;
  namespace?: string;
}

/** An object read from the informer cache (read-only, every field optional). */
export interface ObservedObject {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly ownerReferences?: readonly Readonly<Partial<OwnerReference>>[];
    /** Set once a delete was accepted; the object stays (and stays in force) while finalizers remain. */
    readonly deletionTimestamp?: string;
    readonly finalizers?: readonly string[];
  };
  readonly rules?: readonly {
    readonly apiGroups?: readonly string[];
    readonly resources?: readonly string[];
    readonly verbs?: readonly string[];
    readonly resourceNames?: readonly string[];
    readonly nonResourceURLs?: readonly string[];
  }[];
  readonly roleRef?: { readonly apiGroup?: string; readonly kind?: string; readonly name?: string };
  readonly subjects?: readonly {
    readonly kind?: string;
    readonly apiGroup?: string;
    readonly name?: string;
    readonly namespace?: string;
  }[];
}

/**
 * The cached RBAC objects the plan compares against, one list per kind. Pass at least every
 * object carrying this policy's label, plus any object at a name the policy generates (the simplest
 * correct input is the whole cache of the four kinds).
 */
export interface ObservedRbac {
  readonly clusterRoles: readonly ObservedObject[];
  readonly clusterRoleBindings: readonly ObservedObject[];
  readonly roles: readonly ObservedObject[];
  readonly roleBindings: readonly ObservedObject[];
}

/** The policy being reconciled: identity from metadata plus the parsed (defaulted) spec. */
export interface PolicyInput {
  readonly metadata: { readonly name: string; readonly uid: string; readonly generation?: number };
  readonly spec: ImpersonationPolicySpec;
}

/** Another ImpersonationPolicy, for cross-policy collisions. */
export interface PeerPolicy {
  readonly metadata: { readonly name: string };
  readonly spec: ImpersonationPolicySpec;
}

/** One binding of a role-derived group to a target ClusterRole, cluster-wide or in one namespace. */
export interface GroupBinding {
  role: string;
  group: string;
  clusterRole: string;
  /** Absent: a ClusterRoleBinding. Present: a RoleBinding in this namespace. */
  namespace?: string;
}

/** Exactly what a policy may provision once normalization, collisions and safety are decided. */
export interface Grants {
  /** Impersonation subjects (sorted, de-duplicated). */
  impersonators: Subject[];
  /** Impersonable user names (ignored when anyUser). */
  users: string[];
  /** The explicit any-user opt-in, in force. */
  anyUser: boolean;
  /** Role-derived and literal groups the impersonators may assert. */
  groups: string[];
  uids: string[];
  userExtras: { key: string; values: string[] }[];
  /** Service accounts by namespace. */
  serviceAccounts: { namespace: string; names: string[] }[];
  /** Role group -> ClusterRole bindings. */
  bindings: GroupBinding[];
  /**
   * Constrained impersonation (spec.allowedActions set): the requests the impersonators may make as
   * their targets. Absent: classic, unconstrained impersonation.
   */
  constraint?: ImpersonationConstraint;
}

/** One permitted action in one scope (namespace absent: cluster-wide), canonical (sorted, unique). */
export interface ScopedAction {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  namespace?: string;
}

/** The actions a constrained policy permits, sorted by scope then content. */
export interface ImpersonationConstraint {
  actions: ScopedAction[];
}

/** What the core decided about a policy's spec, before looking at the cluster. */
export interface PolicyDecisions {
  grants: Grants;
  /** The role -> group mapping in force (provisioned roles only). */
  roleGroups: RoleGroup[];
  collisions: Collision[];
  denied: Denial[];
  /** Number of roles in the spec. */
  roleCount: number;
  /** Constrained policies: legacy grants that bypass the constraint (see decisions.ts). */
  constraintBypasses?: ConstraintBypass[];
}

/** An existing object at a generated name that is not this policy's: reported, never modified. */
export interface NameConflict {
  ref: ObjectRef;
  message: string;
}

/** An owned object to delete; `uid` lets the adapter delete with a precondition. */
export interface PruneTarget extends ObjectRef {
  uid?: string;
}

/** Labels on one of our objects that the operator did not put there (an aggregation label, say). */
export interface ForeignLabels extends ObjectRef {
  uid?: string;
  resourceVersion?: string;
  labels: string[];
}

/** An object of ours whose deletion was accepted but is held by finalizers: still in force. */
export interface TerminatingObject extends ObjectRef {
  finalizers: string[];
}

/** What to do to make the cluster match the policy. */
export interface PolicyPlan {
  decisions: PolicyDecisions;
  /** Every object the policy should own, canonical and complete. */
  desired: RbacObject[];
  /** Missing or drifted: server-side apply these (field manager impersonation-operator, force). */
  apply: RbacObject[];
  /** A binding whose roleRef changed (immutable): delete the existing object, then create this one. */
  replace: RbacObject[];
  /** Ours by our record (label + policy-uid annotation; or an orphan of an earlier uid), not desired: delete. */
  prune: PruneTarget[];
  /** Desired names taken by objects that are not ours: left alone and reported. */
  conflicts: NameConflict[];
  /** Desired bindings held back because the Role/ClusterRole they reference is a conflict. */
  withheld: ObjectRef[];
  /** Desired and already in place: nothing to do. */
  unchanged: ObjectRef[];
  /**
   * Writes that only take access away, done before anything widens (revoke before grant): drifted
   * objects whose desired content is a subset of what is there, and, for an update that both removes
   * and adds, the intersection of old and new (the full object then follows in `apply`).
   */
  narrow?: RbacObject[];
  /** Foreign labels to strip from our objects (server-side apply does not remove another manager's). */
  foreignLabels?: ForeignLabels[];
  /** Ours, no longer desired, deletion accepted but held by a foreign finalizer: still in force. */
  terminating?: TerminatingObject[];
  /**
   * Created by the operator for this policy (listed in the last status.inventory), still there, but
   * stripped of our labels or record (or replaced): out of our reach, possibly still in force.
   */
  unmanaged?: ObjectRef[];
}

/** A failed action, reported back by the controller for status. */
export interface ActFailure {
  ref: ObjectRef;
  operation: 'apply' | 'replace' | 'prune';
  message: string;
  /**
   * Set when the API server refused for good (RBAC escalation check, admission): what is missing and
   * how to fix it. Such a failure makes the policy Stalled; it is re-checked on a long period.
   */
  refusal?: string;
}
