// The informer's list/watch bookkeeping against a scripted list/watch source. Nothing here decides what
// the API server would decide; the real-server behaviour is in test/integration/kube-informer.test.ts.
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { backoffDelay, Informer, type ListWatchSource } from '../../../src/kube/informer.js';
import { KubeApiError } from '../../../src/kube/errors.js';
import { listItemSplitter } from '../../../src/kube/list-stream.js';
import { labelIndex } from '../../../src/kube/store.js';
import type { KubeObject, ObjectList, WatchEvent } from '../../../src/kube/types.js';

type Obj = KubeObject & { data?: string };

const mk = (name: string, rv: string, extra: Partial<Obj> = {}, labels?: Record<string, string>): Obj => ({
  metadata: { name, resourceVersion: rv, ...(labels ? { labels } : {}) },
  ...extra,
});

/** One watch stream the test feeds. */
class Stream {
  private buffer: (WatchEvent<Obj> | Error | null)[] = [];
  private wake: (() => void) | undefined;
  constructor(
    readonly resourceVersion: string | undefined,
    private readonly signal: AbortSignal,
  ) {}
  push(item: WatchEvent<Obj> | Error | null): void {
    this.buffer.push(item);
    this.wake?.();
  }
  async *iterate(): AsyncGenerator<WatchEvent<Obj>> {
    for (;;) {
      if (this.signal.aborted) throw new Error('aborted');
      const next = this.buffer.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        continue;
      }
      if (next === null) return;
      if (next instanceof Error) throw next;
      yield next;
    }
  }
}

class ScriptedSource implements ListWatchSource<Obj> {
  objects: Obj[] = [];
  listRv = '10';
  listErrors: Error[] = [];
  lists = 0;
  pageSizes: (number | undefined)[] = [];
  streams: Stream[] = [];

  /** Serves the page as the client does: its JSON body through the item splitter, in small chunks. */
  async list(
    opts: { limit?: number; continue?: string; signal: AbortSignal },
    onItem: (item: Obj) => void,
  ): Promise<Omit<ObjectList<Obj>, 'items'>> {
    this.lists++;
    this.pageSizes.push(opts.limit);
    const err = this.listErrors.shift();
    if (err) throw err;
    const start = opts.continue ? Number(opts.continue) : 0;
    const limit = opts.limit ?? this.objects.length;
    // A typed list: its items carry no kind or apiVersion.
    const items = this.objects.slice(start, start + limit).map(({ kind: _k, apiVersion: _a, ...o }) => o);
    const next = start + limit < this.objects.length ? String(start + limit) : undefined;
    const body = Buffer.from(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ThingList',
        metadata: { resourceVersion: this.listRv, ...(next ? { continue: next } : {}) },
        items,
      }),
    );
    const splitter = listItemSplitter({ kind: 'Thing', apiVersion: 'v1' }, onItem);
    for (let i = 0; i < body.length; i += 7) splitter.write(body.subarray(i, i + 7));
    return splitter.end();
  }

  watch(opts: { resourceVersion: string | undefined; signal: AbortSignal }): AsyncIterable<WatchEvent<Obj>> {
    const s = new Stream(opts.resourceVersion, opts.signal);
    this.streams.push(s);
    return s.iterate();
  }

  get stream(): Stream {
    return this.streams[this.streams.length - 1]!;
  }
}

function recorder() {
  const log: string[] = [];
  return {
    log,
    handlers: {
      onAdd: (o: Obj) => log.push(`add ${o.metadata?.name}@${o.metadata?.resourceVersion}`),
      onUpdate: (old: Obj, o: Obj) =>
        log.push(
          `update ${o.metadata?.name}@${old.metadata?.resourceVersion}->${o.metadata?.resourceVersion}`,
        ),
      onDelete: (o: Obj) => log.push(`delete ${o.metadata?.name}`),
    },
  };
}

const tick = (ms = 0): Promise<void> => jest.advanceTimersByTimeAsync(ms);

describe('Informer', () => {
  let informer: Informer<Obj> | undefined;
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(async () => {
    await informer?.stop();
    informer = undefined;
    jest.useRealTimers();
  });

  function start(source: ScriptedSource, opts: Partial<ConstructorParameters<typeof Informer<Obj>>[0]> = {}) {
    const r = recorder();
    informer = new Informer<Obj>({
      name: 'things',
      source,
      pageSize: 2,
      backoff: { initialMs: 100, maxMs: 1000, jitter: 0 },
      ...opts,
    });
    informer.addHandler(r.handlers);
    informer.start();
    return { informer, log: r.log };
  }

  it('lists page by page, restores kind/apiVersion, drops managedFields and last-applied, then syncs', async () => {
    const source = new ScriptedSource();
    source.objects = [
      mk('a', '1', { metadata: { name: 'a', resourceVersion: '1', managedFields: [{ manager: 'x' }] } }),
      mk('b', '2', {
        metadata: {
          name: 'b',
          resourceVersion: '2',
          annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"a":"copy"}', keep: 'me' },
        },
      }),
      mk('c', '3', {
        metadata: {
          name: 'c',
          resourceVersion: '3',
          annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
        },
      }),
    ];
    const { informer: inf, log } = start(source);
    expect(inf.hasSynced()).toBe(false);
    await expect(inf.waitForSync()).resolves.toBe(true);
    expect(source.pageSizes).toEqual([2, 2]);
    expect(log).toEqual(['add a@1', 'add b@2', 'add c@3']);
    const a = inf.cache.get('a')!;
    expect(a.kind).toBe('Thing');
    expect(a.apiVersion).toBe('v1');
    expect(a.metadata?.managedFields).toBeUndefined();
    expect(inf.cache.get('b')?.metadata?.annotations).toEqual({ keep: 'me' });
    expect(inf.cache.get('c')?.metadata?.annotations).toBeUndefined();
    expect(inf.cache.size).toBe(3);
    await tick();
    expect(source.stream.resourceVersion).toBe('10');
  });

  it('applies watch events to the cache and tracks the resourceVersion through bookmarks', async () => {
    const source = new ScriptedSource();
    source.objects = [mk('a', '1')];
    const { informer: inf, log } = start(source);
    await inf.waitForSync();
    await tick();
    source.stream.push({ type: 'ADDED', object: mk('b', '11') });
    source.stream.push({ type: 'MODIFIED', object: mk('a', '12', { data: 'x' }) });
    source.stream.push({ type: 'DELETED', object: mk('b', '13') });
    source.stream.push({ type: 'BOOKMARK', object: mk('', '20') });
    await tick();
    expect(log).toEqual(['add a@1', 'add b@11', 'update a@1->12', 'delete b']);
    expect(inf.cache.get('a')?.data).toBe('x');
    expect(inf.cache.get('b')).toBeUndefined();
    expect(inf.lastResourceVersion).toBe('20');
    // The server closes the watch at its timeout: re-watch at once from the bookmark, without a list.
    source.stream.push(null);
    await tick();
    expect(source.streams).toHaveLength(2);
    expect(source.stream.resourceVersion).toBe('20');
    expect(source.lists).toBe(1);
  });

  it('relists after 410 Gone, delivering deletes for vanished objects and updates only for changed ones', async () => {
    const source = new ScriptedSource();
    source.objects = [mk('a', '1'), mk('b', '2'), mk('c', '3')];
    const { informer: inf, log } = start(source);
    await inf.waitForSync();
    await tick();
    log.length = 0;
    source.objects = [mk('a', '1'), mk('c', '30'), mk('d', '31')];
    source.listRv = '40';
    source.stream.push(
      new KubeApiError({ code: 410, verb: 'watch', path: '/x', status: { reason: 'Expired' } }),
    );
    await tick();
    expect(source.lists).toBe(4); // two pages each time
    expect(log.sort()).toEqual(['add d@31', 'delete b', 'update c@3->30']);
    expect([...inf.cache.keys()].sort()).toEqual(['a', 'c', 'd']);
    expect(source.stream.resourceVersion).toBe('40');
  });

  it('retries a failing list with capped exponential backoff and never gives up', async () => {
    const source = new ScriptedSource();
    source.objects = [mk('a', '1')];
    source.listErrors = [
      new Error('connection refused'),
      new Error('connection refused'),
      new Error('refused'),
    ];
    const { informer: inf } = start(source);
    await tick(0);
    expect(source.lists).toBe(1);
    await tick(100);
    expect(source.lists).toBe(2);
    await tick(199);
    expect(source.lists).toBe(2);
    await tick(1);
    expect(source.lists).toBe(3);
    await tick(400);
    expect(source.lists).toBe(4);
    expect(inf.hasSynced()).toBe(true);
  });

  it('re-watches from the last resourceVersion after a watch error, without relisting', async () => {
    const source = new ScriptedSource();
    const { informer: inf } = start(source);
    await inf.waitForSync();
    await tick();
    source.stream.push({ type: 'ADDED', object: mk('x', '15') });
    source.stream.push(new Error('socket hang up'));
    await tick(0);
    await tick(100);
    expect(source.streams).toHaveLength(2);
    expect(source.stream.resourceVersion).toBe('15');
    expect(source.lists).toBe(1);
  });

  it('backs off when the server keeps closing watches immediately', async () => {
    const source = new ScriptedSource();
    const { informer: inf } = start(source);
    await inf.waitForSync();
    await tick();
    source.stream.push(null);
    await tick(0);
    expect(source.streams).toHaveLength(1);
    await tick(100);
    expect(source.streams).toHaveLength(2);
  });

  it('resyncs: every cached object goes to onUpdate(obj, obj) each period', async () => {
    const source = new ScriptedSource();
    source.objects = [mk('a', '1'), mk('b', '2')];
    const { informer: inf, log } = start(source, { resyncPeriodMs: 60_000 });
    await inf.waitForSync();
    log.length = 0;
    await tick(60_000);
    expect(log.sort()).toEqual(['update a@1->1', 'update b@2->2']);
  });

  it('keeps secondary indexes current as labels change', async () => {
    const source = new ScriptedSource();
    source.objects = [mk('r1', '1', {}, { owner: 'p' }), mk('r2', '2', {}, { owner: 'p' }), mk('r3', '3')];
    const { informer: inf } = start(source, { indexers: { owner: labelIndex('owner') } });
    await inf.waitForSync();
    await tick();
    expect(inf.cache.byIndex('owner', 'p').map((o) => o.metadata?.name)).toEqual(['r1', 'r2']);
    source.stream.push({ type: 'MODIFIED', object: mk('r2', '4', {}, { owner: 'q' }) });
    source.stream.push({ type: 'DELETED', object: mk('r1', '5', {}, { owner: 'p' }) });
    await tick();
    expect(inf.cache.byIndex('owner', 'p')).toEqual([]);
    expect(inf.cache.byIndex('owner', 'q').map((o) => o.metadata?.name)).toEqual(['r2']);
  });

  it('keeps running when a handler throws', async () => {
    const source = new ScriptedSource();
    const { informer: inf } = start(source);
    inf.addHandler({
      onAdd: () => {
        throw new Error('handler bug');
      },
    });
    await inf.waitForSync();
    await tick();
    source.stream.push({ type: 'ADDED', object: mk('a', '11') });
    source.stream.push({ type: 'ADDED', object: mk('b', '12') });
    await tick();
    expect(inf.cache.size).toBe(2);
  });

  it('stop() ends the loop and wakes waitForSync with false', async () => {
    const source = new ScriptedSource();
    source.listErrors = Array.from({ length: 100 }, () => new Error('down'));
    const { informer: inf } = start(source);
    const waiting = inf.waitForSync();
    await tick(50);
    await inf.stop();
    await expect(waiting).resolves.toBe(false);
  });
});

describe('backoffDelay', () => {
  it.each([
    { failures: 1, random: 0, expected: 800 },
    { failures: 2, random: 0, expected: 1600 },
    { failures: 3, random: 1, expected: 4800 },
    { failures: 10, random: 0, expected: 30_000 },
    { failures: 10, random: 1, expected: 30_000 },
  ])('failure $failures with random $random waits $expected ms', ({ failures, random, expected }) => {
    expect(backoffDelay(failures, {}, () => random)).toBe(expected);
  });
});
