// The normalization against Go itself (test/harness/go-lower): the operator lower-cases every code
// point as Go's unicode.ToLower does, every string as strings.ToLower does (also where JavaScript's
// toLowerCase() does not), and the RE2 classes of the CEL rules match, in Go's regexp, exactly the
// code points their zod twins match in JavaScript.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  INVISIBLE,
  INVISIBLE_CEL,
  INVISIBLE_RANGES,
  celRegexClass,
  celStringValue,
  jsClass,
} from '../../src/api/characters.js';
import {
  CASED_AFTER_GO_TABLES,
  GO_UNICODE_VERSION,
  goLowerRune,
  goToLower,
  normalizeRoleName,
} from '../../src/core/normalize.js';
import { goLowerRunes, goRegexpRuns, goStringsToLower } from '../harness/go-lower.js';

const MAX = 0x10ffff;
const isSurrogate = (cp: number): boolean => cp >= 0xd800 && cp <= 0xdfff;

/** Runs [first, last] of the non-surrogate code points `inSet` holds, as go-lower -match prints them. */
function runs(inSet: (cp: number) => boolean): [number, number][] {
  const out: [number, number][] = [];
  let first = -1;
  for (let cp = 0; cp <= MAX + 1; cp++) {
    const member = cp <= MAX && !isSurrogate(cp) && inSet(cp);
    if (member && first < 0) first = cp;
    else if (!member && first >= 0) {
      out.push([first, cp - 1]);
      first = -1;
    }
  }
  return out;
}

const inRanges =
  (ranges: readonly (readonly [number, number])[]) =>
  (cp: number): boolean =>
    ranges.some(([a, b]) => cp >= a && cp <= b);

/** JavaScript's lower case of one code point, when it is one code point. */
const jsLowerRune = (cp: number): number => {
  const lower = [...String.fromCodePoint(cp).toLowerCase()];
  return lower.length === 1 ? lower[0]!.codePointAt(0)! : -1;
};

describe("normalization against Go's strings.ToLower", () => {
  it("lower-cases every code point as Go's unicode.ToLower, with Go's Unicode version", async () => {
    const go = await goLowerRunes();
    expect(go.unicodeVersion).toBe(GO_UNICODE_VERSION);
    const mismatches: string[] = [];
    for (let cp = 0; cp <= MAX; cp++) {
      if (isSurrogate(cp)) continue;
      const expected = go.lower.get(cp) ?? cp;
      if (goLowerRune(cp) !== expected) mismatches.push(`U+${cp.toString(16)}: Go ${expected.toString(16)}`);
    }
    expect(mismatches).toEqual([]);
    expect(go.lower.size).toBeGreaterThan(1400);
  });

  it('finds where JavaScript and Go differ, and agrees with Go on each of them', async () => {
    const go = await goLowerRunes();
    const differ: number[] = [];
    for (let cp = 0; cp <= MAX; cp++)
      if (!isSurrogate(cp) && jsLowerRune(cp) !== (go.lower.get(cp) ?? cp)) differ.push(cp);
    // U+0130 (JavaScript: two code points), and the letters Unicode 16 and 17 gave a lower case.
    expect(differ.filter((cp) => cp !== 0x130)).toEqual(
      runs(inRanges(CASED_AFTER_GO_TABLES)).flatMap(([a, b]) =>
        Array.from({ length: b - a + 1 }, (_, i) => a + i),
      ),
    );
    expect(differ).toContain(0x130);
    const strings = [
      ...differ.map((cp) => `Role ${String.fromCodePoint(cp)}`),
      'İnfra',
      'ΟΔΟΣ ΣΑΣ',
      'Σ',
      'AΣ',
      '\u212aube Admins',
      'ǅemal',
    ];
    const expected = await goStringsToLower(strings);
    expect(strings.map(goToLower)).toEqual(expected);
    expect(strings.map((s) => normalizeRoleName(s))).toEqual(expected.map((s) => s.replaceAll(' ', '-')));
    expect(strings.map((s) => s.toLowerCase())).not.toEqual(expected); // the point of it all
  });

  it('lower-cases random strings as Go does', async () => {
    const tricky = [0x130, 0x131, 0x212a, 0x212b, 0x3a3, 0x3c2, 0x1e9e, 0x1c5, 0x17f, 0x20, 0x2d, 0x3a];
    const codePoint = fc.oneof(
      fc.constantFrom(...tricky),
      fc.integer({ min: 0x20, max: 0x7e }),
      fc.integer({ min: 0x80, max: 0x24ff }),
      fc.integer({ min: 0, max: MAX }).filter((cp) => !isSurrogate(cp)),
    );
    const samples = fc.sample(
      fc.array(codePoint, { minLength: 1, maxLength: 24 }).map((cps) => String.fromCodePoint(...cps)),
      { numRuns: 3000, seed: 15 },
    );
    expect(samples.map(goToLower)).toEqual(await goStringsToLower(samples));
  });

  it("matches, in Go's regexp, exactly the code points the zod twins match", async () => {
    expect(await goRegexpRuns(celStringValue(INVISIBLE_CEL))).toEqual(runs(inRanges(INVISIBLE_RANGES)));
    expect(runs((cp) => INVISIBLE.test(String.fromCodePoint(cp)))).toEqual(runs(inRanges(INVISIBLE_RANGES)));
    const casedAfter = jsClass(CASED_AFTER_GO_TABLES);
    expect(await goRegexpRuns(celStringValue(celRegexClass(CASED_AFTER_GO_TABLES)))).toEqual(
      runs((cp) => casedAfter.test(String.fromCodePoint(cp))),
    );
  });
});
