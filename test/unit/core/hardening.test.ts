// The core's own refusals for what the CRD may not catch (defence in depth) and for what depends on
// the cluster: system: binding subjects and impersonators, protected namespaces, cluster-admin by
// another name (ClusterRole rules, targets' powers), the operator's any-user opt-in, and refused
// peers that must not hold back another policy's group.
import { describe, expect, it } from '@jest/globals';
import type { ImpersonationPolicySpec, ImpersonationPolicySpecInput } from '../../../src/api/index.js';
import {
  DEFAULT_CORE_CONFIG,
  dangerousPowersOf,
  decidePolicy,
  type ClusterFacts,
  type CoreConfig,
  type RuleLike,
} from '../../../src/core/index.js';
import { peer, proxy, spec } from './helpers.js';

/** A spec the CRD would refuse, built past zod to reach the core's own checks. */
function raw(
  input: ImpersonationPolicySpecInput,
  patch: Partial<ImpersonationPolicySpec>,
): ImpersonationPolicySpec {
  return { ...spec(input), ...patch };
}

const decide = (
  s: ImpersonationPolicySpec,
  facts: ClusterFacts = {},
  config: CoreConfig = DEFAULT_CORE_CONFIG,
  peers = [] as Parameters<typeof decidePolicy>[1],
) => decidePolicy({ metadata: { name: 'p', uid: 'uid-p' }, spec: s }, peers, config, facts);

const reasons = (d: ReturnType<typeof decide>) => d.denied.map((x) => `${x.kind} ${x.name}: ${x.reason}`);

const VIEW: RuleLike[] = [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }];
const EDIT: RuleLike[] = [
  ...VIEW,
  { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['impersonate'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create'] },
];
const ADMIN_COPY: RuleLike[] = [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }];
const ESCALATOR: RuleLike[] = [
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['escalate'] },
];
const roles: Record<string, RuleLike[]> = {
  view: VIEW,
  edit: EDIT,
  'my-admin': ADMIN_COPY,
  escalator: ESCALATOR,
};
const facts: ClusterFacts = { clusterRole: (name) => roles[name] ?? null };

describe('binding subjects and impersonators', () => {
  it.each([
    'System:Authenticated',
    'system:authenticated',
    'SYSTEM:nodes',
    'system:serviceaccounts:kube-system',
  ])('never binds the role group of %s, whatever the allow list says', (name) => {
    const s = raw(
      { impersonators: [...proxy] },
      { roles: [{ name, clusterRoles: ['view'], namespaces: [] }] },
    );
    const permissive = {
      ...DEFAULT_CORE_CONFIG,
      allowedSystemIdentities: ['system:authenticated', 'system:nodes'],
    };
    const d = decide(s, {}, permissive);
    expect(d.grants.bindings).toEqual([]);
    expect(d.grants.groups).toEqual([]);
    expect(d.denied.map((x) => x.reason)).toEqual(['SystemBindingSubject']);
  });

  it.each([
    ['Group', 'system:serviceaccounts:team-a'],
    ['Group', 'system:nodes'],
    ['Group', 'system:bootstrappers'],
    ['User', 'system:kube-controller-manager'],
    ['User', 'system:serviceaccount:ns:proxy'],
    ['User', 'System:Anonymous'],
  ] as const)('refuses impersonator %s %s', (kind, name) => {
    const s = raw(
      { impersonators: [...proxy], targets: { users: ['alice'] } },
      { impersonators: [{ kind, name }] },
    );
    const d = decide(s);
    expect(d.grants.impersonators).toEqual([]);
    expect(d.denied.map((x) => x.reason)).toEqual(['SystemImpersonator']);
  });

  it('keeps service-account impersonators (named by kind)', () => {
    const d = decide(
      spec({
        impersonators: [{ kind: 'ServiceAccount', namespace: 'ci', name: 'runner' }],
        targets: { users: ['a'] },
      }),
    );
    expect(d.denied).toEqual([]);
    expect(d.grants.impersonators).toHaveLength(1);
  });
});

describe('protected namespaces and the any-user opt-in', () => {
  it('refuses service-account targets in protected namespaces and keeps the rest', () => {
    const d = decide(
      spec({
        impersonators: [...proxy],
        targets: {
          serviceAccounts: [
            { namespace: 'kube-system', name: 'clusterrole-aggregation-controller' },
            { namespace: 'kube-public', name: 'default' },
            { namespace: 'operator-ns', name: 'impersonation-operator' },
            { namespace: 'team-a', name: 'deployer' },
          ],
        },
      }),
      {},
      {
        ...DEFAULT_CORE_CONFIG,
        protectedNamespaces: [...DEFAULT_CORE_CONFIG.protectedNamespaces, 'operator-ns'],
      },
    );
    expect(d.grants.serviceAccounts).toEqual([{ namespace: 'team-a', names: ['deployer'] }]);
    expect(reasons(d)).toEqual([
      'ServiceAccount kube-public/default: ProtectedNamespace',
      'ServiceAccount kube-system/clusterrole-aggregation-controller: ProtectedNamespace',
      'ServiceAccount operator-ns/impersonation-operator: ProtectedNamespace',
    ]);
  });

  it('grants allowAnyUser only with the operator opt-in', () => {
    const s = spec({ impersonators: [...proxy], targets: { allowAnyUser: true } });
    const off = decide(s);
    expect(off.grants.anyUser).toBe(false);
    expect(reasons(off)).toEqual(['User *: AnyUserNotEnabled']);
    const on = decide(s, {}, { ...DEFAULT_CORE_CONFIG, allowAnyUser: true });
    expect(on.grants.anyUser).toBe(true);
    expect(on.denied).toEqual([]);
  });
});

describe('cluster-admin by another name', () => {
  it.each([
    { name: 'view cluster-wide', rules: VIEW, scope: { cluster: true } as const, expected: [] },
    {
      name: 'edit in an ordinary namespace',
      rules: EDIT,
      scope: { cluster: false, namespace: 'a', protected: false } as const,
      expected: [],
    },
    {
      name: 'edit cluster-wide',
      rules: EDIT,
      scope: { cluster: true } as const,
      expected: ['impersonate on serviceaccounts in every namespace', 'get on secrets in every namespace'],
    },
    {
      name: 'edit in kube-system',
      rules: EDIT,
      scope: { cluster: false, namespace: 'kube-system', protected: true } as const,
      expected: ['impersonate on serviceaccounts in every namespace', 'get on secrets in every namespace'],
    },
    {
      name: 'a copy of cluster-admin',
      rules: ADMIN_COPY,
      scope: { cluster: true } as const,
      expected: expect.arrayContaining([
        'every verb on every resource',
        'escalate on clusterroles',
        'bind on clusterroles',
      ]),
    },
    {
      name: 'escalate',
      rules: ESCALATOR,
      scope: { cluster: true } as const,
      expected: ['escalate on clusterroles'],
    },
    {
      name: 'impersonate limited by resourceNames',
      rules: [{ apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: ['alice'] }],
      scope: { cluster: true } as const,
      expected: [],
    },
    {
      name: 'constrained impersonation verbs',
      rules: [
        { apiGroups: ['authentication.k8s.io'], resources: ['users'], verbs: ['impersonate:user-info'] },
      ],
      scope: { cluster: true } as const,
      expected: ['constrained impersonation (impersonate:user-info) on users'],
    },
    {
      name: 'cluster-wide RBAC writes',
      rules: [
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterrolebindings'], verbs: ['create'] },
      ],
      scope: { cluster: true } as const,
      expected: ['create on clusterrolebindings (cluster-wide RBAC writes)'],
    },
  ])('$name', ({ rules, scope, expected }) => {
    expect(dangerousPowersOf(rules, scope)).toEqual(expected);
  });

  it('refuses powerful and unknown ClusterRoles per scope, binds the rest', () => {
    const d = decide(
      spec({
        impersonators: [...proxy],
        roles: [
          { name: 'Admins', clusterRoles: ['my-admin', 'view'] },
          { name: 'Devs', clusterRoles: ['edit'], namespaces: ['team-a', 'kube-system'] },
          { name: 'Ghosts', clusterRoles: ['not-there'] },
          { name: 'Editors', clusterRoles: ['edit'] },
        ],
      }),
      facts,
    );
    expect(d.grants.bindings).toEqual([
      { role: 'Admins', group: 'admins', clusterRole: 'view' },
      { role: 'Devs', group: 'devs', clusterRole: 'edit', namespace: 'team-a' },
    ]);
    expect(reasons(d)).toEqual([
      'ClusterRole edit: PowerfulClusterRole',
      'ClusterRole edit: PowerfulClusterRole',
      'ClusterRole my-admin: PowerfulClusterRole',
      'ClusterRole not-there: UnknownClusterRole',
      'Group editors: NoPermittedClusterRoles',
      'Group ghosts: NoPermittedClusterRoles',
    ]);
    expect(d.denied.find((x) => x.name === 'my-admin')?.message).toContain('every verb on every resource');
  });

  it('refuses targets the API server says are powerful', () => {
    const powerful = new Set([
      'User/root@example.com',
      'Group/kubeadm:cluster-admins',
      'ServiceAccount/team-a/ci-admin',
    ]);
    const d = decide(
      spec({
        impersonators: [...proxy],
        targets: {
          users: ['root@example.com', 'alice'],
          groups: ['kubeadm:cluster-admins', 'devs'],
          serviceAccounts: [
            { namespace: 'team-a', name: 'ci-admin' },
            { namespace: 'team-a', name: 'deployer' },
          ],
        },
        roles: [{ name: 'kubeadm:cluster-admins', clusterRoles: ['view'] }],
      }),
      {
        ...facts,
        targetPowers: (t) => {
          const key =
            t.kind === 'ServiceAccount' ? `${t.kind}/${t.namespace}/${t.name}` : `${t.kind}/${t.name}`;
          return powerful.has(key) ? ['every verb on every resource'] : [];
        },
      },
    );
    expect(d.grants.users).toEqual(['alice']);
    expect(d.grants.groups).toEqual(['devs']);
    expect(d.grants.bindings).toEqual([]);
    expect(d.grants.serviceAccounts).toEqual([{ namespace: 'team-a', names: ['deployer'] }]);
    expect(reasons(d)).toEqual([
      'Group kubeadm:cluster-admins: PowerfulTarget',
      'Group kubeadm:cluster-admins: PowerfulTarget',
      'ServiceAccount team-a/ci-admin: PowerfulTarget',
      'User root@example.com: PowerfulTarget',
    ]);
  });
});

describe('refused peers do not hold back groups', () => {
  const mine = spec({ impersonators: [...proxy], roles: [{ name: 'Team A', clusterRoles: ['view'] }] });

  it('a peer whose colliding role is refused is no peer', () => {
    const refusedRole = peer('other', {
      impersonators: [...proxy],
      roles: [{ name: 'team a', clusterRoles: ['cluster-admin'] }],
    });
    expect(decide(mine, facts, DEFAULT_CORE_CONFIG, [refusedRole]).collisions).toEqual([]);
    const powerfulRole = peer('other', {
      impersonators: [...proxy],
      roles: [{ name: 'team a', clusterRoles: ['my-admin'] }],
    });
    expect(decide(mine, facts, DEFAULT_CORE_CONFIG, [powerfulRole]).collisions).toEqual([]);
  });

  it('a peer with no permitted impersonator is no peer', () => {
    const s = raw(
      { impersonators: [...proxy], roles: [{ name: 'team a', clusterRoles: ['view'] }] },
      { impersonators: [{ kind: 'Group', name: 'system:nodes' }] },
    );
    expect(
      decide(mine, facts, DEFAULT_CORE_CONFIG, [{ metadata: { name: 'other' }, spec: s }]).collisions,
    ).toEqual([]);
  });

  it('a peer that would provision the colliding role still collides', () => {
    const live = peer('other', {
      impersonators: [...proxy],
      roles: [{ name: 'team a', clusterRoles: ['view'] }],
    });
    const d = decide(mine, facts, DEFAULT_CORE_CONFIG, [live]);
    expect(d.collisions.map((c) => c.group)).toEqual(['team-a']);
    expect(d.grants.bindings).toEqual([]);
  });
});
