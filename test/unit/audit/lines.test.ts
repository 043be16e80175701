import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { LineScanner } from '../../../src/audit/lines.js';

function scan(chunks: Buffer[], needle = 'imp'): { hits: [string, number][]; lines: number } {
  const hits: [string, number][] = [];
  const s = new LineScanner(needle, (line, n) => hits.push([line, n]));
  for (const c of chunks) s.push(c);
  s.end();
  return { hits, lines: s.lines };
}

/** The obvious (slow) answer: split, count, filter. */
function naive(text: string, needle = 'imp'): { hits: [string, number][]; lines: number } {
  if (text === '') return { hits: [], lines: 0 };
  const parts = text.split('\n');
  if (text.endsWith('\n')) parts.pop();
  return {
    hits: parts.map((l, i): [string, number] => [l, i + 1]).filter(([l]) => l.includes(needle)),
    lines: parts.length,
  };
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  return out.filter((b) => b.length > 0);
}

describe('LineScanner', () => {
  it.each([
    { name: 'empty input', chunks: [''], expected: { hits: [], lines: 0 } },
    { name: 'one line, no newline', chunks: ['imp'], expected: { hits: [['imp', 1]], lines: 1 } },
    {
      name: 'needle on the second line',
      chunks: ['a\nximpx\nb\n'],
      expected: { hits: [['ximpx', 2]], lines: 3 },
    },
    {
      name: 'line split across chunks',
      chunks: ['a\nxi', 'm', 'px\nb'],
      expected: { hits: [['ximpx', 2]], lines: 3 },
    },
    {
      name: 'needle split across chunks',
      chunks: ['a\nim', 'p\n'],
      expected: { hits: [['imp', 2]], lines: 2 },
    },
    {
      name: 'two needles on one line',
      chunks: ['imp imp\nimp\n'],
      expected: {
        hits: [
          ['imp imp', 1],
          ['imp', 2],
        ],
        lines: 2,
      },
    },
    { name: 'empty lines count', chunks: ['\n\nimp\n'], expected: { hits: [['imp', 3]], lines: 3 } },
    {
      name: 'multi-byte characters survive a split',
      chunks: [Buffer.from('é imp ü\n').subarray(0, 1), Buffer.from('é imp ü\n').subarray(1)],
      expected: { hits: [['é imp ü', 1]], lines: 1 },
    },
  ])('$name', ({ chunks, expected }) => {
    expect(scan(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)))).toEqual(expected);
  });

  it('agrees with split/filter for any text and any chunking', () => {
    fc.assert(
      fc.property(
        fc
          .array(fc.constantFrom('a', 'i', 'm', 'p', 'imp', '\n', 'é', ' '), { maxLength: 60 })
          .map((xs) => xs.join('')),
        fc.array(fc.nat(), { maxLength: 8 }),
        (text, cuts) => {
          expect(scan(splitAt(Buffer.from(text), cuts))).toEqual(naive(text));
        },
      ),
      { numRuns: 500 },
    );
  });
});
