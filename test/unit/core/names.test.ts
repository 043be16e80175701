import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  HASH_LENGTH,
  canonicalName,
  groupBindingName,
  impersonatorName,
  isDnsSubdomain,
  ownerReference,
  policyLabelSelector,
  policyLabels,
} from '../../../src/core/index.js';

const hash = `[0-9a-f]{${HASH_LENGTH}}`;

describe('generated names', () => {
  it.each([
    {
      name: 'impersonator objects',
      given: impersonatorName('access-proxy'),
      expected: new RegExp(`^imppol-access-proxy-impersonators-${hash}$`),
    },
    {
      name: 'a cluster-wide group binding',
      given: groupBindingName('access-proxy', 'sre-on-call', 'view'),
      expected: new RegExp(`^imppol-access-proxy-group-sre-on-call-view-${hash}$`),
    },
    {
      name: 'a group with characters names cannot hold',
      given: groupBindingName('p', 'Ops:EU @West', 'system:aggregate-to-view'),
      expected: new RegExp(`^imppol-p-group-ops-eu-west-system-aggregate-to-view-${hash}$`),
    },
    {
      name: 'a group with nothing readable',
      given: groupBindingName('p', '::', 'view'),
      expected: new RegExp(`^imppol-p-group-view-${hash}$`),
    },
  ])('$name', ({ given, expected }) => {
    expect(given).toMatch(expected);
    expect(isDnsSubdomain(given)).toBe(true);
  });

  it.each([
    {
      name: "rbac-manager's bug: a-b + c vs a + b-c",
      given: [
        ['a-b', 'c'],
        ['a', 'b-c'],
      ],
    },
    {
      name: 'case only',
      given: [
        ['MyRole', 'view'],
        ['myrole', 'view'],
      ],
    },
    {
      name: 'space vs hyphen',
      given: [
        ['My role', 'view'],
        ['My-Role', 'view'],
      ],
    },
    {
      name: 'characters lost by sanitizing',
      given: [
        ['a:b', 'view'],
        ['a@b', 'view'],
      ],
    },
  ])('keeps inputs apart: $name', ({ given }) => {
    const [first, second] = given.map(([group, clusterRole]) => groupBindingName('p', group!, clusterRole!));
    expect(first).not.toBe(second);
  });

  it('stays within 253 characters and valid for the longest inputs', () => {
    const name = groupBindingName('p'.repeat(63), 'g'.repeat(320), 'c'.repeat(253));
    expect(name.length).toBeLessThanOrEqual(253);
    expect(isDnsSubdomain(name)).toBe(true);
  });

  it('is always a valid DNS subdomain, and distinct for distinct inputs', () => {
    const part = fc.string({ unit: 'binary', maxLength: 300 });
    fc.assert(
      fc.property(
        fc.array(part, { minLength: 1, maxLength: 4 }),
        fc.array(part, { minLength: 1, maxLength: 4 }),
        (a, b) => {
          const na = canonicalName('imppol', a);
          const nb = canonicalName('imppol', b);
          expect(isDnsSubdomain(na)).toBe(true);
          expect(na === nb).toBe(JSON.stringify(a) === JSON.stringify(b));
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('labels and owner', () => {
  it('labels every generated object with the manager and the policy', () => {
    expect(policyLabels('access-proxy')).toEqual({
      'app.kubernetes.io/managed-by': 'impersonation-operator',
      'impersonation-operator.io/policy': 'access-proxy',
    });
    expect(policyLabelSelector('access-proxy')).toBe(
      'app.kubernetes.io/managed-by=impersonation-operator,impersonation-operator.io/policy=access-proxy',
    );
    expect(policyLabelSelector()).toBe('app.kubernetes.io/managed-by=impersonation-operator');
  });

  it('points at the policy as its controller', () => {
    expect(ownerReference({ name: 'access-proxy', uid: 'u1' })).toEqual({
      apiVersion: 'impersonation-operator.io/v1alpha1',
      kind: 'ImpersonationPolicy',
      name: 'access-proxy',
      uid: 'u1',
      controller: true,
      blockOwnerDeletion: true,
    });
  });
});
