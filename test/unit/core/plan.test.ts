// Desired + observed -> apply / replace / prune / conflicts.

import { describe, expect, it } from '@jest/globals';
import type { ObservedObject, ObservedRbac, PolicyPlan, RbacObject } from '../../../src/core/index.js';
import {
  DEFAULT_CORE_CONFIG,
  groupBindingName,
  impersonatorName,
  isOwnedBy,
  planPolicy,
  planRemoval,
  refOf,
} from '../../../src/core/index.js';
import { NOTHING_OBSERVED, observedAfterApply, policy, proxy } from './helpers.js';

const P = policy('p', {
  impersonators: [...proxy],
  targets: { users: ['alice@example.com'], serviceAccounts: [{ namespace: 'ci', name: 'deployer' }] },
  roles: [{ name: 'SRE On Call', clusterRoles: ['view'] }],
});
const IMP = impersonatorName('p');
const SRE_VIEW = groupBindingName('p', 'sre-on-call', 'view');
const plan = (observed: ObservedRbac, input = P): PolicyPlan =>
  planPolicy({ policy: input, peers: [], config: DEFAULT_CORE_CONFIG, observed });
const desired = plan(NOTHING_OBSERVED).desired;
const inPlace = observedAfterApply(desired);
const labels = {
  'app.kubernetes.io/managed-by': 'impersonation-operator',
  'impersonation-operator.io/policy': 'p',
};
const record = { 'impersonation-operator.io/policy-uid': 'uid-p' };
const ours = {
  apiVersion: 'impersonation-operator.io/v1alpha1',
  kind: 'ImpersonationPolicy',
  name: 'p',
  uid: 'uid-p',
  controller: true,
  blockOwnerDeletion: true,
};

type Edit = (observed: ObservedRbac) => ObservedRbac;
const editKind =
  (kind: keyof ObservedRbac, name: string, change: (o: ObservedObject) => ObservedObject | undefined): Edit =>
  (observed) => ({
    ...observed,
    [kind]: observed[kind].flatMap((o) =>
      o.metadata?.name === name ? [change(structuredClone(o))].filter((x) => x !== undefined) : [o],
    ),
  });
const add =
  (kind: keyof ObservedRbac, object: ObservedObject): Edit =>
  (observed) => ({ ...observed, [kind]: [...observed[kind], object] });

/** A compact view of a plan, to compare in tables. */
function summary(p: PolicyPlan) {
  const ref = (r: { kind: string; name: string; namespace?: string }) =>
    `${r.kind} ${r.namespace === undefined ? '' : `${r.namespace}/`}${r.name}`;
  return {
    apply: p.apply.map((o) => ref(refOf(o))),
    narrow: (p.narrow ?? []).map((o) => ref(refOf(o))),
    replace: p.replace.map((o) => ref(refOf(o))),
    prune: p.prune.map(ref),
    conflicts: p.conflicts.map((c) => ref(c.ref)),
    withheld: p.withheld.map(ref),
    unchanged: p.unchanged.length,
  };
}

describe('planPolicy', () => {
  it('wants the expected objects', () => {
    expect(desired.map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`)).toEqual([
      `ClusterRole /${IMP}`,
      `ClusterRoleBinding /${SRE_VIEW}`,
      `ClusterRoleBinding /${IMP}`,
      `Role ci/${IMP}`,
      `RoleBinding ci/${IMP}`,
    ]);
  });

  it.each<{ name: string; given: Edit; expected: Partial<ReturnType<typeof summary>> }>([
    {
      name: 'creates everything in an empty cluster',
      given: () => NOTHING_OBSERVED,
      expected: {
        apply: desired.map(
          (o) =>
            `${o.kind} ${o.metadata.namespace === undefined ? '' : `${o.metadata.namespace}/`}${o.metadata.name}`,
        ),
        unchanged: 0,
      },
    },
    {
      name: 'does nothing when everything is in place (repeated apply is a no-op)',
      given: (o) => o,
      expected: { apply: [], replace: [], prune: [], conflicts: [], unchanged: 5 },
    },
    {
      name: 're-applies a ClusterRole whose rules drifted',
      given: editKind('clusterRoles', IMP, (o) => ({
        ...o,
        rules: [{ apiGroups: [''], resources: ['users'], verbs: ['impersonate'] }],
      })),
      expected: { apply: [`ClusterRole ${IMP}`], unchanged: 4 },
    },
    {
      name: 're-applies a binding with an extra subject',
      given: editKind('clusterRoleBindings', SRE_VIEW, (o) => ({
        ...o,
        subjects: [...(o.subjects ?? []), { kind: 'User', name: 'mallory' }],
      })),
      // Removing a subject only takes access away: a narrowing write, done before anything widens.
      expected: { apply: [], narrow: [`ClusterRoleBinding ${SRE_VIEW}`], unchanged: 4 },
    },
    {
      name: 'a binding that lost a subject is a widening write',
      given: editKind('clusterRoleBindings', IMP, (o) => ({ ...o, subjects: [] })),
      expected: { apply: [`ClusterRoleBinding ${IMP}`], narrow: [], unchanged: 4 },
    },
    {
      name: 'repairs a missing ownerReference (metadata only, nothing widens)',
      given: editKind('clusterRoleBindings', SRE_VIEW, (o) => ({
        ...o,
        metadata: { ...o.metadata, ownerReferences: [] },
      })),
      expected: {
        apply: [],
        narrow: [`ClusterRoleBinding ${SRE_VIEW}`],
        prune: [],
        conflicts: [],
        unchanged: 4,
      },
    },
    {
      name: 're-applies an owned object that lost a label value',
      given: editKind('clusterRoles', IMP, (o) => ({
        ...o,
        metadata: { ...o.metadata, labels: { ...labels, 'app.kubernetes.io/managed-by': 'someone' } },
      })),
      expected: { apply: [], narrow: [`ClusterRole ${IMP}`], unchanged: 4 },
    },
    {
      name: 'treats order differences and server defaults as no change',
      given: editKind('roleBindings', IMP, (o) => ({
        ...o,
        subjects: (o.subjects ?? []).map((s) => ({ ...s, apiGroup: s.apiGroup ?? '' })).reverse(),
      })),
      expected: { apply: [], unchanged: 5 },
    },
    {
      name: 'replaces a binding whose roleRef changed (roleRef is immutable)',
      given: editKind('clusterRoleBindings', SRE_VIEW, (o) => ({
        ...o,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      })),
      expected: { apply: [], replace: [`ClusterRoleBinding ${SRE_VIEW}`], unchanged: 4 },
    },
    {
      name: 'recreates a deleted object',
      given: editKind('roles', IMP, () => undefined),
      expected: { apply: [`Role ci/${IMP}`], unchanged: 4 },
    },
    {
      name: 'prunes an owned object that is no longer desired',
      given: add('roleBindings', {
        metadata: {
          name: 'old',
          namespace: 'gone',
          uid: 'u-old',
          labels,
          annotations: record,
          ownerReferences: [ours],
        },
      }),
      expected: { prune: ['RoleBinding gone/old'], unchanged: 5 },
    },
    {
      name: 'prunes an object of ours whose ownerReference was removed',
      given: add('clusterRoleBindings', { metadata: { name: 'stripped', labels, annotations: record } }),
      expected: { prune: ['ClusterRoleBinding stripped'], unchanged: 5 },
    },
    {
      name: 'prunes the orphan of an earlier policy of the same name (its record names another uid)',
      given: add('clusterRoleBindings', {
        metadata: {
          name: 'old',
          labels,
          annotations: { 'impersonation-operator.io/policy-uid': 'uid-earlier' },
        },
      }),
      expected: { prune: ['ClusterRoleBinding old'], unchanged: 5 },
    },
    {
      name: 'never prunes an object with our label but without our ownership record',
      given: add('clusterRoleBindings', { metadata: { name: 'hand-made', labels } }),
      expected: { prune: [], unchanged: 5 },
    },
    {
      name: 'never prunes (or adopts) an object by its ownerReference alone',
      given: add('clusterRoleBindings', {
        metadata: { name: 'old', labels, ownerReferences: [ours] },
      }),
      expected: { prune: [], unchanged: 5 },
    },
    {
      name: 'never prunes an object with our ownerReference but without our label',
      given: add('clusterRoles', { metadata: { name: 'unlabelled', ownerReferences: [ours] } }),
      expected: { prune: [], unchanged: 5 },
    },
    {
      name: 'reports a foreign object at a generated name and leaves it alone',
      given: editKind('clusterRoleBindings', SRE_VIEW, (o) => ({
        ...o,
        metadata: { name: SRE_VIEW, uid: 'foreign' },
      })),
      expected: { apply: [], conflicts: [`ClusterRoleBinding ${SRE_VIEW}`], prune: [], unchanged: 4 },
    },
    {
      name: 'withholds the binding to a conflicting impersonator ClusterRole, and prunes our old binding',
      given: editKind('clusterRoles', IMP, (o) => ({ ...o, metadata: { name: IMP, uid: 'foreign' } })),
      expected: {
        conflicts: [`ClusterRole ${IMP}`],
        withheld: [`ClusterRoleBinding ${IMP}`],
        prune: [`ClusterRoleBinding ${IMP}`],
        unchanged: 3,
      },
    },
    {
      name: 'withholds the RoleBinding to a conflicting Role in the same namespace',
      given: (o) =>
        editKind(
          'roleBindings',
          IMP,
          () => undefined,
        )(
          editKind('roles', IMP, (r) => ({
            ...r,
            metadata: {
              name: IMP,
              namespace: 'ci',
              labels,
              ownerReferences: [{ ...ours, uid: 'uid-earlier' }],
            },
          }))(o),
        ),
      expected: {
        conflicts: [`Role ci/${IMP}`],
        withheld: [`RoleBinding ci/${IMP}`],
        apply: [],
        prune: [],
        unchanged: 3,
      },
    },
  ])('$name', ({ given, expected }) => {
    expect(summary(plan(given(inPlace)))).toMatchObject(expected);
  });

  it('carries the uid of pruned objects for a delete precondition', () => {
    const p = plan(
      add('roleBindings', {
        metadata: { name: 'old', namespace: 'gone', uid: 'u-old', labels, annotations: record },
      })(inPlace),
    );
    expect(p.prune).toEqual([{ kind: 'RoleBinding', name: 'old', namespace: 'gone', uid: 'u-old' }]);
  });

  it('explains name conflicts', () => {
    const foreign = plan(
      editKind('clusterRoleBindings', SRE_VIEW, (o) => ({ ...o, metadata: { name: SRE_VIEW } }))(inPlace),
    );
    expect(foreign.conflicts[0]?.message).toBe(
      `ClusterRoleBinding ${SRE_VIEW} already exists and is not owned by this policy; it is left alone: delete or rename it to let the operator create its own`,
    );
    const earlier = plan(
      editKind('roles', IMP, (r) => ({
        ...r,
        metadata: { name: IMP, namespace: 'ci', labels, ownerReferences: [{ ...ours, uid: 'x' }] },
      }))(inPlace),
    );
    expect(earlier.conflicts[0]?.message).toBe(
      `Role ${IMP} in namespace ci carries this policy's label but not the operator's ownership record ` +
        `(annotation impersonation-operator.io/policy-uid: uid-p), so the operator did not create it for this policy; ` +
        'it is left alone and nothing is bound to it: delete it to let the operator create its own',
    );
  });

  it('prunes what a spec change removed and applies what it added', () => {
    const changed = policy('p', {
      impersonators: [...proxy],
      targets: { users: ['alice@example.com'] },
      roles: [{ name: 'SRE On Call', clusterRoles: ['edit'] }],
    });
    expect(summary(plan(inPlace, changed))).toEqual({
      apply: [`ClusterRoleBinding ${groupBindingName('p', 'sre-on-call', 'edit')}`],
      narrow: [],
      replace: [],
      prune: [`ClusterRoleBinding ${SRE_VIEW}`, `Role ci/${IMP}`, `RoleBinding ci/${IMP}`],
      conflicts: [],
      withheld: [],
      unchanged: 2,
    });
  });
});

describe('revocation first and foreign additions', () => {
  it('strips foreign labels (an aggregation label above all) with a resourceVersion precondition', () => {
    const p = plan(
      editKind('clusterRoles', IMP, (o) => ({
        ...o,
        metadata: {
          ...o.metadata,
          labels: { ...labels, 'rbac.authorization.k8s.io/aggregate-to-view': 'true' },
        },
      }))(inPlace),
    );
    expect(p.foreignLabels).toEqual([
      {
        kind: 'ClusterRole',
        name: IMP,
        uid: 'obj-0',
        resourceVersion: '1',
        labels: ['rbac.authorization.k8s.io/aggregate-to-view'],
      },
    ]);
    expect(summary(p)).toMatchObject({ apply: [], narrow: [`ClusterRole ${IMP}`], unchanged: 4 });
  });

  it('splits an update that removes and adds into the intersection first, then the whole', () => {
    const changed = policy('p', {
      impersonators: [...proxy],
      targets: { users: ['bob@example.com'], serviceAccounts: [{ namespace: 'ci', name: 'deployer' }] },
      roles: [{ name: 'SRE On Call', clusterRoles: ['view'] }],
    });
    const p = plan(inPlace, changed);
    const narrowRole = (p.narrow ?? []).find((o) => o.kind === 'ClusterRole');
    expect(narrowRole && 'rules' in narrowRole ? narrowRole.rules : undefined).toEqual([
      { apiGroups: [''], resources: ['groups'], verbs: ['impersonate'], resourceNames: ['sre-on-call'] },
    ]);
    expect(p.apply.map((o) => o.kind)).toEqual(['ClusterRole']);
  });

  it('a binding whose subjects change both ways gets the intersection first', () => {
    const changed = policy('p', {
      impersonators: [{ kind: 'User', name: 'proxy-2' }],
      targets: { users: ['alice@example.com'], serviceAccounts: [{ namespace: 'ci', name: 'deployer' }] },
      roles: [{ name: 'SRE On Call', clusterRoles: ['view'] }],
    });
    const p = plan(inPlace, changed);
    const crb = (p.narrow ?? []).find((o) => o.kind === 'ClusterRoleBinding');
    expect(crb && 'subjects' in crb ? crb.subjects : undefined).toEqual([]);
    expect(p.apply.map((o) => `${o.kind}`).sort()).toEqual(['ClusterRoleBinding', 'RoleBinding']);
  });

  it('reports an object whose deletion a foreign finalizer holds as still in force, not as pruned', () => {
    const p = plan(
      add('clusterRoleBindings', {
        metadata: {
          name: 'held',
          uid: 'u-held',
          labels,
          annotations: record,
          deletionTimestamp: '2024-01-01T00:00:00Z',
          finalizers: ['example.com/hold'],
        },
      })(inPlace),
    );
    expect(p.prune).toEqual([]);
    expect(p.terminating).toEqual([
      { kind: 'ClusterRoleBinding', name: 'held', finalizers: ['example.com/hold'] },
    ]);
  });
});

describe('planRemoval', () => {
  it('with no policy of the name left, removes every object the record says was created for the name', () => {
    const orphans = planRemoval({ name: 'p', uid: '' }, inPlace);
    expect(orphans.prune).toHaveLength(5);
    const other = planRemoval({ name: 'q', uid: '' }, inPlace);
    expect(other.prune).toEqual([]);
  });

  it('prunes everything the policy owns and nothing else', () => {
    const foreign = add('clusterRoles', { metadata: { name: 'someone-elses', labels: { team: 'x' } } })(
      inPlace,
    );
    const removal = planRemoval({ name: 'p', uid: 'uid-p' }, foreign);
    expect(removal.prune.map((r) => r.name).sort()).toEqual([IMP, IMP, IMP, IMP, SRE_VIEW].sort());
    expect(removal.apply).toEqual([]);
    expect(removal.desired).toEqual([]);
  });
});

describe('isOwnedBy', () => {
  it.each([
    {
      name: 'label and ownership record',
      given: { metadata: { labels, annotations: record, ownerReferences: [ours] } },
      expected: true,
    },
    {
      name: 'label and record, ownerReference stripped',
      given: { metadata: { labels, annotations: record } },
      expected: true,
    },
    {
      name: 'label and ownerReference, no record',
      given: { metadata: { labels, ownerReferences: [ours] } },
      expected: false,
    },
    { name: 'label only', given: { metadata: { labels } }, expected: false },
    { name: 'ownerReference only', given: { metadata: { ownerReferences: [ours] } }, expected: false },
    {
      name: 'another policy’s label',
      given: {
        metadata: { labels: { ...labels, 'impersonation-operator.io/policy': 'q' }, ownerReferences: [ours] },
      },
      expected: false,
    },
    {
      name: 'an earlier uid',
      given: { metadata: { labels, annotations: { 'impersonation-operator.io/policy-uid': 'old' } } },
      expected: false,
    },
    { name: 'no metadata', given: {}, expected: false },
  ])('$name', ({ given, expected }) => {
    expect(isOwnedBy(given, { name: 'p', uid: 'uid-p' })).toBe(expected);
  });
});

it('refOf names the object', () => {
  const [role] = desired.filter((o): o is Extract<RbacObject, { kind: 'Role' }> => o.kind === 'Role');
  expect(refOf(role!)).toEqual({ kind: 'Role', name: IMP, namespace: 'ci' });
});
