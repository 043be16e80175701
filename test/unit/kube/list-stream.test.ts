// The LIST body splitter: whatever the items hold and however the body is cut into chunks, it hands
// over exactly the items JSON.parse sees, in order, and the list's other fields; broken bodies throw.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ListItemSplitter, listItemSplitter } from '../../../src/kube/list-stream.js';

/** Feeds `body` in chunks at `cuts` (byte offsets) and returns what the splitter saw. */
function split(body: string, cuts: number[] = []): { items: unknown[]; rest: unknown } {
  const bytes = Buffer.from(body);
  const items: unknown[] = [];
  const splitter = new ListItemSplitter((text) => items.push(JSON.parse(text)));
  let from = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    splitter.write(bytes.subarray(from, cut));
    from = cut;
  }
  splitter.write(bytes.subarray(from));
  return { items, rest: splitter.end() };
}

// Strings full of what a naive splitter trips on: quotes, backslashes, brackets, "items", non-ASCII.
const nasty = fc.string({
  unit: fc.constantFrom('"', '\\', '{', '}', '[', ']', ',', ':', 'items', 'a', 'é', '日', '😀', '\n', ' '),
  maxLength: 12,
});
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    nasty,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(nasty, tie('value'), { maxKeys: 4 }),
  ),
})).value;

describe('ListItemSplitter', () => {
  it('hands over exactly the parsed items and the rest, for any items and any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(fc.dictionary(nasty, json, { maxKeys: 5 }), { maxLength: 6 }),
        fc.dictionary(nasty, json, { maxKeys: 3 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.boolean(),
        (items, extra, cuts, pretty) => {
          // Keys before and after items, including ones that look like "items" inside strings.
          const list = {
            kind: 'ThingList',
            metadata: { continue: '"items":[', ...extra },
            items,
            tail: extra,
          };
          const body = pretty ? JSON.stringify(list, null, 2) : JSON.stringify(list);
          const got = split(body, cuts);
          expect(got.items).toEqual(JSON.parse(body).items);
          expect(got.rest).toEqual({ ...JSON.parse(body), items: [] });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('cuts a real API server page item by item, one byte at a time too', () => {
    const page = JSON.stringify({
      kind: 'ClusterRoleList',
      apiVersion: 'rbac.authorization.k8s.io/v1',
      metadata: { resourceVersion: '42', continue: 'eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ' },
      items: [
        { metadata: { name: 'a', annotations: { note: 'has "quotes" and \\ and }]' } }, rules: [] },
        { metadata: { name: 'b' }, rules: [{ verbs: ['get'], resources: ['pods'] }] },
      ],
    });
    const cuts = Array.from({ length: Buffer.byteLength(page) }, (_, i) => i);
    for (const got of [split(page), split(page, cuts)]) {
      expect(got.items).toEqual(JSON.parse(page).items);
      expect(got.rest).toEqual({
        kind: 'ClusterRoleList',
        apiVersion: 'rbac.authorization.k8s.io/v1',
        metadata: { resourceVersion: '42', continue: 'eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ' },
        items: [],
      });
    }
  });

  it('gives typed-list items their kind and apiVersion, and keeps the ones they carry', () => {
    const seen: { kind?: string; apiVersion?: string }[] = [];
    const splitter = listItemSplitter(
      { kind: 'ClusterRole', apiVersion: 'rbac.authorization.k8s.io/v1' },
      (i) => seen.push(i),
    );
    splitter.write(Buffer.from('{"items":[{"metadata":{}},{"kind":"Other","apiVersion":"x/v1"}]}'));
    splitter.end();
    expect(seen).toEqual([
      { kind: 'ClusterRole', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: {} },
      { kind: 'Other', apiVersion: 'x/v1' },
    ]);
  });

  it.each([
    ['a body cut short inside an item', '{"items":[{"metadata":{"name":"a"'],
    ['a body cut short inside a string', '{"kind":"ThingL'],
    ['a body cut short after the items', '{"items":[]'],
    ['an items array closed by a brace', '{"items":[}'],
    ['more closing than opening brackets', '{"items":[]}}'],
    ['an empty body', ''],
  ])('refuses %s', (_what, body) => {
    expect(() => split(body)).toThrow(SyntaxError);
  });

  it('an item that is not valid JSON fails its parse, not silently', () => {
    expect(() => split('{"items":[{"a":tru}]}')).toThrow(SyntaxError);
  });
});
