// What each informer cache keeps of its objects (kube/compact.ts), named after the code that reads
// it. A field a reader needs must be listed here, or the reader sees it as absent.
import { MANAGED_BY_LABEL } from '../api/index.js';
import type { CompactShape } from '../kube/compact.js';

/**
 * ImpersonationPolicies: the spec (PolicyIndex.parse), the status (the reconciler's previous
 * status: inventory, conditions; its strings repeat across policies, so both are interned), and
 * identity (uid, generation, deletionTimestamp) plus the author stamp (AuthorCheck, PolicyIndex).
 * Labels and other annotations are kept: they are few.
 */
export const POLICY_SHAPE: CompactShape = { internedFields: ['spec', 'status'] };

/**
 * Our generated RBAC objects: core/plan.ts's ObservedObject (rules, roleRef, subjects, every label and
 * annotation for the drift check and foreign-label stripping, ownerReferences, uid,
 * deletionTimestamp, finalizers) and the reconciler's handlers (the policy label).
 */
export const MANAGED_RBAC_SHAPE: CompactShape = { internedFields: ['rules', 'roleRef', 'subjects'] };

/**
 * ClusterRoles we did not generate: only their rules (PowerIndex, the core's ClusterRole check) and
 * the managed-by label (the ClusterRole handler skips ours).
 */
export const FOREIGN_CLUSTER_ROLE_SHAPE: CompactShape = {
  internedFields: ['rules'],
  labels: [MANAGED_BY_LABEL],
  annotations: false,
  identity: false,
};

/** ClusterRoleBindings we did not generate: roleRef and subjects (PowerIndex). */
export const FOREIGN_BINDING_SHAPE: CompactShape = {
  internedFields: ['roleRef', 'subjects'],
  labels: [],
  annotations: false,
  identity: false,
};
