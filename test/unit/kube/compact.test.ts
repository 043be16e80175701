// What an informer cache keeps of an object (kube/compact.ts): table-driven over the shapes the
// operator uses, plus the bounded string table.
import { describe, expect, it } from '@jest/globals';
import { compactObject, StringTable, WHOLE_OBJECT, type CompactShape } from '../../../src/kube/compact.js';
import {
  FOREIGN_BINDING_SHAPE,
  FOREIGN_CLUSTER_ROLE_SHAPE,
  MANAGED_RBAC_SHAPE,
  POLICY_SHAPE,
} from '../../../src/controller/cache-shapes.js';
import type { KubeObject } from '../../../src/kube/types.js';

const owner = {
  apiVersion: 'impersonation-operator.io/v1alpha1',
  kind: 'ImpersonationPolicy',
  name: 'p',
  uid: 'u-p',
  controller: true,
  blockOwnerDeletion: true,
};

/** An object as the API server sends it: every metadata field, plus whatever the kind has. */
const wire = (extra: Record<string, unknown>): KubeObject =>
  ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: {
      name: 'b',
      uid: 'u-b',
      resourceVersion: '42',
      generation: 3,
      creationTimestamp: '2026-12-02T00:00:00Z',
      deletionTimestamp: '2026-12-02T00:00:01Z',
      finalizers: ['f'],
      labels: { 'app.kubernetes.io/managed-by': 'impersonation-operator', team: 'a' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"copy"}', note: 'x' },
      ownerReferences: [owner],
      managedFields: [{ manager: 'impersonation-operator', operation: 'Apply', fieldsV1: {} }],
    },
    ...extra,
  }) as KubeObject;

const binding = {
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
  subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'sre' }],
};
const identity = {
  name: 'b',
  uid: 'u-b',
  resourceVersion: '42',
  generation: 3,
  deletionTimestamp: '2026-12-02T00:00:01Z',
  finalizers: ['f'],
};

const cases: { name: string; given: KubeObject; shape: CompactShape; expected: unknown }[] = [
  {
    name: 'default: metadata compacted, every other field kept',
    given: wire({ ...binding, status: { x: 1 } }),
    shape: WHOLE_OBJECT,
    expected: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: {
        ...identity,
        labels: { 'app.kubernetes.io/managed-by': 'impersonation-operator', team: 'a' },
        annotations: { note: 'x' },
        ownerReferences: [owner],
      },
      ...binding,
      status: { x: 1 },
    },
  },
  {
    name: 'managed RBAC: only rules, roleRef and subjects besides metadata',
    given: wire({ ...binding, extra: 'dropped' }),
    shape: MANAGED_RBAC_SHAPE,
    expected: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: {
        ...identity,
        labels: { 'app.kubernetes.io/managed-by': 'impersonation-operator', team: 'a' },
        annotations: { note: 'x' },
        ownerReferences: [owner],
      },
      ...binding,
    },
  },
  {
    name: 'foreign binding: roleRef and subjects, name and resourceVersion only',
    given: wire(binding),
    shape: FOREIGN_BINDING_SHAPE,
    expected: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'b', resourceVersion: '42' },
      ...binding,
    },
  },
  {
    name: 'foreign ClusterRole: rules and the managed-by label',
    given: wire({ kind: 'ClusterRole', rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] }),
    shape: FOREIGN_CLUSTER_ROLE_SHAPE,
    expected: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: {
        name: 'b',
        resourceVersion: '42',
        labels: { 'app.kubernetes.io/managed-by': 'impersonation-operator' },
      },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }],
    },
  },
  {
    name: 'policy: spec and status',
    given: wire({ kind: 'ImpersonationPolicy', spec: { roles: [] }, status: { conditions: [] } }),
    shape: POLICY_SHAPE,
    expected: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ImpersonationPolicy',
      metadata: {
        ...identity,
        labels: { 'app.kubernetes.io/managed-by': 'impersonation-operator', team: 'a' },
        annotations: { note: 'x' },
        ownerReferences: [owner],
      },
      spec: { roles: [] },
      status: { conditions: [] },
    },
  },
  {
    name: 'only the last-applied annotation: no annotations at all',
    given: {
      metadata: { name: 'c', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
    },
    shape: WHOLE_OBJECT,
    expected: { metadata: { name: 'c' } },
  },
];

describe('compactObject', () => {
  it.each(cases)('$name', ({ given, shape, expected }) => {
    const before = JSON.stringify(given);
    const got = compactObject(given, shape, new StringTable());
    expect(got).toStrictEqual(expected);
    // The input is not changed (it may be shared with a caller).
    expect(JSON.stringify(given)).toBe(before);
  });
});

describe('StringTable', () => {
  it('returns equal strings and starts over past its limit', () => {
    const table = new StringTable(3);
    for (const s of ['a', 'b', 'c', 'a']) expect(table.intern(s)).toBe(s);
    expect(table.size).toBe(3);
    expect(table.intern('d')).toBe('d');
    expect(table.size).toBe(1);
  });
});

describe('shared leaves', () => {
  const ofPolicy = (name: string, role: string, group: string) =>
    wire({
      metadata: {
        name,
        uid: `u-${name}`,
        resourceVersion: '1',
        labels: {
          'app.kubernetes.io/managed-by': 'impersonation-operator',
          'impersonation-operator.io/policy': 'p',
        },
        annotations: { 'impersonation-operator.io/policy-uid': 'u-p' },
        ownerReferences: [owner],
      },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: group }],
    }) as KubeObject & typeof binding;

  it('equal labels, annotations, owner references, roleRefs and subjects are stored once', () => {
    const table = new StringTable();
    const a = compactObject(ofPolicy('a', 'view', 'sre'), MANAGED_RBAC_SHAPE, table);
    const b = compactObject(ofPolicy('b', 'view', 'dev'), MANAGED_RBAC_SHAPE, table);
    expect(b.metadata!.labels).toBe(a.metadata!.labels);
    expect(b.metadata!.annotations).toBe(a.metadata!.annotations);
    expect(b.metadata!.ownerReferences).toBe(a.metadata!.ownerReferences);
    expect(b.roleRef).toBe(a.roleRef);
    expect(b.subjects).not.toBe(a.subjects);
    expect(b.subjects).toEqual([{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'dev' }]);
    expect(b.metadata).not.toBe(a.metadata);
    const c = compactObject(ofPolicy('c', 'edit', 'dev'), MANAGED_RBAC_SHAPE, table);
    expect(c.roleRef).not.toBe(a.roleRef);
    expect(c.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' });
    expect(c.subjects).toBe(b.subjects);
  });

  it('a shared leaf is frozen: writing to it throws instead of changing every object holding it', () => {
    const a = compactObject(ofPolicy('a', 'view', 'sre'), MANAGED_RBAC_SHAPE, new StringTable());
    expect(() => {
      (a.roleRef as { name: string }).name = 'cluster-admin';
    }).toThrow(TypeError);
    expect(() => (a.metadata!.ownerReferences as unknown[]).push(owner)).toThrow(TypeError);
    expect(a.roleRef.name).toBe('view');
  });

  it.each([
    ['a number and its text', { n: 1 }, { n: '1' }],
    ['a boolean and its text', { b: true }, { b: 'true' }],
    ['null and its text', { x: null }, { x: 'null' }],
    ['the same entries in another order', { a: 'x', b: 'y' }, { b: 'y', a: 'x' }],
    ['a key and a value swapped', { a: 'b' }, { b: 'a' }],
    ['an array and an object', ['x'], { 0: 'x' }],
    ['one string and two', ['ab'], ['a', 'b']],
  ])('%s are not shared', (_what, x, y) => {
    const table = new StringTable();
    const first = table.leaf(structuredClone(x));
    const second = table.leaf(structuredClone(y));
    expect(second).not.toBe(first);
    expect(second).toEqual(y);
    expect(table.leaf(structuredClone(y))).toBe(second);
  });

  it('leaves nested deeper, or larger than 16 entries, are not shared', () => {
    const table = new StringTable();
    const nested = { a: { b: 'c' } };
    expect(table.leaf(structuredClone(nested))).not.toBe(table.leaf(structuredClone(nested)));
    const big = Array.from({ length: 17 }, (_, i) => `v${i}`);
    expect(table.leaf([...big])).not.toBe(table.leaf([...big]));
    const rules = [{ verbs: ['get'], resources: ['pods'] }];
    expect(table.leaf(structuredClone(rules))).not.toBe(table.leaf(structuredClone(rules)));
  });
});
