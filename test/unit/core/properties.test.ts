// Property tests over arbitrary specs, including hostile values that admission would reject (the
// core must hold the line on its own) and arbitrary operator configurations.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { ImpersonationPolicySpec } from '../../../src/api/index.js';
import { ImpersonationPolicyStatusSchema } from '../../../src/api/index.js';
import type { CoreConfig, PeerPolicy, PlanInput, RbacObject } from '../../../src/core/index.js';
import { findCollisions, isDnsSubdomain, planPolicy, policyStatus } from '../../../src/core/index.js';
import { NOTHING_OBSERVED, observedAfterApply } from './helpers.js';

const FORBIDDEN = ['system:masters', '*'];
const EVERYONE = [
  'system:authenticated',
  'system:unauthenticated',
  'system:serviceaccounts',
  'system:anonymous',
];

const identity = fc.oneof(
  fc.constantFrom(
    'alice@example.com',
    'bob',
    'system:masters',
    '*',
    'system:authenticated',
    'system:nodes',
    'system:serviceaccounts',
    'system:anonymous',
    'System:Masters',
  ),
  fc.string({ minLength: 1, maxLength: 12 }),
);
const roleName = fc.oneof(
  fc.constantFrom(
    'MyRole',
    'myrole',
    'My-Role',
    'My role',
    'SRE On Call',
    'sre-on-call',
    'system:masters',
    '*',
    'System:Nodes',
  ),
  fc.string({ minLength: 1, maxLength: 10 }),
);
const namespace = fc.constantFrom('a', 'b', 'team-a', 'kube-system');
const clusterRole = fc.constantFrom('view', 'edit', 'admin', 'cluster-admin', 'system:aggregate-to-view');

const specArb: fc.Arbitrary<ImpersonationPolicySpec> = fc.record({
  impersonators: fc.array(
    fc.oneof(
      fc.record({ kind: fc.constantFrom('User' as const, 'Group' as const), name: identity }),
      fc.record({
        kind: fc.constant('ServiceAccount' as const),
        name: fc.constantFrom('runner', 'cicd-agent'),
        namespace,
      }),
    ),
    { minLength: 1, maxLength: 3 },
  ),
  targets: fc.record({
    users: fc.array(identity, { maxLength: 4 }),
    allowAnyUser: fc.boolean(),
    serviceAccounts: fc.array(fc.record({ namespace, name: fc.constantFrom('deployer', 'x') }), {
      maxLength: 3,
    }),
    groups: fc.array(identity, { maxLength: 4 }),
    uids: fc.array(fc.constantFrom('u1', '*', 'u2'), { maxLength: 3 }),
    userExtras: fc.array(
      fc.record({
        key: fc.constantFrom('scopes', 'team'),
        values: fc.array(fc.constantFrom('a', '*', 'b'), { minLength: 1, maxLength: 3 }),
      }),
      { maxLength: 2 },
    ),
  }),
  roles: fc.uniqueArray(
    fc.record({
      name: roleName,
      clusterRoles: fc.uniqueArray(clusterRole, { minLength: 1, maxLength: 3 }),
      namespaces: fc.uniqueArray(namespace, { maxLength: 2 }),
    }),
    { selector: (r) => r.name, maxLength: 5 },
  ),
  groupNameNormalization: fc.constantFrom('AccessProxy' as const, 'Lowercase' as const, 'Verbatim' as const),
  suspend: fc.constant(false),
  groupPrefix: fc.constantFrom(undefined, 'sdm:', 'oidc:', 's'),
});

const configArb: fc.Arbitrary<CoreConfig> = fc.record({
  deniedClusterRoles: fc.subarray(['cluster-admin', 'admin', 'edit']),
  allowedSystemIdentities: fc.subarray([
    'system:authenticated',
    'system:nodes',
    'system:masters',
    '*',
    'system:serviceaccounts',
  ]),
  protectedNamespaces: fc.subarray(['kube-system', 'ns-a']),
  allowAnyUser: fc.boolean(),
});

const peersArb: fc.Arbitrary<PeerPolicy[]> = fc.uniqueArray(
  fc.record({ metadata: fc.record({ name: fc.constantFrom('q', 'r') }), spec: specArb }),
  { selector: (p) => p.metadata.name, maxLength: 2 },
);

const inputArb: fc.Arbitrary<PlanInput> = fc.record({
  policy: fc.record({ metadata: fc.constant({ name: 'p', uid: 'uid-p', generation: 1 }), spec: specArb }),
  peers: peersArb,
  config: configArb,
  observed: fc.constant(NOTHING_OBSERVED),
});

const RUNS = { numRuns: 200 };
const rulesOf = (o: RbacObject) => (o.kind === 'ClusterRole' || o.kind === 'Role' ? o.rules : []);
const reversed = (spec: ImpersonationPolicySpec): ImpersonationPolicySpec => ({
  ...spec,
  impersonators: [...spec.impersonators].reverse(),
  targets: {
    ...spec.targets,
    users: [...spec.targets.users].reverse(),
    groups: [...spec.targets.groups].reverse(),
    uids: [...spec.targets.uids].reverse(),
    serviceAccounts: [...spec.targets.serviceAccounts].reverse(),
    userExtras: [...spec.targets.userExtras]
      .reverse()
      .map((e) => ({ ...e, values: [...e.values].reverse() })),
  },
  roles: [...spec.roles].reverse().map((r) => ({
    ...r,
    clusterRoles: [...r.clusterRoles].reverse(),
    namespaces: [...r.namespaces].reverse(),
  })),
});

describe('planPolicy properties', () => {
  it('same input, same output; list order in the spec does not matter', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const plan = planPolicy(input);
        expect(planPolicy(structuredClone(input))).toEqual(plan);
        const shuffled = planPolicy({
          ...input,
          policy: { ...input.policy, spec: reversed(input.policy.spec) },
        });
        expect(shuffled.desired).toEqual(plan.desired);
        expect(shuffled.decisions.collisions).toEqual(plan.decisions.collisions);
      }),
      RUNS,
    );
  });

  it('grants only impersonate, always with resourceNames except the any-user opt-in', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        for (const object of planPolicy(input).desired) {
          for (const rule of rulesOf(object)) {
            expect(rule.verbs).toEqual(['impersonate']);
            const anyUser =
              input.policy.spec.targets.allowAnyUser &&
              rule.resources[0] === 'users' &&
              object.kind === 'ClusterRole';
            if (!anyUser) expect(rule.resourceNames?.length ?? 0).toBeGreaterThan(0);
          }
        }
      }),
      RUNS,
    );
  });

  it('never grants a forbidden or unlisted system: identity, a denied ClusterRole, or cluster-wide service accounts', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const { allowedSystemIdentities, deniedClusterRoles } = input.config;
        for (const object of planPolicy(input).desired) {
          for (const rule of rulesOf(object)) {
            for (const name of rule.resourceNames ?? []) {
              expect(FORBIDDEN).not.toContain(name);
              if (['users', 'groups'].includes(rule.resources[0]!) && name.startsWith('system:')) {
                expect(allowedSystemIdentities).toContain(name);
              }
            }
            if (object.kind === 'ClusterRole') expect(rule.resources).not.toContain('serviceaccounts');
          }
          if (object.kind === 'ClusterRoleBinding' || object.kind === 'RoleBinding') {
            expect(deniedClusterRoles).not.toContain(object.roleRef.name);
            for (const subject of object.subjects) {
              expect(FORBIDDEN).not.toContain(subject.name);
              if (
                subject.kind !== 'ServiceAccount' &&
                object.roleRef.kind === object.kind.replace('Binding', '')
              ) {
                // impersonator bindings: never "everyone"
                expect(EVERYONE).not.toContain(`${subject.kind} ${subject.name}`);
              }
            }
          }
        }
      }),
      RUNS,
    );
  });

  it('never provisions a colliding group, and collisions are symmetric across policies', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const plan = planPolicy(input);
        const held = new Set(plan.decisions.collisions.map((c) => c.group));
        for (const object of plan.desired) {
          for (const rule of rulesOf(object)) {
            if (rule.resources[0] === 'groups')
              for (const g of rule.resourceNames ?? []) expect(held.has(g)).toBe(false);
          }
          if ('subjects' in object)
            for (const s of object.subjects) if (s.kind === 'Group') expect(held.has(s.name)).toBe(false);
        }
        for (const c of plan.decisions.collisions.filter((c) => c.scope === 'AcrossPolicies')) {
          for (const other of new Set(c.otherPolicies?.map((o) => o.policy))) {
            const peer = input.peers.find((p) => p.metadata.name === other)!;
            const world = [{ metadata: { name: 'p' }, spec: input.policy.spec }, ...input.peers];
            const back = findCollisions({ name: other, spec: peer.spec }, world);
            expect(back.some((b) => b.group === c.group && b.scope === 'AcrossPolicies')).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });

  it('names are valid and unique; every object is labelled and owned', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const keys = new Set<string>();
        for (const object of planPolicy(input).desired) {
          expect(isDnsSubdomain(object.metadata.name)).toBe(true);
          const key = `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
          expect(keys.has(key)).toBe(false);
          keys.add(key);
          expect(object.metadata.labels).toEqual({
            'app.kubernetes.io/managed-by': 'impersonation-operator',
            'impersonation-operator.io/policy': 'p',
          });
          expect(object.metadata.ownerReferences).toEqual([
            expect.objectContaining({ uid: 'uid-p', controller: true, blockOwnerDeletion: true }),
          ]);
        }
      }),
      RUNS,
    );
  });

  it('converges: once applied, the next plan has nothing to do', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const first = planPolicy(input);
        const second = planPolicy({ ...input, observed: observedAfterApply(first.desired) });
        expect([second.apply, second.replace, second.prune, second.conflicts, second.withheld]).toEqual([
          [],
          [],
          [],
          [],
          [],
        ]);
        expect(second.unchanged).toHaveLength(first.desired.length);
      }),
      RUNS,
    );
  });

  it('always yields a status the CRD schema accepts', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const status = policyStatus({ generation: 1, now: new Date(0), plan: planPolicy(input) });
        expect(ImpersonationPolicyStatusSchema.safeParse(status).success).toBe(true);
      }),
      RUNS,
    );
  });
});
