// Role names that map to one group, within a policy and across policies.
//
// Cross-policy decision: two DIFFERENT raw role names from different policies that normalize to
// the same group fail closed in every policy involved, exactly like a collision within a policy.
// RBAC bindings are keyed by group name cluster-wide, so if policy A maps "My-Role" and policy B
// maps "My role" to `my-role`, whoever may assert `my-role` for either receives both policies'
// grants: members of one external role silently get another's rights. The SAME raw role name in
// two policies is not a collision: it names the same external role, and the union of its grants
// is what the two policies say.
//
// Everything is judged on the FINAL group name (normalization, then spec.groupPrefix): policies with
// different prefixes do not collide unless prefix and name happen to spell the same final group, and
// then they do, since RBAC only sees that name.

import type { Collision, ImpersonationPolicySpec } from '../api/index.js';
import { roleGroupName } from './normalize.js';
import type { PeerPolicy } from './types.js';

/** The parts of a spec that decide a role's final group name. */
export type GroupMapping = Pick<ImpersonationPolicySpec, 'roles' | 'groupNameNormalization' | 'groupPrefix'>;

export interface RoleGroupPair {
  role: string;
  group: string;
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Each role of the spec with its final group name (normalized, then prefixed), in spec order. */
export function roleGroupPairs(spec: GroupMapping): RoleGroupPair[] {
  return spec.roles.map((r) => ({
    role: r.name,
    group: roleGroupName(r.name, spec),
  }));
}

/** The role-derived groups of a spec, sorted and de-duplicated (handy to find affected peers). */
export function derivedGroups(spec: GroupMapping): string[] {
  return [...new Set(roleGroupPairs(spec).map((p) => p.group))].sort(byString);
}

function rolesByGroup(pairs: readonly RoleGroupPair[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const { role, group } of pairs) {
    const roles = map.get(group) ?? [];
    if (!roles.includes(role)) roles.push(role);
    map.set(group, roles);
  }
  return map;
}

/**
 * Collisions for one policy: one WithinPolicy entry per group that two or more of its role names
 * map to, and one AcrossPolicies entry per group that one of its role names and a different role
 * name of another policy map to. Sorted by group, then scope. Peers named like `self` are ignored.
 */
export function findCollisions(
  self: { name: string; spec: GroupMapping },
  peers: readonly PeerPolicy[],
): Collision[] {
  const own = rolesByGroup(roleGroupPairs(self.spec));
  const collisions: Collision[] = [];
  for (const [group, roles] of own) {
    if (roles.length > 1) collisions.push({ group, scope: 'WithinPolicy', roles: [...roles].sort(byString) });
  }
  const across = new Map<string, { policy: string; role: string }[]>();
  for (const peer of peers) {
    if (peer.metadata.name === self.name) continue;
    for (const { role, group } of roleGroupPairs(peer.spec)) {
      const ownRoles = own.get(group);
      if (ownRoles === undefined) continue;
      const entries = across.get(group) ?? [];
      entries.push({ policy: peer.metadata.name, role });
      across.set(group, entries);
    }
  }
  for (const [group, others] of across) {
    const ownRoles = own.get(group) ?? [];
    const differs = others.some((o) => ownRoles.some((r) => r !== o.role));
    if (!differs) continue;
    const otherPolicies = [...new Map(others.map((o) => [`${o.policy}\u0000${o.role}`, o])).values()].sort(
      (a, b) => byString(a.policy, b.policy) || byString(a.role, b.role),
    );
    collisions.push({ group, scope: 'AcrossPolicies', roles: [...ownRoles].sort(byString), otherPolicies });
  }
  return collisions.sort((a, b) => byString(a.group, b.group) || byString(a.scope, b.scope));
}

/** The groups held back by these collisions. */
export function collidedGroups(collisions: readonly Collision[]): Set<string> {
  return new Set(collisions.map((c) => c.group));
}
