// The test-only watch delay: same events, same order, same end; nothing changes without a delay.
import { describe, expect, it } from '@jest/globals';
import { delayedWatch, type ListWatchSource } from '../../../src/kube/informer.js';
import type { WatchEvent } from '../../../src/kube/types.js';

type Obj = { metadata: { name: string } };
const events: WatchEvent<Obj>[] = ['a', 'b', 'c'].map((name) => ({
  type: 'ADDED',
  object: { metadata: { name } },
}));
const source = (fail?: Error): ListWatchSource<Obj> => ({
  list: () => Promise.resolve({ items: [], metadata: {} }),
  watch: () => ({
    async *[Symbol.asyncIterator]() {
      yield* events;
      if (fail) throw fail;
    },
  }),
});
const collect = async (s: ListWatchSource<Obj>, signal = new AbortController().signal) => {
  const seen: string[] = [];
  for await (const e of s.watch({ resourceVersion: undefined, timeoutSeconds: 1, signal }))
    seen.push(e.object.metadata.name);
  return seen;
};

describe('delayedWatch', () => {
  it('returns the source itself without a delay', () => {
    const s = source();
    expect(delayedWatch(s, 0)).toBe(s);
  });

  it('delivers every event, in order, and ends when the watch ends', async () => {
    expect(await collect(delayedWatch(source(), 5))).toEqual(['a', 'b', 'c']);
  });

  it('passes a watch error on after the events before it', async () => {
    const seen: string[] = [];
    const s = delayedWatch(source(new Error('410 Gone')), 5);
    await expect(
      (async () => {
        for await (const e of s.watch({
          resourceVersion: undefined,
          timeoutSeconds: 1,
          signal: new AbortController().signal,
        }))
          seen.push(e.object.metadata.name);
      })(),
    ).rejects.toThrow('410 Gone');
    expect(seen).toEqual(['a', 'b', 'c']);
  });
});
