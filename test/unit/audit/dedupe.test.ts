import { describe, expect, it } from '@jest/globals';
import { StageDeduper } from '../../../src/audit/dedupe.js';
import type { AuditRecord } from '../../../src/audit/event.js';

function rec(auditID: string, stage: string, code?: number): AuditRecord {
  return {
    kind: 'impersonated',
    auditID,
    stage,
    time: undefined,
    timestamp: undefined,
    impersonator: { username: 'proxy', groups: [] },
    target: { username: 'alice', groups: [] },
    action: { verb: 'get', resource: 'pods', namespace: 'default' },
    code,
    outcome: code === undefined ? 'unknown' : 'allowed',
  };
}

function run(records: AuditRecord[], limit?: number): { counted: string[]; drained: string[] } {
  const d = new StageDeduper(limit);
  const counted = records.flatMap((r) => {
    const c = d.push(r);
    return c ? [`${c.auditID}:${c.stage}`] : [];
  });
  return { counted, drained: d.drain().map((r) => `${r.auditID}:${r.stage}`) };
}

describe('StageDeduper', () => {
  it.each([
    {
      name: 'RequestReceived then ResponseComplete counts once, at completion',
      given: [rec('a', 'RequestReceived'), rec('a', 'ResponseComplete', 200)],
      expected: { counted: ['a:ResponseComplete'], drained: [] },
    },
    {
      name: 'a watch: RequestReceived, ResponseStarted, ResponseComplete',
      given: [
        rec('w', 'RequestReceived'),
        rec('w', 'ResponseStarted', 200),
        rec('w', 'ResponseComplete', 200),
      ],
      expected: { counted: ['w:ResponseComplete'], drained: [] },
    },
    {
      name: 'a request that never completed is drained with its latest stage',
      given: [rec('w', 'RequestReceived'), rec('w', 'ResponseStarted', 200)],
      expected: { counted: [], drained: ['w:ResponseStarted'] },
    },
    {
      name: 'a duplicated final event counts once',
      given: [rec('a', 'ResponseComplete', 200), rec('a', 'ResponseComplete', 200)],
      expected: { counted: ['a:ResponseComplete'], drained: [] },
    },
    {
      name: 'a late RequestReceived after completion is dropped',
      given: [rec('a', 'ResponseComplete', 200), rec('a', 'RequestReceived')],
      expected: { counted: ['a:ResponseComplete'], drained: [] },
    },
    {
      name: 'Panic is final',
      given: [rec('p', 'RequestReceived'), rec('p', 'Panic', 500)],
      expected: { counted: ['p:Panic'], drained: [] },
    },
    {
      name: 'events without auditID are each counted',
      given: [rec('', 'ResponseComplete', 200), rec('', 'ResponseComplete', 200)],
      expected: { counted: [':ResponseComplete', ':ResponseComplete'], drained: [] },
    },
    {
      name: 'interleaved requests',
      given: [
        rec('a', 'RequestReceived'),
        rec('b', 'RequestReceived'),
        rec('b', 'ResponseComplete', 200),
        rec('a', 'ResponseComplete', 200),
      ],
      expected: { counted: ['b:ResponseComplete', 'a:ResponseComplete'], drained: [] },
    },
  ])('$name', ({ given, expected }) => {
    expect(run(given)).toEqual(expected);
  });

  it('forgets the oldest completed IDs beyond its limit', () => {
    const given = [
      rec('a', 'ResponseComplete', 200),
      rec('b', 'ResponseComplete', 200),
      rec('a', 'ResponseComplete', 200),
    ];
    expect(run(given, 1).counted).toEqual(['a:ResponseComplete', 'b:ResponseComplete', 'a:ResponseComplete']);
    expect(run(given, 2).counted).toEqual(['a:ResponseComplete', 'b:ResponseComplete']);
  });
});
