// Which identities and ClusterRoles a policy may use. The CRD's CEL rules reject what they can at
// admission; these checks repeat the absolute ones (defence in depth) and add the ones that depend
// on the operator's configuration.

import { ANONYMOUS_USER, EVERYONE_GROUPS, FORBIDDEN_IDENTITIES, isSystemName } from '../api/index.js';
import type { CoreConfig } from './config.js';

export type DenialReason =
  | 'ForbiddenIdentity'
  | 'SystemIdentityNotAllowed'
  | 'DeniedClusterRole'
  | 'EveryoneImpersonator'
  | 'CollidingGroup'
  | 'NoPermittedClusterRoles'
  | 'SystemBindingSubject'
  | 'SystemImpersonator'
  | 'ProtectedNamespace'
  | 'PowerfulClusterRole'
  | 'UnknownClusterRole'
  | 'PowerfulTarget'
  | 'AnyUserNotEnabled'
  | 'PowerfulAction'
  | 'ConstrainedImpersonationUnavailable';

export type Verdict = { allowed: true } | { allowed: false; reason: DenialReason; message: string };

const ALLOWED: Verdict = { allowed: true };

export function isForbiddenIdentity(name: string): boolean {
  return FORBIDDEN_IDENTITIES.includes(name);
}

/** May the impersonators become (or assert) this user or group name? */
export function identityVerdict(name: string, config: CoreConfig): Verdict {
  if (isForbiddenIdentity(name)) {
    return {
      allowed: false,
      reason: 'ForbiddenIdentity',
      message: `'${name}' can never be impersonated, whatever the operator's configuration says`,
    };
  }
  if (name.startsWith('system:') && !config.allowedSystemIdentities.includes(name)) {
    return {
      allowed: false,
      reason: 'SystemIdentityNotAllowed',
      message:
        `'${name}' is a system: identity that is not on the operator's allow list ` +
        `(allowed: ${config.allowedSystemIdentities.join(', ') || 'none'}); remove it or ask the operator's admins`,
    };
  }
  return ALLOWED;
}

/** May a role's group be bound to this ClusterRole? */
export function clusterRoleVerdict(name: string, config: CoreConfig): Verdict {
  return config.deniedClusterRoles.includes(name)
    ? {
        allowed: false,
        reason: 'DeniedClusterRole',
        message: `ClusterRole '${name}' is on the operator's deny list; bind a narrower ClusterRole`,
      }
    : ALLOWED;
}

/**
 * May this group be the subject of a binding to a ClusterRole? Never a `system:` group in any
 * letter case, whatever the allow list says: that list is for impersonation targets, and a binding
 * to `system:authenticated` would grant the ClusterRole to every client directly.
 */
export function bindingSubjectVerdict(group: string): Verdict {
  if (isForbiddenIdentity(group) || isSystemName(group)) {
    return {
      allowed: false,
      reason: 'SystemBindingSubject',
      message:
        `group '${group}' would be a binding subject; system: groups (and '*') never are, because their ` +
        'members are clients nobody impersonates (system:authenticated is everyone); rename the role',
    };
  }
  return ALLOWED;
}

/**
 * May this subject impersonate? Never a forbidden name, never "everyone", never a `system:` user or
 * group (nodes, bootstrappers, every service account of a namespace, the control plane's users):
 * an impersonator is one proxy's or runner's identity. Service accounts are named by kind.
 */
export function impersonatorVerdict(kind: 'User' | 'Group' | 'ServiceAccount', name: string): Verdict {
  if (isForbiddenIdentity(name)) {
    return { allowed: false, reason: 'ForbiddenIdentity', message: `'${name}' may not be an impersonator` };
  }
  if ((kind === 'Group' && EVERYONE_GROUPS.includes(name)) || (kind === 'User' && name === ANONYMOUS_USER)) {
    return {
      allowed: false,
      reason: 'EveryoneImpersonator',
      message: `${kind} '${name}' stands for everyone and may not be an impersonator`,
    };
  }
  if (kind !== 'ServiceAccount' && isSystemName(name)) {
    return {
      allowed: false,
      reason: 'SystemImpersonator',
      message:
        `${kind} '${name}' is a system: identity and may not be an impersonator: it stands for many clients or ` +
        'for the control plane; name the proxy or runner itself (a service account as kind ServiceAccount)',
    };
  }
  return ALLOWED;
}

/** May the impersonators become service accounts of this namespace? Not of a protected one. */
export function serviceAccountNamespaceVerdict(namespace: string, config: CoreConfig): Verdict {
  if (config.protectedNamespaces.includes(namespace)) {
    return {
      allowed: false,
      reason: 'ProtectedNamespace',
      message:
        `namespace '${namespace}' is protected (the control plane's and the operator's own service accounts ` +
        `live there; protected: ${config.protectedNamespaces.join(', ')}); its service accounts are never targets ` +
        'unless the operator is started with a different --protected-namespaces',
    };
  }
  return ALLOWED;
}
