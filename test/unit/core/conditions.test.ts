import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Condition } from '../../../src/api/index.js';
import type { ConditionsInput, Problem, StalledReason } from '../../../src/core/index.js';
import { STALLED_REASONS, policyConditions, toRfc3339 } from '../../../src/core/index.js';

const now = new Date('2024-05-01T12:00:00.123Z');
const earlier = '2024-04-01T00:00:00Z';
const base: ConditionsInput = { generation: 3, now, stalled: [], readyMessage: 'All good.' };
const brief = (conditions: Condition[]) => conditions.map((c) => [c.type, c.status, c.reason]);

describe('policyConditions', () => {
  it.each<{ name: string; given: Partial<ConditionsInput>; expected: string[][] }>([
    {
      name: 'all provisioned',
      given: {},
      expected: [
        ['Ready', 'True', 'Provisioned'],
        ['Reconciling', 'False', 'Reconciled'],
        ['Stalled', 'False', 'Reconciled'],
      ],
    },
    {
      name: 'a collision stalls',
      given: { stalled: [{ reason: 'Collision', message: 'Held back myrole.' }] },
      expected: [
        ['Ready', 'False', 'Collision'],
        ['Reconciling', 'False', 'Stalled'],
        ['Stalled', 'True', 'Collision'],
      ],
    },
    {
      name: 'several problems: the highest-priority reason wins',
      given: {
        stalled: [
          { reason: 'NameConflict', message: 'c' },
          { reason: 'Denied', message: 'b' },
          { reason: 'Collision', message: 'a' },
        ],
      },
      expected: [
        ['Ready', 'False', 'Collision'],
        ['Reconciling', 'False', 'Stalled'],
        ['Stalled', 'True', 'Collision'],
      ],
    },
    {
      name: 'a transient failure is Reconciling, not Stalled',
      given: {
        retrying: { reason: 'ApplyFailed', message: 'boom' },
        stalled: [{ reason: 'Denied', message: 'x' }],
      },
      expected: [
        ['Ready', 'False', 'ApplyFailed'],
        ['Reconciling', 'True', 'ApplyFailed'],
        ['Stalled', 'False', 'Retrying'],
      ],
    },
  ])('$name', ({ given, expected }) => {
    expect(brief(policyConditions({ ...base, ...given }))).toEqual(expected);
  });

  it('joins every problem into the messages', () => {
    const [ready, , stalled] = policyConditions({
      ...base,
      stalled: [
        { reason: 'Denied', message: 'Refused x.' },
        { reason: 'Collision', message: 'Held back y.' },
      ],
    });
    expect(ready?.message).toBe('Held back y. Refused x.');
    expect(stalled?.message).toBe('Held back y. Refused x.');
  });

  it('stamps observedGeneration and an RFC 3339 second-precision time', () => {
    const [ready] = policyConditions(base);
    expect(ready).toEqual({
      type: 'Ready',
      status: 'True',
      observedGeneration: 3,
      lastTransitionTime: '2024-05-01T12:00:00Z',
      reason: 'Provisioned',
      message: 'All good.',
    });
    expect(toRfc3339(new Date('2024-01-02T03:04:05.999Z'))).toBe('2024-01-02T03:04:05Z');
  });

  it('moves lastTransitionTime only when the status flips', () => {
    const previous: Condition[] = [
      { type: 'Ready', status: 'True', lastTransitionTime: earlier, reason: 'Provisioned', message: 'old' },
      {
        type: 'Reconciling',
        status: 'False',
        lastTransitionTime: earlier,
        reason: 'Reconciled',
        message: '',
      },
      { type: 'Stalled', status: 'False', lastTransitionTime: earlier, reason: 'Reconciled', message: '' },
    ];
    const same = policyConditions({ ...base, previous });
    expect(same.map((c) => c.lastTransitionTime)).toEqual([earlier, earlier, earlier]);
    const flipped = policyConditions({ ...base, previous, stalled: [{ reason: 'Denied', message: 'x' }] });
    expect(flipped.map((c) => c.lastTransitionTime)).toEqual([
      '2024-05-01T12:00:00Z',
      earlier,
      '2024-05-01T12:00:00Z',
    ]);
  });

  it('clips very long messages to the API limit', () => {
    const [ready] = policyConditions({
      ...base,
      stalled: [{ reason: 'Denied', message: 'x'.repeat(40000) }],
    });
    expect(ready?.message.length).toBe(32768);
  });

  it('never has Reconciling and Stalled both True, and Ready is False when either is', () => {
    const problem = fc.record({
      reason: fc.constantFrom(...STALLED_REASONS),
      message: fc.string(),
    }) as fc.Arbitrary<Problem<StalledReason>>;
    fc.assert(
      fc.property(
        fc.array(problem, { maxLength: 4 }),
        fc.option(fc.record({ reason: fc.constant('ApplyFailed'), message: fc.string() }), {
          nil: undefined,
        }),
        (stalled, retrying) => {
          const conditions = policyConditions({
            ...base,
            stalled,
            ...(retrying === undefined ? {} : { retrying }),
          });
          const status = (type: string) => conditions.find((c) => c.type === type)?.status;
          expect(status('Reconciling') === 'True' && status('Stalled') === 'True').toBe(false);
          if (status('Reconciling') === 'True' || status('Stalled') === 'True')
            expect(status('Ready')).toBe('False');
          else expect(status('Ready')).toBe('True');
        },
      ),
    );
  });
});
