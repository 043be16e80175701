// Which API server answers are permanent refusals (Stalled, retried slowly) and what they say is missing.
import { describe, expect, it } from '@jest/globals';
import { refusalOf } from '../../../src/controller/reconciler.js';
import { KubeApiError } from '../../../src/kube/errors.js';

const err = (code: number, message: string) =>
  new KubeApiError({ code, verb: 'create', path: '/x', status: { code, message, reason: 'Forbidden' } });
const binding = {
  apiVersion: 'rbac.authorization.k8s.io/v1' as const,
  kind: 'ClusterRoleBinding' as const,
  metadata: { name: 'b', labels: {}, ownerReferences: [] },
  roleRef: {
    apiGroup: 'rbac.authorization.k8s.io' as const,
    kind: 'ClusterRole' as const,
    name: 'secret-reader',
  },
  subjects: [],
};
const ref = { kind: 'ClusterRoleBinding' as const, name: 'b' };

describe('refusalOf', () => {
  it.each([
    {
      name: 'the escalation check on a binding names the ClusterRole and the chart value',
      given: err(403, 'user "op" is attempting to grant RBAC permissions not currently held: ...'),
      expected: /lacks bind on ClusterRole secret-reader.*grants\.bindableClusterRoles/,
    },
    {
      name: 'an admission policy denial (422)',
      given: err(422, "ValidatingAdmissionPolicy 'x' with binding 'x' denied request: frozen"),
      expected: /refused by an admission policy/,
    },
    { name: 'any other 403', given: err(403, 'cannot create'), expected: /refused the operator's identity/ },
  ])('$name', ({ given, expected }) => {
    expect(refusalOf(given, ref, binding)).toMatch(expected);
  });

  it.each([
    { name: 'a conflict', given: err(409, 'conflict') },
    { name: 'an outage', given: err(503, 'unavailable') },
    { name: 'throttling', given: err(429, 'slow down') },
    { name: 'a 422 that is not an admission denial', given: err(422, 'spec.x: Invalid value') },
    { name: 'no HTTP answer', given: new Error('ECONNRESET') },
  ])('transient: $name', ({ given }) => {
    expect(refusalOf(given, ref, binding)).toBeUndefined();
  });
});
