// CEL has only lowerAscii(); the role-name rules map U+0130 and U+212A first (CEL_GO_LOWER) and
// their zod twins lower-case as Go does (goToLower). This proves the two judge every comparison
// with an ASCII string alike, and that the rules as written do.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CEL_GO_LOWER, FORBIDDEN_IDENTITIES, RoleSchema, lowerAscii } from '../../../src/api/index.js';
import { goLowerRune, goToLower } from '../../../src/core/normalize.js';

const MAX = 0x10ffff;
const isAscii = (cp: number): boolean => cp < 0x80;

/** The TypeScript twin of CEL_GO_LOWER: replace() twice, then lowerAscii(). */
const celGoLower = (s: string): string => lowerAscii(s.replaceAll('\u0130', 'i').replaceAll('\u212a', 'k'));

describe('CEL_GO_LOWER', () => {
  it('is the expression its twin mirrors', () => {
    expect(CEL_GO_LOWER).toBe("self.replace('\\u0130', 'i').replace('\\u212a', 'k').lowerAscii()");
  });

  it('maps each code point to ASCII exactly where Go does, and then to the same character', () => {
    const wrong: string[] = [];
    for (let cp = 0; cp <= MAX; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const go = goLowerRune(cp);
      const cel = celGoLower(String.fromCodePoint(cp)).codePointAt(0)!;
      if (isAscii(go) !== isAscii(cel) || (isAscii(go) && go !== cel)) wrong.push(`U+${cp.toString(16)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('judges equality with, and prefixes of, ASCII strings as Go lower-casing does', () => {
    const targets = ['system:masters', '*', 'system:', 'system:authenticated', 'kube-admins', 'infra'];
    // Spellings of the targets: each letter in any case, or a look-alike that Go may or may not map.
    const spelling = fc
      .constantFrom(...targets)
      .chain((t) =>
        fc
          .tuple(
            ...[...t].map((c) =>
              fc.constantFrom(
                c,
                c.toUpperCase(),
                c === 'i' ? '\u0130' : c,
                c === 'k' ? '\u212a' : c,
                'ı',
                'ſ',
                'Σ',
              ),
            ),
          )
          .map((chars) => chars.join('')),
      );
    const anything = fc.string({ unit: 'binary', maxLength: 24 });
    fc.assert(
      fc.property(fc.oneof(spelling, anything), fc.constantFrom(...targets), (s, t) => {
        expect(celGoLower(s) === t).toBe(goToLower(s) === t);
        expect(celGoLower(s).startsWith(t)).toBe(goToLower(s).startsWith(t));
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ['System:Masters', false],
    ['SYSTEM:MASTERS', false],
    ['*', false],
    ['ſystem:masters', true], // Go keeps 'ſ': a different group
    ['İnfra', true],
    ['\u212aube', true],
  ])('roles[].name %j admitted: %s (zod, as the API server)', (name, admitted) => {
    expect(RoleSchema.safeParse({ name, clusterRoles: ['view'] }).success).toBe(admitted);
    expect(FORBIDDEN_IDENTITIES.includes(celGoLower(name))).toBe(!admitted);
  });
});
