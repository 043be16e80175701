import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { normalizeRoleName } from '../../../src/core/index.js';
import type { GroupNameNormalization } from '../../../src/api/index.js';

describe('normalizeRoleName', () => {
  it.each<{ name: string; given: [string, GroupNameNormalization?]; expected: string }>([
    { name: 'lower-cases (document example)', given: ['MyRole'], expected: 'myrole' },
    { name: 'keeps lower case (document example)', given: ['myrole'], expected: 'myrole' },
    { name: 'keeps hyphens (document example)', given: ['My-Role'], expected: 'my-role' },
    { name: 'turns a space into a hyphen (document example)', given: ['My role'], expected: 'my-role' },
    { name: 'turns every space into a hyphen', given: ['SRE On Call'], expected: 'sre-on-call' },
    { name: 'does not collapse spaces', given: ['a  b'], expected: 'a--b' },
    { name: 'does not trim', given: [' lead '], expected: '-lead-' },
    { name: 'leaves other characters alone', given: ['Ops:EU_West.1'], expected: 'ops:eu_west.1' },
    { name: 'lower-cases beyond ASCII', given: ['Équipe Rouge'], expected: 'équipe-rouge' },
    { name: 'is the default mode', given: ['SRE On Call', 'AccessProxy'], expected: 'sre-on-call' },
    { name: 'keeps the name in Verbatim mode', given: ['SRE On Call', 'Verbatim'], expected: 'SRE On Call' },
  ])('$name', ({ given, expected }) => {
    expect(normalizeRoleName(...given)).toBe(expected);
  });

  it('is idempotent in both modes', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.constantFrom<GroupNameNormalization>('AccessProxy', 'Verbatim'),
        (name, mode) => {
          const once = normalizeRoleName(name, mode);
          expect(normalizeRoleName(once, mode)).toBe(once);
        },
      ),
      { numRuns: 500 },
    );
  });
});
