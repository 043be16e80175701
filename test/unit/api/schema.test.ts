// The zod schema accepts every valid fixture and example, and rejects every invalid fixture naming
// the offending field. test/integration/crd.test.ts checks the API server reaches the same verdicts.

import { describe, expect, it } from '@jest/globals';
import { parsePolicy, parsePolicySpec } from '../../../src/api/index.js';
import { loadExamplePolicies, loadFixtures } from './fixtures.js';

describe('ImpersonationPolicy schema', () => {
  const valid = [...loadFixtures('valid'), ...loadExamplePolicies()];
  const invalid = loadFixtures('invalid');

  it('has fixtures to check', () => {
    expect(valid.length).toBeGreaterThanOrEqual(8);
    expect(invalid.length).toBeGreaterThanOrEqual(20);
    expect(invalid.every((f) => f.expectField !== undefined)).toBe(true);
  });

  it.each(valid.map((f) => [f.name, f] as const))('accepts %s', (_name, fixture) => {
    const result = parsePolicy(fixture.object);
    expect(result).toMatchObject({ ok: true });
  });

  it.each(invalid.map((f) => [f.name, f] as const))('rejects %s', (_name, fixture) => {
    const result = parsePolicy(fixture.object);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toContain(fixture.expectField);
  });

  it('fills in defaults', () => {
    const result = parsePolicySpec({ impersonators: [{ kind: 'User', name: 'proxy' }] });
    expect(result).toEqual({
      ok: true,
      value: {
        impersonators: [{ kind: 'User', name: 'proxy' }],
        targets: {
          users: [],
          allowAnyUser: false,
          serviceAccounts: [],
          groups: [],
          uids: [],
          userExtras: [],
        },
        roles: [],
        groupNameNormalization: 'AccessProxy',
        suspend: false,
      },
    });
  });

  it.each([
    {
      name: 'names the field and the fix',
      given: { impersonators: [{ kind: 'ServiceAccount', name: 'cicd-agent' }] },
      expected:
        "spec.impersonators[0]: impersonators[].namespace is required for kind ServiceAccount: set it to the service account's namespace",
    },
    {
      name: 'reports a missing field',
      given: {},
      expected: 'spec.impersonators: Invalid input',
    },
  ])('$name', ({ given, expected }) => {
    const result = parsePolicySpec(given);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toContain(expected);
  });
});
