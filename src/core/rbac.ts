// Pure constructors of the desired RBAC objects: whole objects, labels and ownerReference included,
// rules and subjects canonical (sorted, de-duplicated) so a repeated server-side apply changes nothing.

import {
  groupBindingName,
  impersonatorName,
  ownerReference,
  policyAnnotations,
  policyLabels,
} from './names.js';
import { RBAC_API_VERSION, RBAC_GROUP } from './types.js';
import type {
  ClusterRole,
  ClusterRoleBinding,
  GeneratedMeta,
  GroupBinding,
  Grants,
  PolicyRule,
  RbacObject,
  Role,
  RoleBinding,
} from './types.js';

const AUTHENTICATION_GROUP = 'authentication.k8s.io';

export interface PolicyIdentity {
  name: string;
  uid: string;
}

function meta(policy: PolicyIdentity, name: string): GeneratedMeta {
  return {
    name,
    labels: policyLabels(policy.name),
    annotations: policyAnnotations(policy),
    ownerReferences: [ownerReference(policy)],
  };
}

const impersonate = (apiGroup: string, resource: string, resourceNames?: string[]): PolicyRule => ({
  apiGroups: [apiGroup],
  resources: [resource],
  verbs: ['impersonate'],
  ...(resourceNames === undefined ? {} : { resourceNames }),
});

/**
 * The cluster-wide impersonation rules: users, groups (core group) and uids, userextras/<key>
 * (authentication.k8s.io), each limited by resourceNames; the any-user opt-in is the one rule
 * without them. Service accounts are never here (see desiredServiceAccountRole).
 */
export function impersonationRules(grants: Grants): PolicyRule[] {
  const rules: PolicyRule[] = [];
  if (grants.groups.length > 0) rules.push(impersonate('', 'groups', grants.groups));
  if (grants.anyUser) rules.push(impersonate('', 'users'));
  else if (grants.users.length > 0) rules.push(impersonate('', 'users', grants.users));
  if (grants.uids.length > 0) rules.push(impersonate(AUTHENTICATION_GROUP, 'uids', grants.uids));
  for (const extra of grants.userExtras) {
    rules.push(impersonate(AUTHENTICATION_GROUP, `userextras/${extra.key}`, extra.values));
  }
  return rules;
}

export function desiredImpersonatorClusterRole(policy: PolicyIdentity, grants: Grants): ClusterRole {
  return {
    apiVersion: RBAC_API_VERSION,
    kind: 'ClusterRole',
    metadata: meta(policy, impersonatorName(policy.name)),
    rules: grants.constraint === undefined ? impersonationRules(grants) : constrainedClusterRules(grants),
  };
}

export function desiredImpersonatorClusterRoleBinding(
  policy: PolicyIdentity,
  grants: Grants,
): ClusterRoleBinding {
  const name = impersonatorName(policy.name);
  return {
    apiVersion: RBAC_API_VERSION,
    kind: 'ClusterRoleBinding',
    metadata: meta(policy, name),
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
    subjects: grants.impersonators,
  };
}

/** Service-account impersonation is authorized in the SA's namespace, so it is granted only there. */
export function desiredServiceAccountRole(policy: PolicyIdentity, namespace: string, names: string[]): Role {
  return {
    apiVersion: RBAC_API_VERSION,
    kind: 'Role',
    metadata: { ...meta(policy, impersonatorName(policy.name)), namespace },
    rules: [impersonate('', 'serviceaccounts', names)],
  };
}

/** A constrained policy's Role in one namespace: its service-account targets there, its actions there. */
export function desiredConstrainedRole(policy: PolicyIdentity, namespace: string, grants: Grants): Role {
  return {
    apiVersion: RBAC_API_VERSION,
    kind: 'Role',
    metadata: { ...meta(policy, impersonatorName(policy.name)), namespace },
    rules: constrainedNamespaceRules(grants, namespace),
  };
}

export function desiredServiceAccountRoleBinding(
  policy: PolicyIdentity,
  namespace: string,
  grants: Grants,
): RoleBinding {
  const name = impersonatorName(policy.name);
  return {
    apiVersion: RBAC_API_VERSION,
    kind: 'RoleBinding',
    metadata: { ...meta(policy, name), namespace },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name },
    subjects: grants.impersonators,
  };
}

export function desiredGroupBinding(
  policy: PolicyIdentity,
  binding: GroupBinding,
): ClusterRoleBinding | RoleBinding {
  const name = groupBindingName(policy.name, binding.group, binding.clusterRole);
  const roleRef = { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: binding.clusterRole } as const;
  const subjects = [{ kind: 'Group', apiGroup: RBAC_GROUP, name: binding.group } as const];
  return binding.namespace === undefined
    ? {
        apiVersion: RBAC_API_VERSION,
        kind: 'ClusterRoleBinding',
        metadata: meta(policy, name),
        roleRef,
        subjects,
      }
    : {
        apiVersion: RBAC_API_VERSION,
        kind: 'RoleBinding',
        metadata: { ...meta(policy, name), namespace: binding.namespace },
        roleRef,
        subjects,
      };
}

const KIND_ORDER: Record<RbacObject['kind'], number> = {
  ClusterRole: 0,
  ClusterRoleBinding: 1,
  Role: 2,
  RoleBinding: 3,
};

/** Sort key: kind, namespace, name. */
export function compareObjects(
  a: {
    kind: RbacObject['kind'];
    metadata?: { name?: string; namespace?: string };
    name?: string;
    namespace?: string;
  },
  b: typeof a,
): number {
  const an = a.metadata?.name ?? a.name ?? '';
  const bn = b.metadata?.name ?? b.name ?? '';
  const ans = a.metadata?.namespace ?? a.namespace ?? '';
  const bns = b.metadata?.namespace ?? b.namespace ?? '';
  return (
    KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
    (ans < bns ? -1 : ans > bns ? 1 : 0) ||
    (an < bn ? -1 : an > bn ? 1 : 0)
  );
}

/** Every object the grants call for, sorted by kind, namespace and name. No impersonators: nothing at all. */
export function desiredRbac(policy: PolicyIdentity, grants: Grants): RbacObject[] {
  if (grants.constraint !== undefined) return desiredConstrainedRbac(policy, grants);
  const objects: RbacObject[] = [];
  if (grants.impersonators.length > 0) {
    if (impersonationRules(grants).length > 0) {
      objects.push(desiredImpersonatorClusterRole(policy, grants));
      objects.push(desiredImpersonatorClusterRoleBinding(policy, grants));
    }
    for (const { namespace, names } of grants.serviceAccounts) {
      objects.push(desiredServiceAccountRole(policy, namespace, names));
      objects.push(desiredServiceAccountRoleBinding(policy, namespace, grants));
    }
    for (const binding of grants.bindings) objects.push(desiredGroupBinding(policy, binding));
  }
  return objects.sort(compareObjects);
}

// ---------------------------------------------------------------------------------------------
// Constrained impersonation (KEP-5284), as kube-apiserver's filters/impersonation checks it:
//   1. impersonate-on:<mode>:<verb> on the very request the impersonated user makes (its API group,
//      resource/subresource, name and namespace), mode user-info for users (and their groups, uid,
//      extras) and serviceaccount for a service account named alone;
//   2. impersonate:<mode> on each impersonated field, in API group authentication.k8s.io (users,
//      groups, uids, userextras/<key>; serviceaccounts in the account's namespace).
// Both must pass, or the server falls back to the legacy `impersonate` verb, which a constrained
// policy never grants.

/** The verb prefix of each constrained mode the operator generates (nodes are never targets here). */
export const USER_INFO_MODE = 'user-info';
export const SERVICE_ACCOUNT_MODE = 'serviceaccount';

const constrained = (mode: string, resource: string, resourceNames?: string[]): PolicyRule => ({
  apiGroups: [AUTHENTICATION_GROUP],
  resources: [resource],
  verbs: [`impersonate:${mode}`],
  ...(resourceNames === undefined ? {} : { resourceNames }),
});

/** Does the policy impersonate anything through user-info mode (a user name, and what it asserts)? */
function hasUserInfoTargets(grants: Grants): boolean {
  return (
    grants.anyUser ||
    grants.users.length > 0 ||
    grants.groups.length > 0 ||
    grants.uids.length > 0 ||
    grants.userExtras.length > 0
  );
}

/** The modes whose impersonate-on verbs the actions are granted in. */
export function constrainedModes(grants: Grants): string[] {
  const modes: string[] = [];
  if (hasUserInfoTargets(grants)) modes.push(USER_INFO_MODE);
  if (grants.serviceAccounts.length > 0) modes.push(SERVICE_ACCOUNT_MODE);
  return modes;
}

/** The user-info target rules: impersonate:user-info on exactly the targets (any user: the opt-in). */
export function constrainedTargetRules(grants: Grants): PolicyRule[] {
  const rules: PolicyRule[] = [];
  if (grants.groups.length > 0) rules.push(constrained(USER_INFO_MODE, 'groups', grants.groups));
  if (grants.anyUser) rules.push(constrained(USER_INFO_MODE, 'users'));
  else if (grants.users.length > 0) rules.push(constrained(USER_INFO_MODE, 'users', grants.users));
  if (grants.uids.length > 0) rules.push(constrained(USER_INFO_MODE, 'uids', grants.uids));
  for (const extra of grants.userExtras) {
    rules.push(constrained(USER_INFO_MODE, `userextras/${extra.key}`, extra.values));
  }
  return rules;
}

/** impersonate-on:<mode>:<verb> rules for the actions of one scope (namespace undefined: cluster-wide). */
export function actionRules(grants: Grants, namespace: string | undefined): PolicyRule[] {
  const modes = constrainedModes(grants);
  if (modes.length === 0) return [];
  return (grants.constraint?.actions ?? [])
    .filter((a) => a.namespace === namespace)
    .map((a) => ({
      apiGroups: a.apiGroups,
      resources: a.resources,
      verbs: modes.flatMap((mode) => a.verbs.map((verb) => `impersonate-on:${mode}:${verb}`)).sort(),
      ...(a.resourceNames.length === 0 ? {} : { resourceNames: a.resourceNames }),
    }));
}

/** The constrained ClusterRole: user-info targets, cluster-wide actions (only when there are targets). */
export function constrainedClusterRules(grants: Grants): PolicyRule[] {
  return [...constrainedTargetRules(grants), ...actionRules(grants, undefined)];
}

/** The constrained Role of one namespace: the service accounts there, the actions there. */
export function constrainedNamespaceRules(grants: Grants, namespace: string): PolicyRule[] {
  const names = grants.serviceAccounts.find((sa) => sa.namespace === namespace)?.names ?? [];
  return [
    ...(names.length > 0 ? [constrained(SERVICE_ACCOUNT_MODE, 'serviceaccounts', names)] : []),
    ...actionRules(grants, namespace),
  ];
}

/**
 * A constrained policy's objects: a ClusterRole and ClusterRoleBinding for the user-info targets and
 * the cluster-wide actions, a Role and RoleBinding in every namespace with a service-account target
 * or an action, and the role groups' bindings as for any policy. Without targets, no impersonation
 * rule at all (an impersonate-on rule alone lets nobody become anyone).
 */
function desiredConstrainedRbac(policy: PolicyIdentity, grants: Grants): RbacObject[] {
  const objects: RbacObject[] = [];
  if (grants.impersonators.length > 0 && constrainedModes(grants).length > 0) {
    if (constrainedClusterRules(grants).length > 0) {
      objects.push(desiredImpersonatorClusterRole(policy, grants));
      objects.push(desiredImpersonatorClusterRoleBinding(policy, grants));
    }
    const namespaces = new Set([
      ...grants.serviceAccounts.map((sa) => sa.namespace),
      ...(grants.constraint?.actions ?? []).flatMap((a) => (a.namespace === undefined ? [] : [a.namespace])),
    ]);
    for (const namespace of [...namespaces].sort()) {
      if (constrainedNamespaceRules(grants, namespace).length === 0) continue;
      objects.push(desiredConstrainedRole(policy, namespace, grants));
      objects.push(desiredServiceAccountRoleBinding(policy, namespace, grants));
    }
    for (const binding of grants.bindings) objects.push(desiredGroupBinding(policy, binding));
  }
  return objects.sort(compareObjects);
}
