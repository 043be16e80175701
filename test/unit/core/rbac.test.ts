// Spec -> desired RBAC: the exact objects, canonical and complete.

import { describe, expect, it } from '@jest/globals';
import type { ImpersonationPolicySpecInput } from '../../../src/api/index.js';
import type { CoreConfig, RbacObject } from '../../../src/core/index.js';
import {
  DEFAULT_CORE_CONFIG,
  decidePolicy,
  desiredRbac,
  groupBindingName,
  impersonatorName,
} from '../../../src/core/index.js';
import { policy, proxy } from './helpers.js';

const RBAC = 'rbac.authorization.k8s.io';
const V1 = 'rbac.authorization.k8s.io/v1';
const metadata = (name: string, namespace?: string) => ({
  name,
  ...(namespace === undefined ? {} : { namespace }),
  labels: {
    'app.kubernetes.io/managed-by': 'impersonation-operator',
    'impersonation-operator.io/policy': 'p',
  },
  annotations: { 'impersonation-operator.io/policy-uid': 'uid-p' },
  ownerReferences: [
    {
      apiVersion: 'impersonation-operator.io/v1alpha1',
      kind: 'ImpersonationPolicy',
      name: 'p',
      uid: 'uid-p',
      controller: true,
      blockOwnerDeletion: true,
    },
  ],
});
const IMP = impersonatorName('p');
const proxySubject = { kind: 'User', apiGroup: RBAC, name: 'proxy' } as const;
const impersonatorRole = (rules: unknown[]) => ({
  apiVersion: V1,
  kind: 'ClusterRole',
  metadata: metadata(IMP),
  rules,
});
const impersonatorBinding = (subjects: unknown[] = [proxySubject]) => ({
  apiVersion: V1,
  kind: 'ClusterRoleBinding',
  metadata: metadata(IMP),
  roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: IMP },
  subjects,
});
const groupBinding = (group: string, clusterRole: string, namespace?: string) => ({
  apiVersion: V1,
  kind: namespace === undefined ? 'ClusterRoleBinding' : 'RoleBinding',
  metadata: metadata(groupBindingName('p', group, clusterRole), namespace),
  roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: clusterRole },
  subjects: [{ kind: 'Group', apiGroup: RBAC, name: group }],
});
const rule = (apiGroup: string, resource: string, resourceNames?: string[]) => ({
  apiGroups: [apiGroup],
  resources: [resource],
  verbs: ['impersonate'],
  ...(resourceNames === undefined ? {} : { resourceNames }),
});

function desired(
  input: ImpersonationPolicySpecInput,
  config: CoreConfig = DEFAULT_CORE_CONFIG,
): RbacObject[] {
  const p = policy('p', input);
  return desiredRbac({ name: 'p', uid: 'uid-p' }, decidePolicy(p, [], config).grants);
}

describe('desired RBAC', () => {
  it.each<{ name: string; given: ImpersonationPolicySpecInput; expected: unknown[] }>([
    {
      name: 'access proxy: users, literal and role groups; cluster-wide and namespaced bindings',
      given: {
        impersonators: [...proxy],
        targets: {
          users: ['bob@example.com', 'alice@example.com'],
          groups: ['system:authenticated'],
        },
        roles: [
          { name: 'SRE On Call', clusterRoles: ['view'] },
          { name: 'Developers', clusterRoles: ['edit', 'view'], namespaces: ['team-b', 'team-a'] },
        ],
      },
      expected: [
        impersonatorRole([
          rule('', 'groups', ['developers', 'sre-on-call', 'system:authenticated']),
          rule('', 'users', ['alice@example.com', 'bob@example.com']),
        ]),
        groupBinding('sre-on-call', 'view'),
        impersonatorBinding(),
        groupBinding('developers', 'edit', 'team-a'),
        groupBinding('developers', 'view', 'team-a'),
        groupBinding('developers', 'edit', 'team-b'),
        groupBinding('developers', 'view', 'team-b'),
      ].sort(byKindNamespaceName),
    },
    {
      name: 'CI/CD: a service account is granted in its own namespace only, never cluster-wide',
      given: {
        impersonators: [{ kind: 'ServiceAccount', namespace: 'kube-system', name: 'cicd-agent' }],
        targets: { serviceAccounts: [{ namespace: 'my-namespace', name: 'deployer' }] },
      },
      expected: [
        {
          apiVersion: V1,
          kind: 'Role',
          metadata: metadata(IMP, 'my-namespace'),
          rules: [rule('', 'serviceaccounts', ['deployer'])],
        },
        {
          apiVersion: V1,
          kind: 'RoleBinding',
          metadata: metadata(IMP, 'my-namespace'),
          roleRef: { apiGroup: RBAC, kind: 'Role', name: IMP },
          subjects: [{ kind: 'ServiceAccount', name: 'cicd-agent', namespace: 'kube-system' }],
        },
      ],
    },
    {
      name: 'service accounts in several namespaces: one Role per namespace',
      given: {
        impersonators: [...proxy],
        targets: {
          serviceAccounts: [
            { namespace: 'b', name: 'x' },
            { namespace: 'a', name: 'z' },
            { namespace: 'a', name: 'y' },
          ],
        },
      },
      expected: [
        {
          apiVersion: V1,
          kind: 'Role',
          metadata: metadata(IMP, 'a'),
          rules: [rule('', 'serviceaccounts', ['y', 'z'])],
        },
        {
          apiVersion: V1,
          kind: 'Role',
          metadata: metadata(IMP, 'b'),
          rules: [rule('', 'serviceaccounts', ['x'])],
        },
        {
          apiVersion: V1,
          kind: 'RoleBinding',
          metadata: metadata(IMP, 'a'),
          roleRef: { apiGroup: RBAC, kind: 'Role', name: IMP },
          subjects: [proxySubject],
        },
        {
          apiVersion: V1,
          kind: 'RoleBinding',
          metadata: metadata(IMP, 'b'),
          roleRef: { apiGroup: RBAC, kind: 'Role', name: IMP },
          subjects: [proxySubject],
        },
      ],
    },
    {
      name: 'the any-user opt-in is the one rule without resourceNames',
      given: { impersonators: [...proxy], targets: { allowAnyUser: true, users: ['alice@example.com'] } },
      expected: [impersonatorRole([rule('', 'users')]), impersonatorBinding()],
    },
    {
      name: 'uids and user extras live in authentication.k8s.io',
      given: {
        impersonators: [...proxy],
        targets: {
          uids: ['u-2', 'u-1'],
          userExtras: [
            { key: 'scopes', values: ['write', 'view'] },
            { key: 'authentication.kubernetes.io/credential-id', values: ['x'] },
          ],
        },
      },
      expected: [
        impersonatorRole([
          rule('authentication.k8s.io', 'uids', ['u-1', 'u-2']),
          rule('authentication.k8s.io', 'userextras/authentication.kubernetes.io/credential-id', ['x']),
          rule('authentication.k8s.io', 'userextras/scopes', ['view', 'write']),
        ]),
        impersonatorBinding(),
      ],
    },
    {
      name: 'impersonators are sorted and de-duplicated',
      given: {
        impersonators: [
          { kind: 'User', name: 'proxy' },
          { kind: 'ServiceAccount', namespace: 'ci', name: 'runner' },
          { kind: 'Group', name: 'proxies' },
          { kind: 'User', name: 'proxy' },
        ],
        targets: { users: ['alice@example.com'] },
      },
      expected: [
        impersonatorRole([rule('', 'users', ['alice@example.com'])]),
        impersonatorBinding([
          { kind: 'Group', apiGroup: RBAC, name: 'proxies' },
          { kind: 'ServiceAccount', name: 'runner', namespace: 'ci' },
          proxySubject,
        ]),
      ],
    },
    {
      name: 'colliding roles are held back, the rest is provisioned',
      given: {
        impersonators: [...proxy],
        targets: { groups: ['myrole'] },
        roles: [
          { name: 'MyRole', clusterRoles: ['edit'] },
          { name: 'myrole', clusterRoles: ['view'] },
          { name: 'Readers', clusterRoles: ['view'] },
        ],
      },
      expected: [
        impersonatorRole([rule('', 'groups', ['readers'])]),
        groupBinding('readers', 'view'),
        impersonatorBinding(),
      ],
    },
    {
      name: 'denied ClusterRoles and system: identities are refused, the rest is provisioned',
      given: {
        impersonators: [...proxy],
        targets: { users: ['system:kube-scheduler', 'alice@example.com'], groups: ['system:nodes'] },
        roles: [
          { name: 'Admins', clusterRoles: ['cluster-admin', 'view'] },
          { name: 'Root', clusterRoles: ['cluster-admin'] },
        ],
      },
      expected: [
        impersonatorRole([rule('', 'groups', ['admins']), rule('', 'users', ['alice@example.com'])]),
        groupBinding('admins', 'view'),
        impersonatorBinding(),
      ],
    },
    {
      name: 'nothing to impersonate: no impersonator ClusterRole at all',
      given: { impersonators: [...proxy] },
      expected: [],
    },
  ])('$name', ({ given, expected }) => {
    expect(desired(given, { ...DEFAULT_CORE_CONFIG, allowAnyUser: true })).toEqual(expected);
  });

  it('follows the configured allow and deny lists', () => {
    const config: CoreConfig = {
      ...DEFAULT_CORE_CONFIG,
      deniedClusterRoles: ['edit'],
      allowedSystemIdentities: ['system:serviceaccounts'],
    };
    expect(
      desired(
        {
          impersonators: [...proxy],
          targets: { groups: ['system:serviceaccounts', 'system:authenticated'] },
          roles: [{ name: 'Admins', clusterRoles: ['cluster-admin', 'edit'] }],
        },
        config,
      ),
    ).toEqual([
      impersonatorRole([rule('', 'groups', ['admins', 'system:serviceaccounts'])]),
      groupBinding('admins', 'cluster-admin'),
      impersonatorBinding(),
    ]);
  });

  it('provisions nothing when every impersonator is refused (spec that bypassed admission)', () => {
    const p = policy('p', {
      impersonators: [...proxy],
      targets: { users: ['alice@example.com'] },
      roles: [{ name: 'R', clusterRoles: ['view'] }],
    });
    const bypassed = {
      ...p,
      spec: { ...p.spec, impersonators: [{ kind: 'Group' as const, name: 'system:authenticated' }] },
    };
    const decisions = decidePolicy(bypassed, [], DEFAULT_CORE_CONFIG);
    expect(desiredRbac({ name: 'p', uid: 'uid-p' }, decisions.grants)).toEqual([]);
    expect(decisions.denied).toEqual([
      {
        kind: 'Impersonator',
        name: 'system:authenticated',
        reason: 'EveryoneImpersonator',
        message: "Group 'system:authenticated' stands for everyone and may not be an impersonator",
      },
    ]);
  });
});

describe('decisions', () => {
  it('reports the mapping in force and every refusal with its reason', () => {
    const p = policy('p', {
      impersonators: [...proxy],
      targets: { users: ['system:kube-scheduler'], groups: ['system:nodes', 'myrole'], uids: ['u-1'] },
      roles: [
        { name: 'Admins', clusterRoles: ['cluster-admin', 'view'] },
        { name: 'Root', clusterRoles: ['cluster-admin'] },
        { name: 'MyRole', clusterRoles: ['view'] },
        { name: 'myrole', clusterRoles: ['view'] },
      ],
    });
    // '*' cannot pass admission; the core refuses it anyway.
    const bypassed = { ...p, spec: { ...p.spec, targets: { ...p.spec.targets, uids: ['*', 'u-1'] } } };
    const decisions = decidePolicy(bypassed, [], DEFAULT_CORE_CONFIG);
    expect(decisions.grants.uids).toEqual(['u-1']);
    expect(decisions.roleGroups).toEqual([{ role: 'Admins', group: 'admins', clusterRoles: ['view'] }]);
    expect(decisions.roleCount).toBe(4);
    expect(decisions.denied.map((d) => [d.kind, d.name, d.role, d.reason])).toEqual([
      ['ClusterRole', 'cluster-admin', 'Admins', 'DeniedClusterRole'],
      ['ClusterRole', 'cluster-admin', 'Root', 'DeniedClusterRole'],
      ['Group', 'myrole', undefined, 'CollidingGroup'],
      ['Group', 'root', 'Root', 'NoPermittedClusterRoles'],
      ['Group', 'system:nodes', undefined, 'SystemIdentityNotAllowed'],
      ['UID', '*', undefined, 'ForbiddenIdentity'],
      ['User', 'system:kube-scheduler', undefined, 'SystemIdentityNotAllowed'],
    ]);
  });
});

function byKindNamespaceName(
  a: { kind: string; metadata: { name: string; namespace?: string } },
  b: typeof a,
): number {
  const order = ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];
  const key = (o: typeof a) => [order.indexOf(o.kind), o.metadata.namespace ?? '', o.metadata.name] as const;
  const [ka, kb] = [key(a), key(b)];
  return ka[0] - kb[0] || ka[1].localeCompare(kb[1]) || (ka[2] < kb[2] ? -1 : ka[2] > kb[2] ? 1 : 0);
}
