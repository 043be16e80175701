// Builders shared by the core's unit tests.

import { ImpersonationPolicySpecSchema } from '../../../src/api/index.js';
import type { ImpersonationPolicySpec, ImpersonationPolicySpecInput } from '../../../src/api/index.js';
import type { ObservedRbac, PeerPolicy, PolicyInput, RbacObject } from '../../../src/core/index.js';

/** A spec as the API server would hand it over: parsed, defaults filled in (throws if invalid). */
export function spec(input: ImpersonationPolicySpecInput): ImpersonationPolicySpec {
  return ImpersonationPolicySpecSchema.parse(input);
}

export function policy(name: string, input: ImpersonationPolicySpecInput, uid = `uid-${name}`): PolicyInput {
  return { metadata: { name, uid, generation: 1 }, spec: spec(input) };
}

export function peer(name: string, input: ImpersonationPolicySpecInput): PeerPolicy {
  return { metadata: { name }, spec: spec(input) };
}

export const proxy = [
  { kind: 'User', name: 'proxy' },
] as const satisfies ImpersonationPolicySpecInput['impersonators'];

export const NOTHING_OBSERVED: ObservedRbac = {
  clusterRoles: [],
  clusterRoleBindings: [],
  roles: [],
  roleBindings: [],
};

/** The cache after the given objects were applied (plus the fields the API server adds). */
export function observedAfterApply(objects: readonly RbacObject[], uidPrefix = 'obj'): ObservedRbac {
  const withServerFields = (o: RbacObject, i: number) => ({
    ...structuredClone(o),
    metadata: {
      ...structuredClone(o.metadata),
      uid: `${uidPrefix}-${i}`,
      resourceVersion: '1',
      creationTimestamp: '2024-01-01T00:00:00Z',
      managedFields: [{ manager: 'impersonation-operator', operation: 'Apply' }],
    },
  });
  const all = objects.map(withServerFields);
  return {
    clusterRoles: all.filter((o) => o.kind === 'ClusterRole'),
    clusterRoleBindings: all.filter((o) => o.kind === 'ClusterRoleBinding'),
    roles: all.filter((o) => o.kind === 'Role'),
    roleBindings: all.filter((o) => o.kind === 'RoleBinding'),
  };
}
