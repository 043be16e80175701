// Group, version, kind and the well-known label keys of the ImpersonationPolicy API.

export const GROUP = 'impersonation-operator.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ImpersonationPolicy';
export const LIST_KIND = 'ImpersonationPolicyList';
export const PLURAL = 'impersonationpolicies';
export const SINGULAR = 'impersonationpolicy';
export const SHORT_NAMES = ['imppol'];
export const CATEGORIES = ['rbac'];
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** Server-side apply field manager for everything the operator writes. */
export const FIELD_MANAGER = 'impersonation-operator';

/** Labels carried by every generated object. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'impersonation-operator';
export const POLICY_LABEL = `${GROUP}/policy`;

/** Longest policy name: it is used verbatim as the value of POLICY_LABEL. */
export const MAX_POLICY_NAME_LENGTH = 63;

/**
 * Who last changed the policy's spec: the request's userInfo as JSON, stamped by the chart's
 * MutatingAdmissionPolicy (authors cannot set or swap it; see charts/.../author-stamp.yaml).
 */
export const AUTHOR_ANNOTATION = `${GROUP}/author`;
