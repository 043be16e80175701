// Which identities and ClusterRoles a policy may use. The CRD's CEL rules reject what they can at
// admission; these checks repeat the absolute ones (defence in depth) and add the ones that depend
// on the operator's configuration.

import { ANONYMOUS_USER, EVERYONE_GROUPS, FORBIDDEN_IDENTITIES } from '../api/index.js';
import type { CoreConfig } from './config.js';

export type DenialReason =
  | 'ForbiddenIdentity'
  | 'SystemIdentityNotAllowed'
  | 'DeniedClusterRole'
  | 'EveryoneImpersonator'
  | 'CollidingGroup'
  | 'NoPermittedClusterRoles';

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

/** May this subject impersonate? Never a forbidden name, never "everyone". */
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
  return ALLOWED;
}
