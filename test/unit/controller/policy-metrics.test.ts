// Per-policy series: the state word and reason derived from a reconcile's status, and the exposition
// that carries them (every series of a policy vanishes with it; a replica that stops leading has none).
import { describe, expect, it } from '@jest/globals';
import type { ImpersonationPolicyStatus, LifetimeState } from '../../../src/api/index.js';
import { policyConditions, type ConditionsInput } from '../../../src/core/index.js';
import { Metrics, policyReport, POLICY_STATES, type PolicyReport } from '../../../src/metrics.js';

const now = new Date('2030-01-01T00:00:00Z');

function status(
  given: Partial<ConditionsInput> & { lifetime?: LifetimeState; anyUser?: boolean },
): ImpersonationPolicyStatus {
  const { lifetime, anyUser, ...conditions } = given;
  return {
    observedGeneration: 1,
    conditions: policyConditions({ generation: 1, now, stalled: [], readyMessage: 'ok', ...conditions }),
    allowAnyUserInForce: anyUser ?? false,
    ...(lifetime === undefined ? {} : { lifetime }),
  } as ImpersonationPolicyStatus;
}

/** The exposition as `name{labels} value` lines for the series whose name starts with `prefix`. */
async function series(metrics: Metrics, prefix: string): Promise<string[]> {
  const { body } = await metrics.exposition();
  return body
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .sort();
}

const counts = { collisions: 0, deniedEntries: 0 };

describe('policyReport', () => {
  it.each<{ name: string; given: ImpersonationPolicyStatus; expected: Partial<PolicyReport> }>([
    { name: 'provisioned', given: status({}), expected: { state: 'ready' } },
    {
      name: 'stalled: the Stalled reason (highest priority) is reported',
      given: status({
        stalled: [
          { reason: 'Denied', message: 'd' },
          { reason: 'Collision', message: 'c' },
        ],
      }),
      expected: { state: 'stalled', stalledReason: 'Collision' },
    },
    {
      name: 'retrying a transient failure',
      given: status({ retrying: { reason: 'ApplyFailed', message: 'm' } }),
      expected: { state: 'reconciling' },
    },
    {
      name: 'suspended',
      given: status({ lifetime: 'Suspended', readyReason: 'Suspended' }),
      expected: { state: 'suspended' },
    },
    {
      name: 'not yet valid',
      given: status({ lifetime: 'NotYetValid', readyReason: 'NotYetValid' }),
      expected: { state: 'inactive' },
    },
    {
      name: 'expired',
      given: status({ lifetime: 'Expired', readyReason: 'Expired' }),
      expected: { state: 'inactive' },
    },
    {
      name: 'active within its window',
      given: status({ lifetime: 'Active' }),
      expected: { state: 'ready' },
    },
    {
      name: 'stalled wins over the lifetime (an expired policy can still collide)',
      given: status({ lifetime: 'Expired', stalled: [{ reason: 'Collision', message: 'c' }] }),
      expected: { state: 'stalled', stalledReason: 'Collision' },
    },
    {
      name: 'any-user in force',
      given: status({ anyUser: true }),
      expected: { state: 'ready', anyUser: true },
    },
    {
      name: 'no conditions yet (nothing said Ready)',
      given: { observedGeneration: 1 } as ImpersonationPolicyStatus,
      expected: { state: 'reconciling', anyUser: false },
    },
  ])('$name', ({ given, expected }) => {
    const report = policyReport(given, counts);
    expect(report).toMatchObject(expected);
    if (expected.stalledReason === undefined) expect(report.stalledReason).toBeUndefined();
  });

  it('carries validUntil as Unix seconds, only when the spec sets it', () => {
    expect(policyReport(status({}), counts, { validUntil: '2030-01-02T00:00:00Z' }).validUntil).toBe(
      Date.parse('2030-01-02T00:00:00Z') / 1000,
    );
    expect(policyReport(status({}), counts, {})).not.toHaveProperty('validUntil');
    expect(policyReport(status({}), counts)).not.toHaveProperty('validUntil');
  });
});

describe('per-policy series', () => {
  const stalled: PolicyReport = {
    state: 'stalled',
    stalledReason: 'Collision',
    collisions: 2,
    deniedEntries: 1,
    anyUser: false,
  };
  const ready: PolicyReport = {
    state: 'ready',
    collisions: 0,
    deniedEntries: 0,
    anyUser: true,
    validUntil: 1893456000,
  };

  it('exports one state series per state, the stalled reason, counts, any-user and validUntil', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.setPolicy('a', stalled);
    metrics.setPolicy('b', ready);
    expect(await series(metrics, 'impersonation_operator_policy_state{policy="a"')).toEqual(
      POLICY_STATES.map(
        (s) => `impersonation_operator_policy_state{policy="a",state="${s}"} ${s === 'stalled' ? 1 : 0}`,
      ).sort(),
    );
    expect(await series(metrics, 'impersonation_operator_policy_stalled_reason')).toEqual([
      'impersonation_operator_policy_stalled_reason{policy="a",reason="Collision"} 1',
    ]);
    expect(await series(metrics, 'impersonation_operator_policy_collisions')).toEqual([
      'impersonation_operator_policy_collisions{policy="a"} 2',
      'impersonation_operator_policy_collisions{policy="b"} 0',
    ]);
    expect(await series(metrics, 'impersonation_operator_policy_denied_entries')).toEqual([
      'impersonation_operator_policy_denied_entries{policy="a"} 1',
      'impersonation_operator_policy_denied_entries{policy="b"} 0',
    ]);
    expect(await series(metrics, 'impersonation_operator_policy_any_user')).toEqual([
      'impersonation_operator_policy_any_user{policy="a"} 0',
      'impersonation_operator_policy_any_user{policy="b"} 1',
    ]);
    expect(await series(metrics, 'impersonation_operator_policy_valid_until_timestamp_seconds')).toEqual([
      'impersonation_operator_policy_valid_until_timestamp_seconds{policy="b"} 1893456000',
    ]);
    // The cluster-wide totals add up the policies.
    expect(await series(metrics, 'impersonation_operator_collisions ')).toEqual([
      'impersonation_operator_collisions 2',
    ]);
    expect(await series(metrics, 'impersonation_operator_denied_entries ')).toEqual([
      'impersonation_operator_denied_entries 1',
    ]);
    expect(await series(metrics, 'impersonation_operator_policies ')).toEqual([
      'impersonation_operator_policies 2',
    ]);
  });

  it('a new report replaces the old one: a policy that stops being stalled loses its reason series', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.setPolicy('a', stalled);
    metrics.setPolicy('a', { ...ready, anyUser: false });
    expect(await series(metrics, 'impersonation_operator_policy_stalled_reason{')).toEqual([]);
    expect(await series(metrics, 'impersonation_operator_policy_state{policy="a",state="stalled"}')).toEqual([
      'impersonation_operator_policy_state{policy="a",state="stalled"} 0',
    ]);
    expect(await series(metrics, 'impersonation_operator_policy_state{policy="a",state="ready"}')).toEqual([
      'impersonation_operator_policy_state{policy="a",state="ready"} 1',
    ]);
  });

  it('a deleted policy vanishes from every series', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.setPolicy('a', stalled);
    metrics.setPolicy('b', ready);
    metrics.forgetPolicy('a');
    metrics.forgetPolicy('b');
    const { body } = await metrics.exposition();
    expect(body).not.toMatch(/policy="[ab]"/);
    expect(body).toContain('impersonation_operator_policies 0');
    expect(body).toContain('impersonation_operator_collisions 0');
  });

  it('a replica that stops leading reports no policy at all', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.setPolicy('a', stalled);
    metrics.setPolicy('b', ready);
    metrics.forgetPolicies();
    const { body } = await metrics.exposition();
    expect(body).not.toMatch(/\{policy=/);
    expect(body).toContain('impersonation_operator_policies 0');
  });

  it('each family is one group: HELP and TYPE, then its series, also when no policy is known', async () => {
    for (const known of [[], ['a', 'b']]) {
      const metrics = new Metrics({ defaultMetrics: false });
      for (const name of known) metrics.setPolicy(name, stalled);
      const lines = (await metrics.exposition()).body.split('\n');
      for (const family of [
        'policy_state',
        'policy_stalled_reason',
        'policy_collisions',
        'policy_any_user',
      ]) {
        const name = `impersonation_operator_${family}`;
        const at = lines.indexOf(`# TYPE ${name} gauge`);
        expect(lines[at - 1]).toMatch(new RegExp(`^# HELP ${name} `));
        const samples = lines.map((l, i) => [l, i] as const).filter(([l]) => l.startsWith(`${name}{`));
        expect(samples.length).toBe(family === 'policy_state' ? 5 * known.length : known.length);
        // Contiguous, right after TYPE.
        samples.forEach(([, i], n) => expect(i).toBe(at + 1 + n));
      }
    }
  });

  it('escapes label values (backslash, double quote, newline), as the exposition format requires', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.setPolicy('p', { ...stalled, stalledReason: 'a"b\\c\nd' });
    expect(await series(metrics, 'impersonation_operator_policy_stalled_reason{')).toEqual([
      'impersonation_operator_policy_stalled_reason{policy="p",reason="a\\"b\\\\c\\nd"} 1',
    ]);
  });
});
