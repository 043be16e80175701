// Constrained impersonation (spec.allowedActions): the RBAC a constrained policy turns into, and
// what it refuses. What the API server then decides is proven in test/integration/constrained.test.ts.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { AllowedAction, ImpersonationPolicySpecInput } from '../../../src/api/index.js';
import { ImpersonationPolicySpecSchema } from '../../../src/api/index.js';
import type { PolicyRule, RbacObject } from '../../../src/core/index.js';
import {
  DEFAULT_CORE_CONFIG,
  impersonatorName,
  planPolicy,
  policyStatus,
  type ClusterFacts,
} from '../../../src/core/index.js';
import { parseServerVersion, refusedByConstrainedFilter } from '../../../src/kube/constrained-probe.js';
import { NOTHING_OBSERVED, policy } from './helpers.js';

const plan = (input: ImpersonationPolicySpecInput, facts: ClusterFacts = {}) =>
  planPolicy({
    policy: policy('p', input),
    peers: [],
    config: DEFAULT_CORE_CONFIG,
    observed: NOTHING_OBSERVED,
    facts,
  });

const rulesOf = (objects: readonly RbacObject[]) =>
  objects.flatMap((o) =>
    'rules' in o ? o.rules.map((r) => ({ kind: o.kind, namespace: o.metadata.namespace, ...r })) : [],
  );

const deployAction = {
  verbs: ['create', 'patch', 'get'],
  apiGroups: ['apps'],
  resources: ['deployments'],
  namespaces: ['my-namespace'],
};

const ciRunner: ImpersonationPolicySpecInput = {
  impersonators: [{ kind: 'ServiceAccount', namespace: 'ci', name: 'runner' }],
  targets: { serviceAccounts: [{ namespace: 'my-namespace', name: 'deployer' }] },
  allowedActions: [deployAction],
};

const accessProxy: ImpersonationPolicySpecInput = {
  impersonators: [{ kind: 'User', name: 'proxy' }],
  targets: { users: ['alice@example.com'] },
  roles: [{ name: 'SRE On Call', clusterRoles: ['view'] }],
  allowedActions: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods', 'pods/log'] }],
};

describe('a constrained policy', () => {
  it('CI runner -> my-namespace/deployer, Deployments in my-namespace: one Role and RoleBinding there', () => {
    const { desired, decisions } = plan(ciRunner);
    expect(decisions.denied).toEqual([]);
    const name = impersonatorName('p');
    expect(desired.map((o) => [o.kind, o.metadata.namespace, o.metadata.name])).toEqual([
      ['Role', 'my-namespace', name],
      ['RoleBinding', 'my-namespace', name],
    ]);
    expect(rulesOf(desired)).toEqual([
      {
        kind: 'Role',
        namespace: 'my-namespace',
        apiGroups: ['authentication.k8s.io'],
        resources: ['serviceaccounts'],
        verbs: ['impersonate:serviceaccount'],
        resourceNames: ['deployer'],
      },
      {
        kind: 'Role',
        namespace: 'my-namespace',
        apiGroups: ['apps'],
        resources: ['deployments'],
        verbs: [
          'impersonate-on:serviceaccount:create',
          'impersonate-on:serviceaccount:get',
          'impersonate-on:serviceaccount:patch',
        ],
      },
    ]);
  });

  it('access proxy -> alice and the role group, read-only pods cluster-wide: user-info rules on the targets', () => {
    const { desired, decisions } = plan(accessProxy);
    expect(decisions.denied).toEqual([]);
    const clusterRole = desired.find((o) => o.kind === 'ClusterRole');
    expect(clusterRole && 'rules' in clusterRole ? clusterRole.rules : undefined).toEqual([
      {
        apiGroups: ['authentication.k8s.io'],
        resources: ['groups'],
        verbs: ['impersonate:user-info'],
        resourceNames: ['sre-on-call'],
      },
      {
        apiGroups: ['authentication.k8s.io'],
        resources: ['users'],
        verbs: ['impersonate:user-info'],
        resourceNames: ['alice@example.com'],
      },
      {
        apiGroups: [''],
        resources: ['pods', 'pods/log'],
        verbs: [
          'impersonate-on:user-info:get',
          'impersonate-on:user-info:list',
          'impersonate-on:user-info:watch',
        ],
      },
    ]);
    // The role group is still bound to its ClusterRole as for any policy.
    expect(
      desired.filter((o) => o.kind === 'ClusterRoleBinding').map((o) => 'roleRef' in o && o.roleRef.name),
    ).toEqual(expect.arrayContaining(['view', impersonatorName('p')]));
  });

  it('uids and extras are granted in user-info mode, each with resourceNames', () => {
    const { desired } = plan({
      ...accessProxy,
      targets: {
        users: ['alice'],
        uids: ['u-1'],
        userExtras: [{ key: 'example.com/scopes', values: ['view'] }],
      },
    });
    expect(rulesOf(desired).filter((r) => r.verbs.includes('impersonate:user-info'))).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ resources: ['uids'], resourceNames: ['u-1'] }),
        expect.objectContaining({ resources: ['userextras/example.com/scopes'], resourceNames: ['view'] }),
      ]),
    );
  });

  it('allowedActions: [] grants nothing to do as the targets, and no legacy verb either', () => {
    const { desired } = plan({ ...accessProxy, allowedActions: [] });
    const rules = rulesOf(desired);
    expect(rules.some((r) => r.verbs.some((v) => v.startsWith('impersonate-on:')))).toBe(false);
    expect(rules.some((r) => r.verbs.includes('impersonate'))).toBe(false);
  });

  it('without targets nothing is generated: an impersonate-on rule alone is no grant', () => {
    const { desired } = plan({
      impersonators: [{ kind: 'User', name: 'proxy' }],
      allowedActions: [deployAction],
    });
    expect(desired).toEqual([]);
  });

  it('resourceNames of an action narrow the impersonate-on rule', () => {
    const { desired } = plan({
      ...ciRunner,
      allowedActions: [{ ...deployAction, resourceNames: ['web'] }],
    });
    expect(rulesOf(desired).find((r) => r.resources[0] === 'deployments')?.resourceNames).toEqual(['web']);
  });

  it('an action in several namespaces is a Role in each, the service account only where it lives', () => {
    const { desired } = plan({
      ...ciRunner,
      allowedActions: [{ ...deployAction, namespaces: ['other', 'my-namespace'] }],
    });
    const other = rulesOf(desired).filter((r) => r.namespace === 'other');
    expect(other.map((r) => r.resources)).toEqual([['deployments']]);
  });

  it.each<{ name: string; action: AllowedAction; namespaces?: string[]; power: string }>([
    {
      name: 'every verb on every resource through wildcards',
      action: { verbs: ['get'], apiGroups: ['*'], resources: ['*'], resourceNames: [], namespaces: [] },
      power: 'get on secrets in every namespace',
    },
    {
      name: 'escalate on clusterroles',
      action: {
        verbs: ['escalate'],
        apiGroups: ['rbac.authorization.k8s.io'],
        resources: ['clusterroles'],
        resourceNames: [],
        namespaces: [],
      },
      power: 'escalate on clusterroles',
    },
    {
      name: 'bind on roles, even in one namespace',
      action: {
        verbs: ['bind'],
        apiGroups: ['rbac.authorization.k8s.io'],
        resources: ['roles'],
        resourceNames: [],
        namespaces: ['team-a'],
      },
      power: 'bind on roles',
    },
    {
      name: 'create clusterrolebindings',
      action: {
        verbs: ['create'],
        apiGroups: ['rbac.authorization.k8s.io'],
        resources: ['clusterrolebindings'],
        resourceNames: [],
        namespaces: [],
      },
      power: 'create on clusterrolebindings',
    },
    {
      name: 'Secrets in a protected namespace',
      action: {
        verbs: ['get'],
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: [],
        namespaces: ['kube-system'],
      },
      power: 'get on secrets',
    },
  ])('refuses an action that covers $name, and says so', ({ action, power }) => {
    const { desired, decisions } = plan({ ...accessProxy, allowedActions: [action] });
    expect(decisions.denied).toEqual([
      expect.objectContaining({
        kind: 'AllowedAction',
        name: 'allowedActions[0]',
        reason: 'PowerfulAction',
        message: expect.stringContaining(power),
      }),
    ]);
    expect(rulesOf(desired).some((r) => r.verbs.some((v) => v.startsWith('impersonate-on:')))).toBe(false);
  });

  it('Secrets in an ordinary namespace are that namespace’s business and are allowed', () => {
    const { decisions } = plan({
      ...ciRunner,
      allowedActions: [
        { verbs: ['get'], apiGroups: [''], resources: ['secrets'], namespaces: ['my-namespace'] },
      ],
    });
    expect(decisions.denied).toEqual([]);
  });

  it('a classic policy (no allowedActions) is unchanged: legacy impersonate, no constrained verbs', () => {
    const { allowedActions: _, ...classic } = accessProxy;
    const rules = rulesOf(plan(classic).desired);
    expect(rules.every((r) => r.verbs.every((v) => v === 'impersonate'))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// properties

const verb = fc.constantFrom<string>(
  'get',
  'list',
  'watch',
  'create',
  'patch',
  'update',
  'delete',
  'escalate',
  'bind',
);
const group = fc.constantFrom<string>('', 'apps', 'batch', 'rbac.authorization.k8s.io', '*');
const resource = fc.constantFrom<string>(
  'pods',
  'deployments',
  'secrets',
  'roles',
  'clusterroles',
  '*',
  'pods/log',
);
const ns = fc.constantFrom<string>('team-a', 'my-namespace', 'kube-system');
const set = <T>(arb: fc.Arbitrary<T>, min: number, max: number) =>
  fc.uniqueArray(arb, { minLength: min, maxLength: max });
const action = fc.record({
  verbs: set(verb, 1, 3),
  apiGroups: set(group, 1, 2),
  resources: set(resource, 1, 2),
  resourceNames: set(fc.constantFrom('a', 'b'), 0, 1),
  namespaces: set(ns, 0, 2),
});
const constrainedSpec = fc.record({
  impersonators: fc.constant<{ kind: 'User'; name: string }[]>([{ kind: 'User', name: 'proxy' }]),
  targets: fc.record({
    users: set(fc.constantFrom('alice', 'bob@example.com'), 0, 2),
    groups: set(fc.constantFrom('sre', 'dev'), 0, 2),
    uids: set(fc.constantFrom('u1'), 0, 1),
    serviceAccounts: fc.uniqueArray(fc.record({ namespace: ns, name: fc.constantFrom('deployer', 'x') }), {
      maxLength: 2,
      selector: (s) => `${s.namespace}/${s.name}`,
    }),
  }),
  roles: fc.constant<{ name: string; clusterRoles: string[] }[]>([
    { name: 'SRE On Call', clusterRoles: ['view'] },
  ]),
  allowedActions: fc.array(action, { maxLength: 4 }),
});

describe('constrained policy properties', () => {
  it('no legacy impersonate verb; every target rule names its targets; same input, same output', () => {
    fc.assert(
      fc.property(constrainedSpec, (input) => {
        ImpersonationPolicySpecSchema.parse(input);
        const first = plan(input);
        const rules: PolicyRule[] = first.desired.flatMap((o) => ('rules' in o ? o.rules : []));
        for (const r of rules) {
          expect(r.verbs).not.toContain('impersonate');
          expect(r.verbs).not.toContain('*');
          if (r.verbs.some((v) => v.startsWith('impersonate:'))) {
            expect(r.verbs).toHaveLength(1);
            expect(r.apiGroups).toEqual(['authentication.k8s.io']);
            expect(r.resourceNames?.length ?? 0).toBeGreaterThan(0);
          } else {
            expect(r.verbs.every((v) => /^impersonate-on:(user-info|serviceaccount):[a-z]+$/.test(v))).toBe(
              true,
            );
          }
        }
        expect(plan(structuredClone(input)).desired).toEqual(first.desired);
      }),
      { numRuns: 300 },
    );
  });

  it('every granted action is one the spec lists, and none carries a dangerous power', () => {
    fc.assert(
      fc.property(constrainedSpec, (input) => {
        const { decisions } = plan(input);
        for (const a of decisions.grants.constraint?.actions ?? []) {
          const listed = input.allowedActions.some(
            (b) =>
              a.verbs.every((v) => b.verbs.includes(v)) &&
              a.resources.every((r) => b.resources.includes(r)) &&
              (a.namespace === undefined ? b.namespaces.length === 0 : b.namespaces.includes(a.namespace)),
          );
          expect(listed).toBe(true);
          const cluster = a.namespace === undefined;
          const wild = (xs: string[]) => xs.includes('*');
          if (a.resourceNames.length === 0 && cluster)
            expect(
              (wild(a.resources) || a.resources.includes('secrets')) &&
                (wild(a.apiGroups) || a.apiGroups.includes('')) &&
                a.verbs.includes('get'),
            ).toBe(false);
          expect(
            a.verbs.includes('escalate') &&
              a.resourceNames.length === 0 &&
              (wild(a.resources) || a.resources.some((r) => r.endsWith('roles'))) &&
              (wild(a.apiGroups) || a.apiGroups.includes('rbac.authorization.k8s.io')),
          ).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('a cluster that cannot enforce constrained impersonation', () => {
  const unavailable: ClusterFacts = {
    constrainedImpersonation: { enforced: false, message: 'feature gate ConstrainedImpersonation is off' },
  };

  it('a constrained policy grants nothing at all and is Stalled with reason ConstrainedImpersonationUnavailable', () => {
    const p = plan(accessProxy, unavailable);
    expect(p.desired).toEqual([]);
    const status = policyStatus({ generation: 1, now: new Date(0), plan: p });
    expect(status.conditions?.find((c) => c.type === 'Stalled')).toEqual(
      expect.objectContaining({
        status: 'True',
        reason: 'ConstrainedImpersonationUnavailable',
        message: expect.stringContaining('feature gate ConstrainedImpersonation is off'),
      }),
    );
  });

  it('a classic policy is not affected', () => {
    const { allowedActions: _, ...classic } = accessProxy;
    expect(plan(classic, unavailable).desired).toEqual(plan(classic).desired);
  });

  it('where it is enforced the constrained RBAC is generated', () => {
    expect(plan(accessProxy, { constrainedImpersonation: { enforced: true } }).desired).toEqual(
      plan(accessProxy).desired,
    );
  });
});

describe('the constrained-impersonation probe, read', () => {
  it.each([
    [{ gitVersion: 'v1.37.2' }, [1, 37]],
    [{ gitVersion: 'v1.36.0-rc.1+abc' }, [1, 36]],
    [{ major: '1', minor: '35+' }, [1, 35]],
    [{}, undefined],
  ])('server version %j -> %j', (version, expected) => {
    expect(parseServerVersion(version)).toEqual(expected);
  });

  it.each([
    [
      'selfsubjectreviews.authentication.k8s.io is forbidden: User "op" cannot impersonate-on:user-info:create ' +
        'resource "selfsubjectreviews" in API group "authentication.k8s.io" at the cluster scope',
      true,
    ],
    [
      'users "x" is forbidden: User "op" cannot impersonate resource "users" in API group "" at the cluster scope',
      false,
    ],
  ])('refusal %s -> constrained filter: %s', (message, expected) => {
    expect(refusedByConstrainedFilter(message)).toBe(expected);
  });
});

describe('legacy grants that bypass the constraint', () => {
  const legacyGrant: ClusterFacts['legacyGrant'] = (i, t) =>
    i.name === 'proxy' && t.kind === 'User' && t.name === 'alice@example.com'
      ? 'RBAC: allowed by ClusterRoleBinding "old-proxy" of ClusterRole "old" to User "proxy"'
      : null;

  it('are reported per impersonator and target, naming the binding', () => {
    const { decisions } = plan(accessProxy, { legacyGrant });
    expect(decisions.constraintBypasses).toEqual([
      {
        impersonator: 'User proxy',
        target: "User 'alice@example.com'",
        grantedBy: 'ClusterRoleBinding "old-proxy" of ClusterRole "old" to User "proxy"',
      },
    ]);
    const status = policyStatus({
      generation: 1,
      now: new Date(0),
      plan: plan(accessProxy, { legacyGrant }),
    });
    expect(status.constraintBypasses).toHaveLength(1);
    expect(status.conditions?.find((c) => c.type === 'Ready')?.message).toContain('WARNING');
  });

  it('are not looked for in a classic policy (it grants the legacy verb itself)', () => {
    const { allowedActions: _, ...classic } = accessProxy;
    expect(plan(classic, { legacyGrant }).decisions.constraintBypasses).toBeUndefined();
  });
});
