import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { findCollisions, normalizeRoleName } from '../../../src/core/index.js';
import { CASED_AFTER_GO_TABLES, goLowerRune, goToLower } from '../../../src/core/normalize.js';
import type { GroupNameNormalization } from '../../../src/api/index.js';
import { peer, proxy, spec } from './helpers.js';

const MAX = 0x10ffff;
const isSurrogate = (cp: number): boolean => cp >= 0xd800 && cp <= 0xdfff;

/**
 * Go's simple lower-case mapping written a second way, independently of the table in
 * src/core/normalize.ts: JavaScript's own lower case of the code point alone (no context, so no
 * final sigma), except where it is not one code point (only U+0130, whose simple mapping is 'i')
 * and except the letters that got a lower case after Unicode 15.0, Go's version, listed here by
 * hand from the Unicode 16.0 and 17.0 release notes.
 */
const NEWER_UPPER_CASE: readonly number[] = [
  0x1c89, // CYRILLIC CAPITAL LETTER TJE (16.0)
  0xa7cb, // LATIN CAPITAL LETTER RAMS HORN (16.0)
  0xa7cc, // LATIN CAPITAL LETTER S WITH DIAGONAL STROKE (16.0)
  0xa7ce, // LATIN CAPITAL LETTER PHARYNGEAL VOICED FRICATIVE (17.0)
  0xa7d2, // LATIN CAPITAL LETTER DOUBLE THORN (17.0)
  0xa7d4, // LATIN CAPITAL LETTER DOUBLE WYNN (17.0)
  0xa7da, // LATIN CAPITAL LETTER LAMBDA (16.0)
  0xa7dc, // LATIN CAPITAL LETTER LAMBDA WITH STROKE (16.0)
  ...Array.from({ length: 0x16 }, (_, i) => 0x10d50 + i), // GARAY CAPITAL LETTERS (16.0)
  ...Array.from({ length: 0x19 }, (_, i) => 0x16ea0 + i), // BERIA ERFE CAPITAL LETTERS (17.0)
];

function independentLowerRune(cp: number): number {
  if (NEWER_UPPER_CASE.includes(cp)) return cp;
  const lower = [...String.fromCodePoint(cp).toLowerCase()];
  if (lower.length === 1) return lower[0]!.codePointAt(0)!;
  if (cp === 0x130) return 0x69;
  throw new Error(`U+${cp.toString(16)} lower-cases to ${lower.length} code points`);
}

const independentToLower = (s: string): string =>
  [...s].map((c) => String.fromCodePoint(independentLowerRune(c.codePointAt(0)!))).join('');

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
    { name: "'İ' is 'i', as in Go (JavaScript: 'i̇')", given: ['İnfra'], expected: 'infra' },
    { name: "'Σ' is 'σ' at a word's end too", given: ['ΟΔΟΣ ΣΑΣ'], expected: 'οδοσ-σασ' },
    { name: 'KELVIN SIGN is k', given: ['\u212aube'], expected: 'kube' },
    { name: 'a title-case digraph is its lower case', given: ['ǅemal'], expected: 'ǆemal' },
    { name: 'capital sharp s is ß', given: ['STRAẞE'], expected: 'straße' },
    { name: "a letter cased only after Go's Unicode stays", given: ['\u{10d50}x'], expected: '\u{10d50}x' },
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

  it('keeps the number of code points (rune by rune, like Go)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (name) => {
        expect([...normalizeRoleName(name)].length).toBe([...name].length);
      }),
      { numRuns: 500 },
    );
  });
});

describe("goToLower against an independent implementation of Go's mapping", () => {
  it('agrees on every code point', () => {
    const mismatches: string[] = [];
    for (let cp = 0; cp <= MAX; cp++) {
      if (!isSurrogate(cp) && goLowerRune(cp) !== independentLowerRune(cp))
        mismatches.push(`U+${cp.toString(16)}`);
    }
    expect(mismatches).toEqual([]);
  });

  it("refuses at admission exactly the letters cased after Go's Unicode version", () => {
    const listed = CASED_AFTER_GO_TABLES.flatMap(([a, b]) =>
      Array.from({ length: b - a + 1 }, (_, i) => a + i),
    );
    expect(listed).toEqual(NEWER_UPPER_CASE);
  });

  it("is JavaScript's per-code-point lower case but for U+0130 and those letters (Node's ICU is newer)", () => {
    const differ: number[] = [];
    for (let cp = 0; cp <= MAX; cp++) {
      if (isSurrogate(cp)) continue;
      const js = [...String.fromCodePoint(cp).toLowerCase()];
      if (js.length !== 1 || js[0]!.codePointAt(0) !== goLowerRune(cp)) differ.push(cp);
    }
    expect(differ).toEqual([0x130, ...NEWER_UPPER_CASE].sort((a, b) => a - b));
  });

  it('agrees on strings, where JavaScript applies context (final sigma) and Go does not', () => {
    const codePoint = fc.oneof(
      fc.constantFrom(
        0x130,
        0x131,
        0x212a,
        0x3a3,
        0x3c3,
        0x3c2,
        0x20,
        0x41,
        0x49,
        0x307,
        ...NEWER_UPPER_CASE,
      ),
      fc.integer({ min: 0, max: 0x7f }),
      fc.integer({ min: 0, max: MAX }).filter((cp) => !isSurrogate(cp)),
    );
    fc.assert(
      fc.property(fc.array(codePoint, { maxLength: 30 }), (cps) => {
        const s = String.fromCodePoint(...cps);
        expect(goToLower(s)).toBe(independentToLower(s));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('collisions after Go lower-casing', () => {
  const roles = (...names: string[]) => ({
    impersonators: [...proxy],
    roles: names.map((name) => ({ name, clusterRoles: ['view'] })),
  });

  it.each([
    { name: "'İnfra' and 'infra'", names: ['İnfra', 'infra'], group: 'infra' },
    { name: "'ΟΔΟΣ' and 'οδοσ' (a final sigma is σ in Go)", names: ['ΟΔΟΣ', 'οδοσ'], group: 'οδοσ' },
    { name: "KELVIN SIGN 'Kube' and 'kube'", names: ['\u212aube', 'kube'], group: 'kube' },
  ])('$name collide within a policy', ({ names, group }) => {
    expect(findCollisions({ name: 'self', spec: spec(roles(...names)) }, [])).toEqual([
      { group, scope: 'WithinPolicy', roles: [...names].sort() },
    ]);
  });

  it("'İnfra' in one policy and 'infra' in another collide", () => {
    const own = { name: 'self', spec: spec(roles('İnfra')) };
    expect(findCollisions(own, [peer('team-b', roles('infra'))])).toEqual([
      {
        group: 'infra',
        scope: 'AcrossPolicies',
        roles: ['İnfra'],
        otherPolicies: [{ policy: 'team-b', role: 'infra' }],
      },
    ]);
  });
});
