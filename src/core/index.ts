// The pure planning core: ImpersonationPolicy spec -> desired RBAC, plan and status. No I/O, no
// clock, no logger. The controller's contract, per reconcile of one policy key:
//
//   1. gather (from informer caches, as plain data; never mutate cached objects):
//        spec = parsePolicySpec(policy.spec)                        (from src/api)
//        peers = every OTHER parsed policy that is not being deleted
//        observed = { clusterRoles, clusterRoleBindings, roles, roleBindings } from the cache
//          (at least: objects labelled POLICY_LABEL=<name>, and objects at generated names)
//   2. decide:
//        plan = spec.ok ? planPolicy({ policy: { metadata, spec: spec.value }, peers, config, observed })
//                       : planRemoval(metadata, observed)            (fail closed)
//   3. act (kube adapter), collecting ActFailure[] for what failed:
//        plan.replace: delete the existing object, then create the new one (roleRef is immutable);
//        plan.apply:   server-side apply, field manager FIELD_MANAGER, force: true;
//        plan.prune:   delete (with a uid precondition when given);
//        plan.conflicts / plan.withheld: touch nothing.
//   4. status = policyStatus({ generation, now, previous: policy.status, plan, failures,
//        invalidSpec: spec.ok ? undefined : spec.message });
//      write it through /status only if !sameStatus(status, policy.status).
//      Requeue with backoff when failures is non-empty.
//
// planPolicy = decidePolicy + desiredRbac + diffRbac; a controller whose caches are label-filtered
// may call them one by one (desired names first, then look those names up) — same result.
//
// Cross-policy collisions make a policy's outcome depend on its peers: when a policy's derived
// groups change (derivedGroups(spec), old and new), requeue the peers sharing any of them.

export type { CoreConfig } from './config.js';
export {
  DEFAULT_ALLOWED_SYSTEM_IDENTITIES,
  DEFAULT_CORE_CONFIG,
  DEFAULT_DENIED_CLUSTER_ROLES,
  DEFAULT_PROTECTED_NAMESPACES,
} from './config.js';
export { normalizeRoleName, roleGroupName } from './normalize.js';
export {
  MAX_LIFETIME_TIMER_MS,
  decidePolicyAt,
  inactiveDecisions,
  lifetimeMessage,
  lifetimeRequeueMs,
  lifetimeTransition,
  policyLifetime,
} from './lifetime.js';
export type { Lifetime, LifetimeSpec } from './lifetime.js';
export { collidedGroups, derivedGroups, findCollisions, roleGroupPairs } from './collisions.js';
export type { GroupMapping, RoleGroupPair } from './collisions.js';
export {
  canonicalSubjects,
  constrainedTargets,
  decideConstraint,
  decidePolicy,
  reviewTargets,
} from './decisions.js';
export type { ClusterFacts, ConstrainedSupport, TargetIdentity } from './decisions.js';
export { constraintConflicts } from './constraints.js';
export type { ConstraintConflict } from './constraints.js';
export { DANGEROUS_POWERS, dangerousPowersOf } from './powers.js';
export type { BindingScope, DangerousPower, RuleLike } from './powers.js';
export {
  HASH_LENGTH,
  MAX_NAME_LENGTH,
  NAME_PREFIX,
  canonicalName,
  groupBindingName,
  impersonatorName,
  isDnsSubdomain,
  OWNER_UID_ANNOTATION,
  ownerReference,
  policyAnnotations,
  policyLabelSelector,
  policyLabels,
} from './names.js';
export {
  bindingSubjectVerdict,
  clusterRoleVerdict,
  identityVerdict,
  impersonatorVerdict,
  isForbiddenIdentity,
  serviceAccountNamespaceVerdict,
} from './safety.js';
export type { DenialReason, Verdict } from './safety.js';
export {
  actionRules,
  compareObjects,
  constrainedClusterRules,
  constrainedModes,
  constrainedNamespaceRules,
  constrainedTargetRules,
  desiredConstrainedRole,
  desiredGroupBinding,
  desiredImpersonatorClusterRole,
  desiredImpersonatorClusterRoleBinding,
  desiredRbac,
  desiredServiceAccountRole,
  desiredServiceAccountRoleBinding,
  impersonationRules,
  SERVICE_ACCOUNT_MODE,
  USER_INFO_MODE,
} from './rbac.js';
export type { PolicyIdentity } from './rbac.js';
export { diffRbac, intersectionOf, isOwnedBy, isStaleFor, planPolicy, planRemoval, refOf } from './plan.js';
export type { PlanInput } from './plan.js';
export { STALLED_REASONS, condition, policyConditions, toRfc3339 } from './conditions.js';
export type { ConditionsInput, Problem, StalledReason } from './conditions.js';
export { policyStatus, sameStatus } from './status.js';
export type { StatusInput } from './status.js';
export * from './types.js';
export { policyEvents } from './events.js';
export type { PolicyEvent, PolicyEventInput } from './events.js';
