import { describe, expect, it } from '@jest/globals';
import type { CoreConfig } from '../../../src/core/index.js';
import {
  DEFAULT_CORE_CONFIG,
  clusterRoleVerdict,
  identityVerdict,
  impersonatorVerdict,
} from '../../../src/core/index.js';

const permissive: CoreConfig = {
  ...DEFAULT_CORE_CONFIG,
  deniedClusterRoles: [],
  allowedSystemIdentities: ['system:masters', '*', 'system:serviceaccounts', 'system:authenticated'],
};

describe('identityVerdict', () => {
  it.each([
    { name: 'an ordinary user', given: ['alice@example.com', DEFAULT_CORE_CONFIG], expected: true },
    { name: 'an ordinary group', given: ['sre-on-call', DEFAULT_CORE_CONFIG], expected: true },
    {
      name: 'system:authenticated (default allow list)',
      given: ['system:authenticated', DEFAULT_CORE_CONFIG],
      expected: true,
    },
    {
      name: 'a system: group not on the allow list',
      given: ['system:serviceaccounts', DEFAULT_CORE_CONFIG],
      expected: 'SystemIdentityNotAllowed',
    },
    {
      name: 'a system: user not on the allow list',
      given: ['system:kube-scheduler', DEFAULT_CORE_CONFIG],
      expected: 'SystemIdentityNotAllowed',
    },
    {
      name: 'a system: group the config allows',
      given: ['system:serviceaccounts', permissive],
      expected: true,
    },
    {
      name: 'system:masters, even when configured',
      given: ['system:masters', permissive],
      expected: 'ForbiddenIdentity',
    },
    { name: "'*', even when configured", given: ['*', permissive], expected: 'ForbiddenIdentity' },
    {
      name: 'System:Masters is another name to RBAC',
      given: ['System:Masters', DEFAULT_CORE_CONFIG],
      expected: true,
    },
  ] as const)('$name', ({ given: [name, config], expected }) => {
    const verdict = identityVerdict(name, config);
    expect(verdict.allowed ? true : verdict.reason).toBe(expected);
  });

  it('explains a refusal', () => {
    expect(identityVerdict('system:nodes', DEFAULT_CORE_CONFIG)).toEqual({
      allowed: false,
      reason: 'SystemIdentityNotAllowed',
      message:
        "'system:nodes' is a system: identity that is not on the operator's allow list (allowed: system:authenticated); remove it or ask the operator's admins",
    });
  });
});

describe('clusterRoleVerdict', () => {
  it.each([
    { name: 'cluster-admin is denied by default', given: 'cluster-admin', expected: 'DeniedClusterRole' },
    { name: 'view is fine', given: 'view', expected: true },
    { name: 'admin is fine by default', given: 'admin', expected: true },
  ])('$name', ({ given, expected }) => {
    const verdict = clusterRoleVerdict(given, DEFAULT_CORE_CONFIG);
    expect(verdict.allowed ? true : verdict.reason).toBe(expected);
  });

  it('follows the configured deny list', () => {
    expect(
      clusterRoleVerdict('admin', { ...DEFAULT_CORE_CONFIG, deniedClusterRoles: ['admin'] }).allowed,
    ).toBe(false);
    expect(clusterRoleVerdict('cluster-admin', permissive).allowed).toBe(true);
  });
});

describe('impersonatorVerdict', () => {
  it.each([
    { name: 'a user', given: ['User', 'proxy'], expected: true },
    { name: 'a service account', given: ['ServiceAccount', 'cicd-agent'], expected: true },
    {
      name: 'all authenticated clients',
      given: ['Group', 'system:authenticated'],
      expected: 'EveryoneImpersonator',
    },
    {
      name: 'all unauthenticated clients',
      given: ['Group', 'system:unauthenticated'],
      expected: 'EveryoneImpersonator',
    },
    {
      name: 'every service account',
      given: ['Group', 'system:serviceaccounts'],
      expected: 'EveryoneImpersonator',
    },
    { name: 'the anonymous user', given: ['User', 'system:anonymous'], expected: 'EveryoneImpersonator' },
    { name: 'system:masters', given: ['Group', 'system:masters'], expected: 'ForbiddenIdentity' },
  ] as const)('$name', ({ given: [kind, name], expected }) => {
    const verdict = impersonatorVerdict(kind, name);
    expect(verdict.allowed ? true : verdict.reason).toBe(expected);
  });
});
