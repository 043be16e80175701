// Deterministic, valid, collision-free names for generated objects, and their labels and owner.

import { createHash } from 'node:crypto';
import {
  API_VERSION,
  DNS_SUBDOMAIN,
  GROUP,
  KIND,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  POLICY_LABEL,
} from '../api/index.js';
import type { OwnerReference } from './types.js';

export const MAX_NAME_LENGTH = 253;
/** Hex characters of SHA-256 appended to every generated name (40 bits). */
export const HASH_LENGTH = 10;
export const NAME_PREFIX = 'imppol';

export function isDnsSubdomain(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && DNS_SUBDOMAIN.test(name);
}

/** Lower-case, anything but [a-z0-9] becomes one hyphen, no hyphen at either end. */
function readable(part: string): string {
  return part
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * `<prefix>-<readable parts>-<hash>`. The readable part is lossy (and truncated to fit 253), so
 * the hash of the exact, unambiguously encoded inputs is what keeps two inputs apart: a plain
 * concatenation would give `a-b`+`c` and `a`+`b-c` one name.
 */
export function canonicalName(prefix: string, parts: readonly string[]): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([prefix, ...parts]))
    .digest('hex')
    .slice(0, HASH_LENGTH);
  const head = [readable(prefix), ...parts.map(readable)].filter((p) => p !== '').join('-');
  const room = MAX_NAME_LENGTH - HASH_LENGTH - 1;
  const trimmed = head.slice(0, room).replace(/-+$/, '');
  return trimmed === '' ? hash : `${trimmed}-${hash}`;
}

/** The ClusterRole, ClusterRoleBinding, and per-namespace Role and RoleBinding that grant impersonation. */
export function impersonatorName(policy: string): string {
  return canonicalName(NAME_PREFIX, [policy, 'impersonators']);
}

/** The binding of a role-derived group to a target ClusterRole (cluster-wide or in one namespace). */
export function groupBindingName(policy: string, group: string, clusterRole: string): string {
  return canonicalName(NAME_PREFIX, [policy, 'group', group, clusterRole]);
}

/**
 * The operator's ownership record on every object it creates: the uid of the policy it was created for.
 * Why an annotation and not the ownerReference: the API server's RBAC escalation check exempts a
 * change that touches only ownerReferences and finalizers, so anyone with `patch` (and, under the
 * OwnerReferencesPermissionEnforcement plugin, `delete`) can strip an ownerReference; labels and
 * annotations of a role or binding can be changed only by someone who may already grant what it
 * grants. So an object is ours when it carries our policy label and this annotation with the policy's
 * uid, whatever happened to its ownerReferences (a missing one is drift we repair), and an object at
 * one of our names without it is never adopted. It also outlives the policy: objects whose policy uid
 * no longer exists are orphans that any operator removes, also when the policy went while none ran.
 */
export const OWNER_UID_ANNOTATION = `${GROUP}/policy-uid`;

export function policyAnnotations(policy: { uid: string }): Record<string, string> {
  return { [OWNER_UID_ANNOTATION]: policy.uid };
}

export function policyLabels(policy: string): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [POLICY_LABEL]: policy };
}

/** Label selector matching everything generated for one policy (or, without a name, for any). */
export function policyLabelSelector(policy?: string): string {
  const managed = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
  return policy === undefined ? managed : `${managed},${POLICY_LABEL}=${policy}`;
}

export function ownerReference(policy: { name: string; uid: string }): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: policy.name,
    uid: policy.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}
