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
    rules: impersonationRules(grants),
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
