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
