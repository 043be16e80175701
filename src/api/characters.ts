// Which characters the free-form identity strings of a policy (user, group and role names, UIDs,
// extra values) may hold. One list of code point ranges, rendered twice: as a JavaScript RegExp for
// zod and as an RE2 character class for the CEL rule, so both judge exactly the same code points
// whatever Unicode version the runtime's tables have.

type Range = readonly [first: number, last: number];

/**
 * Refused: controls (Cc), format characters (Cf: zero-width spaces and joiners, bidi controls,
 * U+FEFF...), every other Default_Ignorable_Code_Point (variation selectors, Hangul fillers, tags),
 * surrogates (Cs), private use (Co), the Specials block (U+FFF0..U+FFFF, U+FFFD included: what an
 * invalid UTF-8 sequence decodes to) and every white space but ' ' (U+0020): NBSP, U+2000..U+200A,
 * U+3000, line and paragraph separators. These make names that look alike, or like nothing, but
 * are different groups. The list is the union of those Unicode properties (Unicode 17.0, Node's
 * ICU; test/unit/api/characters.test.ts recomputes it), written out so no runtime's tables decide.
 */
export const INVISIBLE_RANGES: readonly Range[] = [
  [0x0, 0x1f],
  [0x7f, 0xa0],
  [0xad, 0xad],
  [0x34f, 0x34f],
  [0x600, 0x605],
  [0x61c, 0x61c],
  [0x6dd, 0x6dd],
  [0x70f, 0x70f],
  [0x890, 0x891],
  [0x8e2, 0x8e2],
  [0x115f, 0x1160],
  [0x1680, 0x1680],
  [0x17b4, 0x17b5],
  [0x180b, 0x180f],
  [0x2000, 0x200f],
  [0x2028, 0x202f],
  [0x205f, 0x206f],
  [0x3000, 0x3000],
  [0x3164, 0x3164],
  [0xd800, 0xf8ff], // surrogates, then the private use area
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
  [0xffa0, 0xffa0],
  [0xfff0, 0xffff],
  [0x110bd, 0x110bd],
  [0x110cd, 0x110cd],
  [0x13430, 0x1343f],
  [0x1bca0, 0x1bca3],
  [0x1d173, 0x1d17a],
  [0xe0000, 0xe0fff],
  [0xf0000, 0x10ffff],
];

const SURROGATES: Range = [0xd800, 0xdfff];

/** `ranges` without the surrogates. */
function withoutSurrogates(ranges: readonly Range[]): Range[] {
  const [lo, hi] = SURROGATES;
  return ranges.flatMap(([a, b]): Range[] =>
    b < lo || a > hi
      ? [[a, b]]
      : (
          [
            [a, lo - 1],
            [hi + 1, b],
          ] as Range[]
        ).filter(([x, y]) => x <= y),
  );
}

const hex = (n: number): string => n.toString(16);

/** A character class matching any code point of `ranges`, for JavaScript (`u` flag). */
export function jsClass(ranges: readonly Range[]): RegExp {
  const part = ([a, b]: Range) => (a === b ? `\\u{${hex(a)}}` : `\\u{${hex(a)}}-\\u{${hex(b)}}`);
  return new RegExp(`[${ranges.map(part).join('')}]`, 'u');
}

/**
 * The same class as the body of a CEL string literal whose value is an RE2 class (CEL's
 * `matches`). CEL's own escapes (\uXXXX, \UXXXXXXXX) put the characters themselves into the
 * pattern: the API server estimates a rule's cost from the pattern's length, and RE2's \x{...} for
 * each would make the lists of names too expensive. ASCII controls stay RE2 escapes (`\\xHH` in
 * CEL). Surrogates are left out: a Go string cannot hold them (the API server decodes a lone
 * surrogate to U+FFFD, which is refused).
 */
export function celRegexClass(ranges: readonly Range[]): string {
  const one = (n: number) =>
    n < 0x80
      ? `\\\\x${hex(n).padStart(2, '0')}`
      : n <= 0xffff
        ? `\\u${hex(n).padStart(4, '0')}`
        : `\\U${hex(n).padStart(8, '0')}`;
  const part = ([a, b]: Range) => (a === b ? one(a) : `${one(a)}-${one(b)}`);
  return `[${withoutSurrogates(ranges).map(part).join('')}]`;
}

/** The value of a CEL string literal that uses only the escapes celRegexClass writes. */
export function celStringValue(literal: string): string {
  return literal.replace(/\\(\\|u[0-9a-f]{4}|U[0-9a-f]{8})/g, (_, e: string) =>
    e === '\\' ? '\\' : String.fromCodePoint(parseInt(e.slice(1), 16)),
  );
}

export const INVISIBLE = jsClass(INVISIBLE_RANGES);
export const INVISIBLE_CEL = celRegexClass(INVISIBLE_RANGES);
