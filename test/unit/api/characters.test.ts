// The characters identity strings may not hold: the written-out list is the union of the Unicode
// properties it claims, and both renderings (JavaScript for zod, RE2 for CEL) say the same.

import { describe, expect, it } from '@jest/globals';
import {
  INVISIBLE,
  INVISIBLE_CEL,
  INVISIBLE_RANGES,
  celRegexClass,
  celStringValue,
} from '../../../src/api/characters.js';

const MAX = 0x10ffff;

function runs(inSet: (cp: number) => boolean): [number, number][] {
  const out: [number, number][] = [];
  let first = -1;
  for (let cp = 0; cp <= MAX + 1; cp++) {
    const member = cp <= MAX && inSet(cp);
    if (member && first < 0) first = cp;
    else if (!member && first >= 0) {
      out.push([first, cp - 1]);
      first = -1;
    }
  }
  return out;
}

/** The properties, as JavaScript's (Node's ICU) Unicode tables know them. */
const PROPERTIES = new RegExp(
  String.raw`[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Default_Ignorable_Code_Point}[\p{White_Space}--[ ]]\u{fff0}-\u{ffff}]`,
  'v', // set subtraction; the tsconfig's target has no literal for it
);

describe('INVISIBLE_RANGES', () => {
  it('is controls, format, surrogates, private use, default-ignorables, Specials and white space but space', () => {
    // Private use reaches the end of planes 15 and 16: the two noncharacters there are refused too.
    const nonCharacters = [0xffffe, 0xfffff, 0x10fffe, 0x10ffff];
    expect(runs((cp) => PROPERTIES.test(String.fromCodePoint(cp)) || nonCharacters.includes(cp))).toEqual(
      INVISIBLE_RANGES,
    );
  });

  it('is what the zod twin matches', () => {
    expect(runs((cp) => INVISIBLE.test(String.fromCodePoint(cp)))).toEqual(INVISIBLE_RANGES);
  });

  it.each([
    ['a space', 'SRE On Call', false],
    ['letters beyond ASCII', 'Équipe Ρουζ 日本', false],
    ['an emoji', 'on-call 🚒', false],
    ['a zero-width space', 'infra\u200b', true],
    ['a no-break space', 'SRE\u00a0On', true],
    ['a bidi isolate', '\u2066admins', true],
    ['a lone surrogate', 'x\ud800', true],
    ['U+FFFD', '\ufffd', true],
  ])('%s (%j): refused %s', (_name, value, refused) => {
    expect(INVISIBLE.test(value)).toBe(refused);
  });

  it('renders the CEL literal from the same ranges, surrogates left out (Go strings cannot hold them)', () => {
    expect(INVISIBLE_CEL).toBe(celRegexClass(INVISIBLE_RANGES));
    expect(INVISIBLE_CEL).not.toContain('d800');
    const literal = celRegexClass([
      [0x9, 0x9],
      [0x7f, 0xa0],
      [0xd800, 0xdfff],
      [0x10000, 0x10ffff],
    ]);
    expect(literal).toBe('[\\\\x09\\\\x7f-\\u00a0\\U00010000-\\U0010ffff]');
    expect(celStringValue(literal)).toBe('[\\x09\\x7f-\u00a0\u{10000}-\u{10ffff}]');
  });
});
