// The status written after a reconcile: what is in force, what was held back, and why.

import { describe, expect, it } from '@jest/globals';
import type { ImpersonationPolicySpecInput, ImpersonationPolicyStatus } from '../../../src/api/index.js';
import { ImpersonationPolicyStatusSchema } from '../../../src/api/index.js';
import type { ActFailure, PeerPolicy, PolicyPlan } from '../../../src/core/index.js';
import {
  DEFAULT_CORE_CONFIG,
  impersonatorName,
  planPolicy,
  planRemoval,
  policyStatus,
  sameStatus,
} from '../../../src/core/index.js';
import { NOTHING_OBSERVED, peer, policy, proxy } from './helpers.js';

const now = new Date('2024-05-01T12:00:00Z');
const T = '2024-05-01T12:00:00Z';
const planFor = (input: ImpersonationPolicySpecInput, peers: PeerPolicy[] = []): PolicyPlan =>
  planPolicy({
    policy: policy('p', input),
    peers,
    config: { ...DEFAULT_CORE_CONFIG, allowAnyUser: true },
    observed: NOTHING_OBSERVED,
  });
const conditionOf = (status: ImpersonationPolicyStatus, type: string) =>
  status.conditions?.find((c) => c.type === type);

describe('policyStatus', () => {
  it("reports the documents' collision examples and provisions the rest", () => {
    const plan = planFor({
      impersonators: [...proxy],
      roles: [
        { name: 'MyRole', clusterRoles: ['view'] },
        { name: 'myrole', clusterRoles: ['edit'] },
        { name: 'My-Role', clusterRoles: ['view'] },
        { name: 'My role', clusterRoles: ['edit'] },
        { name: 'Readers', clusterRoles: ['view'] },
      ],
    });
    const status = policyStatus({ generation: 2, now, plan });
    expect(status).toMatchObject({
      observedGeneration: 2,
      allowAnyUserInForce: false,
      roleCount: 5,
      groupCount: 1,
      collisionCount: 2,
      roleGroups: [{ role: 'Readers', group: 'readers', clusterRoles: ['view'] }],
      collisions: [
        { group: 'my-role', scope: 'WithinPolicy', roles: ['My role', 'My-Role'] },
        { group: 'myrole', scope: 'WithinPolicy', roles: ['MyRole', 'myrole'] },
      ],
      denied: [],
    });
    expect(status.inventory).toHaveLength(3);
    expect(status.conditions).toEqual([
      {
        type: 'Ready',
        status: 'False',
        observedGeneration: 2,
        lastTransitionTime: T,
        reason: 'Collision',
        message:
          "Held back groups my-role, myrole: different role names map to the same group ('My role' and 'My-Role' -> my-role, " +
          "'MyRole' and 'myrole' -> myrole). Rename the roles so each group comes from one role name.",
      },
      {
        type: 'Reconciling',
        status: 'False',
        observedGeneration: 2,
        lastTransitionTime: T,
        reason: 'Stalled',
        message: 'Nothing more can be done until the policy or the cluster changes.',
      },
      expect.objectContaining({ type: 'Stalled', status: 'True', reason: 'Collision' }),
    ]);
  });

  it('reports a cross-policy collision with the other policy and role', () => {
    const plan = planFor(
      { impersonators: [...proxy], roles: [{ name: 'My-Role', clusterRoles: ['view'] }] },
      [peer('team-b', { impersonators: [...proxy], roles: [{ name: 'My role', clusterRoles: ['edit'] }] })],
    );
    const status = policyStatus({ generation: 1, now, plan });
    expect(status.collisions).toEqual([
      {
        group: 'my-role',
        scope: 'AcrossPolicies',
        roles: ['My-Role'],
        otherPolicies: [{ policy: 'team-b', role: 'My role' }],
      },
    ]);
    expect(conditionOf(status, 'Ready')?.message).toBe(
      "Held back group my-role: different role names map to the same group ('My-Role' -> my-role, as do 'My role' in policy team-b). " +
        'Rename the roles so each group comes from one role name.',
    );
  });

  it('is Ready with an inventory when everything is provisioned', () => {
    const plan = planFor({
      impersonators: [...proxy],
      targets: { users: ['alice@example.com'] },
      roles: [{ name: 'SRE On Call', clusterRoles: ['view'] }],
    });
    const status = policyStatus({ generation: 1, now, plan });
    expect(conditionOf(status, 'Ready')).toMatchObject({
      status: 'True',
      reason: 'Provisioned',
      message: 'Provisioned 3 RBAC objects for 1 role group.',
    });
    expect(status.inventory?.map((e) => e.kind)).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'ClusterRoleBinding',
    ]);
    expect(status.roleGroups).toEqual([
      { role: 'SRE On Call', group: 'sre-on-call', clusterRoles: ['view'] },
    ]);
  });

  it('says loudly when any user may be impersonated', () => {
    const plan = planFor({ impersonators: [...proxy], targets: { allowAnyUser: true } });
    const status = policyStatus({ generation: 1, now, plan });
    expect(status.allowAnyUserInForce).toBe(true);
    expect(conditionOf(status, 'Ready')?.message).toContain('WARNING: the impersonators may become ANY user');
    const failed = policyStatus({
      generation: 1,
      now,
      plan,
      failures: [
        {
          ref: { kind: 'ClusterRole', name: impersonatorName('p') },
          operation: 'apply',
          message: 'forbidden',
        },
      ],
    });
    expect(failed.allowAnyUserInForce).toBe(false);
  });

  it('lists denials with reasons and stalls', () => {
    const plan = planFor({
      impersonators: [...proxy],
      roles: [{ name: 'Admins', clusterRoles: ['cluster-admin', 'view'] }],
    });
    const status = policyStatus({ generation: 1, now, plan });
    expect(status.denied).toEqual([
      {
        kind: 'ClusterRole',
        name: 'cluster-admin',
        role: 'Admins',
        reason: 'DeniedClusterRole',
        message: "ClusterRole 'cluster-admin' is on the operator's deny list; bind a narrower ClusterRole",
      },
    ]);
    expect(conditionOf(status, 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'Denied',
      message:
        "Refused 1 entry (see status.denied): ClusterRole cluster-admin: ClusterRole 'cluster-admin' is on the operator's deny list; bind a narrower ClusterRole.",
    });
    expect(status.groupCount).toBe(1);
  });

  it('reports failures as Reconciling and leaves failed objects out of the inventory', () => {
    const plan = planFor({ impersonators: [...proxy], targets: { users: ['alice@example.com'] } });
    const failures: ActFailure[] = [
      {
        ref: { kind: 'ClusterRoleBinding', name: impersonatorName('p') },
        operation: 'apply',
        message: 'connection refused',
      },
    ];
    const status = policyStatus({ generation: 1, now, plan, failures });
    expect(status.inventory).toEqual([{ kind: 'ClusterRole', name: impersonatorName('p') }]);
    expect(conditionOf(status, 'Reconciling')).toMatchObject({
      status: 'True',
      reason: 'ApplyFailed',
      message: `1 of the operator's changes failed and will be retried: apply ClusterRoleBinding ${impersonatorName('p')}: connection refused.`,
    });
  });

  it('reports an invalid spec as Stalled with nothing provisioned', () => {
    const status = policyStatus({
      generation: 4,
      now,
      plan: planRemoval({ name: 'p', uid: 'uid-p' }, NOTHING_OBSERVED),
      invalidSpec: 'spec.impersonators: Invalid input',
    });
    expect(status).toMatchObject({
      observedGeneration: 4,
      inventory: [],
      allowAnyUserInForce: false,
      roleCount: 0,
    });
    expect(conditionOf(status, 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'InvalidSpec',
      message: 'The spec is invalid, so nothing is provisioned: spec.impersonators: Invalid input.',
    });
  });

  it.each(['AuthorCheckFailed', 'AuthorNotPermitted'] as const)(
    'reports an author refusal (%s) as Stalled with nothing provisioned',
    (reason) => {
      const status = policyStatus({
        generation: 2,
        now,
        plan: planRemoval({ name: 'p', uid: 'uid-p' }, NOTHING_OBSERVED),
        authorRefused: { reason, message: 'Nothing is provisioned: impersonate user bob.' },
      });
      expect(status).toMatchObject({ observedGeneration: 2, inventory: [], roleCount: 0 });
      expect(conditionOf(status, 'Stalled')).toMatchObject({
        status: 'True',
        reason,
        message: 'Nothing is provisioned: impersonate user bob.',
      });
      expect(conditionOf(status, 'Ready')).toMatchObject({ status: 'False', reason });
    },
  );

  it('is unchanged by a second reconcile of the same world (no status write)', () => {
    const plan = planFor({ impersonators: [...proxy], targets: { users: ['alice@example.com'] } });
    const first = policyStatus({ generation: 1, now, plan });
    const later = policyStatus({
      generation: 1,
      now: new Date('2024-06-01T00:00:00Z'),
      plan,
      previous: first,
    });
    expect(sameStatus(first, later)).toBe(true);
    const reordered = JSON.parse(
      JSON.stringify(first, Object.keys(first).sort()),
    ) as ImpersonationPolicyStatus;
    expect(sameStatus({ ...reordered, ...first }, first)).toBe(true);
    expect(sameStatus(first, { ...first, observedGeneration: 2 })).toBe(false);
    expect(sameStatus(undefined, first)).toBe(false);
  });

  it('always produces a status the CRD schema accepts', () => {
    const plan = planFor({
      impersonators: [...proxy],
      roles: [
        { name: 'MyRole', clusterRoles: ['view'] },
        { name: 'myrole', clusterRoles: ['view'] },
      ],
    });
    expect(
      ImpersonationPolicyStatusSchema.safeParse(policyStatus({ generation: 1, now, plan })).success,
    ).toBe(true);
  });
});

describe('policyStatus never claims what is not in force', () => {
  const plan = planFor({ impersonators: [...proxy], targets: { users: ['alice@example.com'] } });
  const role = { kind: 'ClusterRole' as const, name: impersonatorName('p') };

  it('a permanent refusal is Stalled=Refused with what is missing, not a retry loop', () => {
    const failures: ActFailure[] = [
      {
        ref: role,
        operation: 'apply',
        message: '403 Forbidden',
        refusal:
          "the operator's identity lacks bind on ClusterRole x; add it to the chart's grants.bindableClusterRoles",
      },
    ];
    const status = policyStatus({ generation: 1, now, plan, failures });
    expect(conditionOf(status, 'Stalled')).toMatchObject({ status: 'True', reason: 'Refused' });
    expect(conditionOf(status, 'Stalled')?.message).toContain('grants.bindableClusterRoles');
    expect(conditionOf(status, 'Reconciling')?.status).toBe('False');
    expect(conditionOf(status, 'Ready')?.status).toBe('False');
    expect(status.inventory).not.toContainEqual(role);
  });

  it('a transient failure beside a refusal keeps the policy Reconciling (kstatus: never both)', () => {
    const failures: ActFailure[] = [
      { ref: role, operation: 'apply', message: '403', refusal: 'missing' },
      { ref: { kind: 'ClusterRoleBinding', name: 'b' }, operation: 'apply', message: '500' },
    ];
    const status = policyStatus({ generation: 1, now, plan, failures });
    expect(conditionOf(status, 'Reconciling')).toMatchObject({ status: 'True', reason: 'ApplyFailed' });
    expect(conditionOf(status, 'Stalled')?.status).toBe('False');
  });

  it('an object whose deletion a finalizer holds is in the inventory and keeps Ready=False', () => {
    const held = { kind: 'ClusterRoleBinding' as const, name: 'held', finalizers: ['example.com/hold'] };
    const status = policyStatus({ generation: 2, now, plan: { ...plan, terminating: [held] } });
    expect(conditionOf(status, 'Stalled')).toMatchObject({ status: 'True', reason: 'DeletionBlocked' });
    expect(conditionOf(status, 'Stalled')?.message).toContain('example.com/hold');
    expect(conditionOf(status, 'Ready')?.status).toBe('False');
    expect(status.inventory).toContainEqual({ kind: 'ClusterRoleBinding', name: 'held' });
    expect(ImpersonationPolicyStatusSchema.safeParse(status).success).toBe(true);
  });
});

describe('policyStatus reports what left the operator reach', () => {
  it('an object it created that lost its labels or record is Stalled=Unmanaged and stays listed', () => {
    const plan = planFor({ impersonators: [...proxy], targets: { users: ['alice@example.com'] } });
    const astray = { kind: 'ClusterRoleBinding' as const, name: 'stripped' };
    const status = policyStatus({ generation: 2, now, plan: { ...plan, unmanaged: [astray] } });
    expect(conditionOf(status, 'Stalled')).toMatchObject({ status: 'True', reason: 'Unmanaged' });
    expect(conditionOf(status, 'Stalled')?.message).toContain('ClusterRoleBinding stripped');
    expect(conditionOf(status, 'Ready')?.status).toBe('False');
    expect(status.inventory).toContainEqual(astray);
  });
});
