import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { AuditRecord, Identity, Outcome } from '../../../src/audit/event.js';
import { SummaryBuilder } from '../../../src/audit/summary.js';

const proxy: Identity = { username: 'proxy', groups: ['system:authenticated'] };
const alice: Identity = { username: 'alice@example.com', groups: ['sre-on-call', 'system:authenticated'] };

function imp(
  at: string,
  verb: string,
  resource: string,
  outcome: Outcome,
  opts: { by?: Identity; as?: Identity; ns?: string } = {},
): AuditRecord {
  return {
    kind: 'impersonated',
    auditID: '',
    stage: 'ResponseComplete',
    time: Date.parse(at),
    timestamp: at,
    impersonator: opts.by ?? proxy,
    target: opts.as ?? alice,
    action: { verb, resource, namespace: opts.ns ?? 'default' },
    code: outcome === 'forbidden' ? 403 : 200,
    outcome,
  };
}

function refused(at: string, by: string, resource: string, name: string, verb = 'list'): AuditRecord {
  return {
    kind: 'refused',
    auditID: '',
    stage: 'ResponseComplete',
    time: Date.parse(at),
    timestamp: at,
    impersonator: { username: by, groups: [] },
    action: { verb, resource: 'namespaces', namespace: '' },
    code: 403,
    attempted: { resource, name, namespace: '' },
  };
}

function summarize(records: AuditRecord[]) {
  const b = new SummaryBuilder();
  for (const r of records) b.add(r);
  return b.summary();
}

const T1 = '2026-01-05T10:00:01.000001Z';
const T2 = '2026-01-05T10:00:01.000009Z';
const T3 = '2026-01-05T11:00:00.000000Z';

describe('SummaryBuilder', () => {
  it('groups by impersonator, impersonated identity and action', () => {
    const s = summarize([
      imp(T2, 'list', 'pods', 'allowed'),
      imp(T1, 'list', 'pods', 'allowed'),
      imp(T3, 'delete', 'secrets', 'forbidden'),
      imp(T1, 'get', '/version', 'unknown', { as: { username: 'bob', groups: [] }, ns: '' }),
      refused(T3, 'intruder', 'users', 'alice@example.com'),
      refused(T2, 'intruder', 'users', 'alice@example.com', 'get'),
    ]);
    expect(s).toEqual({
      requests: 4,
      allowed: 2,
      forbidden: 1,
      unknown: 1,
      timeRange: { first: T1, last: T3 },
      impersonators: [
        {
          impersonator: 'proxy',
          groups: ['system:authenticated'],
          requests: 4,
          allowed: 2,
          forbidden: 1,
          unknown: 1,
          targets: [
            {
              target: alice,
              requests: 3,
              allowed: 2,
              forbidden: 1,
              unknown: 0,
              timeRange: { first: T1, last: T3 },
              actions: [
                {
                  verb: 'list',
                  resource: 'pods',
                  namespace: 'default',
                  requests: 2,
                  allowed: 2,
                  forbidden: 0,
                  unknown: 0,
                },
                {
                  verb: 'delete',
                  resource: 'secrets',
                  namespace: 'default',
                  requests: 1,
                  allowed: 0,
                  forbidden: 1,
                  unknown: 0,
                },
              ],
            },
            {
              target: { username: 'bob', groups: [] },
              requests: 1,
              allowed: 0,
              forbidden: 0,
              unknown: 1,
              timeRange: { first: T1, last: T1 },
              actions: [
                {
                  verb: 'get',
                  resource: '/version',
                  namespace: '',
                  requests: 1,
                  allowed: 0,
                  forbidden: 0,
                  unknown: 1,
                },
              ],
            },
          ],
        },
      ],
      refused: [
        {
          impersonator: 'intruder',
          attempted: { resource: 'users', name: 'alice@example.com', namespace: '' },
          example: { verb: 'get', resource: 'namespaces', namespace: '' },
          count: 2,
          timeRange: { first: T2, last: T3 },
        },
      ],
    });
  });

  it('treats the same groups in another order as the same identity', () => {
    const s = summarize([
      imp(T1, 'get', 'pods', 'allowed', { as: { username: 'a', groups: ['x', 'y'] } }),
      imp(T1, 'get', 'pods', 'allowed', { as: { username: 'a', groups: ['y', 'x'] } }),
    ]);
    expect(s.impersonators[0]?.targets).toHaveLength(1);
    expect(s.impersonators[0]?.targets[0]?.target.groups).toEqual(['x', 'y']);
  });

  it('has no time range when nothing carried a timestamp', () => {
    expect(summarize([])).toEqual({
      requests: 0,
      allowed: 0,
      forbidden: 0,
      unknown: 0,
      impersonators: [],
      refused: [],
    });
  });

  it('does not depend on the order of the records', () => {
    const record = fc.oneof(
      fc
        .record({
          t: fc.constantFrom(T1, T2, T3),
          verb: fc.constantFrom('get', 'list'),
          res: fc.constantFrom('pods', 'secrets'),
          outcome: fc.constantFrom<Outcome>('allowed', 'forbidden', 'unknown'),
          by: fc.constantFrom('proxy', 'ci'),
          as: fc.constantFrom('alice', 'bob'),
        })
        .map((r) =>
          imp(r.t, r.verb, r.res, r.outcome, {
            by: { username: r.by, groups: [] },
            as: { username: r.as, groups: [] },
          }),
        ),
      fc
        .record({
          t: fc.constantFrom(T1, T2, T3),
          by: fc.constantFrom('x', 'y'),
          verb: fc.constantFrom('get', 'list'),
        })
        .map((r) => refused(r.t, r.by, 'users', 'alice', r.verb)),
    );
    const recordsAndPermutation = fc
      .array(record, { maxLength: 30 })
      .chain((rs) => fc.tuple(fc.constant(rs), fc.shuffledSubarray(rs, { minLength: rs.length })));
    fc.assert(
      fc.property(recordsAndPermutation, ([records, shuffled]) => {
        expect(summarize(shuffled)).toEqual(summarize(records));
      }),
      { numRuns: 200 },
    );
  });
});

describe('constrained impersonation in the summary', () => {
  it('counts per target the requests a constrained grant allowed, by constraint; the rest are legacy', () => {
    const b = new SummaryBuilder();
    const constrained = (at: string, verb: string) => ({
      ...imp(at, verb, 'pods', 'allowed'),
      constraint: 'impersonate:user-info',
    });
    b.add(constrained('2026-01-01T00:00:01Z', 'get'));
    b.add(constrained('2026-01-01T00:00:02Z', 'list'));
    b.add(imp('2026-01-01T00:00:03Z', 'delete', 'pods', 'allowed'));
    const [target] = b.summary().impersonators[0]!.targets;
    expect(target).toEqual(
      expect.objectContaining({ requests: 3, constrained: { 'impersonate:user-info': 2 } }),
    );
  });

  it('reads the constraint from authenticationMetadata.impersonationConstraint', async () => {
    const { toAuditRecord } = await import('../../../src/audit/event.js');
    const rec = toAuditRecord({
      auditID: 'a',
      stage: 'ResponseComplete',
      verb: 'list',
      user: { username: 'proxy' },
      impersonatedUser: { username: 'alice' },
      authenticationMetadata: { impersonationConstraint: 'impersonate:user-info' },
      objectRef: { resource: 'pods', namespace: 'x' },
      responseStatus: { code: 200 },
    });
    expect(rec).toEqual(
      expect.objectContaining({ kind: 'impersonated', constraint: 'impersonate:user-info' }),
    );
  });
});
