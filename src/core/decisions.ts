// Spec -> what may be provisioned: normalization, collisions and safety, decided once.

import type { Denial, DenialKind, RoleGroup } from '../api/index.js';
import { collidedGroups, findCollisions } from './collisions.js';
import type { CoreConfig } from './config.js';
import { normalizeRoleName } from './normalize.js';
import { clusterRoleVerdict, identityVerdict, impersonatorVerdict, isForbiddenIdentity } from './safety.js';
import type { Verdict } from './safety.js';
import { RBAC_GROUP } from './types.js';
import type { GroupBinding, PeerPolicy, PolicyDecisions, PolicyInput, Subject } from './types.js';

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sortedUnique = (values: Iterable<string>): string[] => [...new Set(values)].sort(byString);

function denial(
  kind: DenialKind,
  name: string,
  verdict: Verdict & { allowed: false },
  role?: string,
): Denial {
  return {
    kind,
    name,
    ...(role === undefined ? {} : { role }),
    reason: verdict.reason,
    message: verdict.message,
  };
}

function subjectKey(s: Subject): string {
  return `${s.kind}\u0000${s.namespace ?? ''}\u0000${s.name}`;
}

/** Sorted, de-duplicated RBAC subjects. */
export function canonicalSubjects(subjects: Iterable<Subject>): Subject[] {
  const map = new Map<string, Subject>();
  for (const s of subjects) map.set(subjectKey(s), s);
  return [...map.entries()].sort(([a], [b]) => byString(a, b)).map(([, s]) => s);
}

export function decidePolicy(
  policy: PolicyInput,
  peers: readonly PeerPolicy[],
  config: CoreConfig,
): PolicyDecisions {
  const { spec } = policy;
  const denied: Denial[] = [];

  const impersonators = canonicalSubjects(
    spec.impersonators.flatMap((i): Subject[] => {
      const verdict = impersonatorVerdict(i.kind, i.name);
      if (!verdict.allowed) {
        denied.push(denial('Impersonator', i.name, verdict));
        return [];
      }
      return [
        i.kind === 'ServiceAccount'
          ? { kind: 'ServiceAccount', name: i.name, namespace: i.namespace ?? '' }
          : { kind: i.kind, apiGroup: RBAC_GROUP, name: i.name },
      ];
    }),
  );

  const collisions = findCollisions({ name: policy.metadata.name, spec }, peers);
  const held = collidedGroups(collisions);

  // Roles: a group is provisioned when it is uncontested, a permitted identity, and bound to at
  // least one permitted ClusterRole. Anything refused is listed in `denied`, nothing is granted for it.
  const roleGroups: RoleGroup[] = [];
  const bindings: GroupBinding[] = [];
  const groups = new Set<string>();
  for (const role of spec.roles) {
    const group = normalizeRoleName(role.name, spec.groupNameNormalization);
    if (held.has(group)) continue;
    const verdict = identityVerdict(group, config);
    if (!verdict.allowed) {
      denied.push(denial('Group', group, verdict, role.name));
      continue;
    }
    const clusterRoles: string[] = [];
    for (const clusterRole of sortedUnique(role.clusterRoles)) {
      const crVerdict = clusterRoleVerdict(clusterRole, config);
      if (crVerdict.allowed) clusterRoles.push(clusterRole);
      else denied.push(denial('ClusterRole', clusterRole, crVerdict, role.name));
    }
    if (clusterRoles.length === 0) {
      denied.push(
        denial(
          'Group',
          group,
          {
            allowed: false,
            reason: 'NoPermittedClusterRoles',
            message: `role '${role.name}' has no ClusterRole the operator permits, so its group is not provisioned`,
          },
          role.name,
        ),
      );
      continue;
    }
    groups.add(group);
    roleGroups.push({ role: role.name, group, clusterRoles });
    const namespaces = sortedUnique(role.namespaces);
    for (const clusterRole of clusterRoles) {
      if (namespaces.length === 0) bindings.push({ role: role.name, group, clusterRole });
      else
        for (const namespace of namespaces) bindings.push({ role: role.name, group, clusterRole, namespace });
    }
  }

  for (const group of sortedUnique(spec.targets.groups)) {
    if (held.has(group)) {
      denied.push({
        kind: 'Group',
        name: group,
        reason: 'CollidingGroup',
        message: `group '${group}' is also a colliding role group (see status.collisions); it is held back`,
      });
      continue;
    }
    const verdict = identityVerdict(group, config);
    if (verdict.allowed) groups.add(group);
    else denied.push(denial('Group', group, verdict));
  }

  const anyUser = spec.targets.allowAnyUser;
  const users: string[] = [];
  if (!anyUser) {
    for (const user of sortedUnique(spec.targets.users)) {
      const verdict = identityVerdict(user, config);
      if (verdict.allowed) users.push(user);
      else denied.push(denial('User', user, verdict));
    }
  }

  const forbiddenValue = (kind: DenialKind, name: string): Denial => ({
    kind,
    name,
    reason: 'ForbiddenIdentity',
    message: `'*' is never granted; list literal values`,
  });
  const uids: string[] = [];
  for (const uid of sortedUnique(spec.targets.uids)) {
    if (isForbiddenIdentity(uid)) denied.push(forbiddenValue('UID', uid));
    else uids.push(uid);
  }
  const userExtras: { key: string; values: string[] }[] = [];
  const extraKeys = sortedUnique(spec.targets.userExtras.map((e) => e.key));
  for (const key of extraKeys) {
    const values: string[] = [];
    const all = spec.targets.userExtras.filter((e) => e.key === key).flatMap((e) => e.values);
    for (const value of sortedUnique(all)) {
      if (isForbiddenIdentity(value)) denied.push(forbiddenValue('UserExtra', `${key}=${value}`));
      else values.push(value);
    }
    if (values.length > 0) userExtras.push({ key, values });
  }

  const saByNamespace = new Map<string, Set<string>>();
  for (const sa of spec.targets.serviceAccounts) {
    const names = saByNamespace.get(sa.namespace) ?? new Set<string>();
    names.add(sa.name);
    saByNamespace.set(sa.namespace, names);
  }
  const serviceAccounts = [...saByNamespace.entries()]
    .sort(([a], [b]) => byString(a, b))
    .map(([namespace, names]) => ({ namespace, names: sortedUnique(names) }));

  return {
    grants: {
      impersonators,
      users,
      anyUser,
      groups: sortedUnique(groups),
      uids,
      userExtras,
      serviceAccounts,
      bindings: bindings.sort(
        (a, b) =>
          byString(a.group, b.group) ||
          byString(a.clusterRole, b.clusterRole) ||
          byString(a.namespace ?? '', b.namespace ?? ''),
      ),
    },
    roleGroups: roleGroups.sort((a, b) => byString(a.role, b.role)),
    collisions,
    denied: denied.sort(
      (a, b) =>
        byString(a.kind, b.kind) ||
        byString(a.name, b.name) ||
        byString(a.role ?? '', b.role ?? '') ||
        byString(a.reason, b.reason),
    ),
    roleCount: spec.roles.length,
  };
}
