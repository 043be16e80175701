import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Controller, watch, type EventSource, type ReconcileFn } from '../../../src/controller/controller.js';
import { KubeApiError } from '../../../src/kube/errors.js';
import type { InformerHandlers } from '../../../src/kube/informer.js';
import type { ReadonlyDeep } from '../../../src/kube/types.js';

interface Obj {
  metadata: { name: string; labels?: Record<string, string> };
}

/** An in-memory event source: the test decides when it has synced and which events it delivers. */
class FakeInformer implements EventSource<Obj> {
  readonly name = 'fake';
  private handlers: InformerHandlers<Obj>[] = [];
  private synced = false;
  private waiters: (() => void)[] = [];
  started = false;
  stopped = false;

  addHandler(h: InformerHandlers<Obj>): void {
    this.handlers.push(h);
  }
  start(): void {
    this.started = true;
  }
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiters.splice(0)) w();
  }
  hasSynced(): boolean {
    return this.synced;
  }
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      signal?.addEventListener('abort', () => resolve(false), { once: true });
      this.waiters.push(() => resolve(this.synced));
    });
  }
  sync(): void {
    this.synced = true;
    for (const w of this.waiters.splice(0)) w();
  }
  add(obj: Obj): void {
    for (const h of this.handlers) h.onAdd?.(obj as ReadonlyDeep<Obj>);
  }
  update(old: Obj, obj: Obj): void {
    for (const h of this.handlers) h.onUpdate?.(old as ReadonlyDeep<Obj>, obj as ReadonlyDeep<Obj>);
  }
  delete(obj: Obj): void {
    for (const h of this.handlers) h.onDelete?.(obj as ReadonlyDeep<Obj>);
  }
}

const obj = (name: string, owner?: string): Obj => ({
  metadata: { name, ...(owner ? { labels: { owner } } : {}) },
});

/** A reconcile whose calls the test resolves or rejects one by one. */
function controllableReconcile() {
  const calls: {
    key: string;
    resolve: (v?: { requeueAfter?: number }) => void;
    reject: (e: unknown) => void;
  }[] = [];
  const running = new Set<string>();
  let maxConcurrent = 0;
  let concurrentSameKey = false;
  const fn: ReconcileFn = (key) => {
    if (running.has(key)) concurrentSameKey = true;
    running.add(key);
    maxConcurrent = Math.max(maxConcurrent, running.size);
    return new Promise((resolve, reject) => {
      calls.push({
        key,
        resolve: (v) => {
          running.delete(key);
          resolve(v);
        },
        reject: (e) => {
          running.delete(key);
          reject(e);
        },
      });
    });
  };
  return {
    fn,
    calls,
    keys: () => calls.map((c) => c.key),
    stats: () => ({ maxConcurrent, concurrentSameKey, running: running.size }),
  };
}

const tick = (ms = 0): Promise<void> => jest.advanceTimersByTimeAsync(ms);

describe('Controller', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  function setup(workers = 2) {
    const policies = new FakeInformer();
    const owned = new FakeInformer();
    const r = controllableReconcile();
    const outcomes: string[] = [];
    const controller = new Controller({
      name: 'test',
      workers,
      reconcile: r.fn,
      queue: { baseDelayMs: 100, maxDelayMs: 1000, now: () => Date.now() },
      metrics: { reconciled: (o) => outcomes.push(o) },
      watches: [watch(policies, (o) => o.metadata.name), watch(owned, (o) => o.metadata.labels?.owner)],
    });
    return { policies, owned, r, controller, outcomes };
  }

  it('starts workers only after every informer has synced, then reconciles what was queued', async () => {
    const { policies, owned, r, controller } = setup();
    const started = controller.start();
    await tick();
    expect(policies.started && owned.started).toBe(true);
    policies.add(obj('p1'));
    owned.add(obj('role-x', 'p2'));
    policies.sync();
    await tick();
    expect(controller.hasSynced()).toBe(false);
    expect(r.calls).toHaveLength(0);
    owned.sync();
    await expect(started).resolves.toBe(true);
    await tick();
    expect(r.keys().sort()).toEqual(['p1', 'p2']);
  });

  it('maps adds, updates (old and new owner) and deletes to keys; objects without a key are ignored', async () => {
    const { policies, owned, r, controller } = setup(4);
    policies.sync();
    owned.sync();
    await controller.start();
    owned.add(obj('unlabelled'));
    owned.update(obj('role', 'a'), obj('role', 'b'));
    policies.delete(obj('c'));
    await tick();
    expect(r.keys().sort()).toEqual(['a', 'b', 'c']);
  });

  it('de-duplicates a burst of events for one key into one reconcile', async () => {
    const { policies, owned, r, controller } = setup();
    for (let i = 0; i < 50; i++) owned.add(obj(`role-${i}`, 'p'));
    policies.sync();
    owned.sync();
    await controller.start();
    await tick();
    expect(r.keys()).toEqual(['p']);
  });

  it('never reconciles a key concurrently with itself; a change during reconcile runs it once more', async () => {
    const { policies, owned, r, controller } = setup(4);
    policies.sync();
    owned.sync();
    await controller.start();
    policies.add(obj('p'));
    await tick();
    expect(r.keys()).toEqual(['p']);
    policies.update(obj('p'), obj('p'));
    policies.update(obj('p'), obj('p'));
    await tick();
    expect(r.calls).toHaveLength(1);
    r.calls[0]!.resolve();
    await tick();
    expect(r.keys()).toEqual(['p', 'p']);
    r.calls[1]!.resolve();
    await tick();
    expect(r.calls).toHaveLength(2);
    expect(r.stats().concurrentSameKey).toBe(false);
  });

  it('runs at most `workers` reconciles at once', async () => {
    const { policies, owned, r, controller } = setup(3);
    policies.sync();
    owned.sync();
    await controller.start();
    for (let i = 0; i < 10; i++) policies.add(obj(`p${i}`));
    await tick();
    expect(r.stats().running).toBe(3);
    while (r.calls.some((c) => c)) {
      const pending = r.calls.splice(0);
      pending.forEach((c) => c.resolve());
      await tick();
    }
    expect(r.stats().maxConcurrent).toBe(3);
  });

  it('retries a failed key with growing backoff and resets the backoff after success', async () => {
    const { policies, owned, r, controller, outcomes } = setup();
    policies.sync();
    owned.sync();
    await controller.start();
    policies.add(obj('p'));
    await tick();
    r.calls.shift()!.reject(new Error('boom'));
    await tick(99);
    expect(r.calls).toHaveLength(0);
    await tick(1); // 100ms
    expect(r.calls).toHaveLength(1);
    r.calls.shift()!.reject(new Error('boom'));
    await tick(199);
    expect(r.calls).toHaveLength(0);
    await tick(1); // 200ms
    r.calls.shift()!.resolve();
    await tick();
    expect(controller.queue.numRequeues('p')).toBe(0);
    expect(outcomes).toEqual(['error', 'error', 'success']);
    // After a success, the next failure starts again at the base delay.
    policies.add(obj('p'));
    await tick();
    r.calls.shift()!.reject(new Error('boom'));
    await tick(100);
    expect(r.calls).toHaveLength(1);
  });

  it("waits at least the API server's Retry-After before retrying", async () => {
    const { policies, owned, r, controller } = setup();
    policies.sync();
    owned.sync();
    await controller.start();
    policies.add(obj('p'));
    await tick();
    r.calls.shift()!.reject(new KubeApiError({ code: 429, verb: 'apply', path: '/x', retryAfterMs: 3000 }));
    await tick(2999);
    expect(r.calls).toHaveLength(0);
    await tick(1);
    expect(r.keys()).toEqual(['p']);
  });

  it('reconciles again after requeueAfter', async () => {
    const { policies, owned, r, controller, outcomes } = setup();
    policies.sync();
    owned.sync();
    await controller.start();
    policies.add(obj('p'));
    await tick();
    r.calls.shift()!.resolve({ requeueAfter: 5000 });
    await tick(4999);
    expect(r.calls).toHaveLength(0);
    await tick(1);
    expect(r.keys()).toEqual(['p']);
    expect(outcomes).toEqual(['requeue']);
  });

  it('stop() stops informers, takes no new work and waits for in-flight reconciles', async () => {
    const { policies, owned, r, controller } = setup(1);
    policies.sync();
    owned.sync();
    await controller.start();
    policies.add(obj('a'));
    policies.add(obj('b'));
    await tick();
    expect(r.keys()).toEqual(['a']);
    let stopped: boolean | undefined;
    void controller.stop().then((v) => (stopped = v));
    await tick(1000);
    expect(policies.stopped && owned.stopped).toBe(true);
    expect(stopped).toBeUndefined();
    policies.add(obj('c'));
    r.calls.shift()!.resolve();
    await tick();
    expect(stopped).toBe(true);
    expect(r.calls).toHaveLength(0); // neither the queued 'b' nor the new 'c'
  });

  it('stop() gives up after its timeout and aborts the in-flight reconcile signal', async () => {
    const policies = new FakeInformer();
    let signal: AbortSignal | undefined;
    const controller = new Controller({
      name: 'test',
      workers: 1,
      watches: [watch(policies, (o) => o.metadata.name)],
      reconcile: (_key, ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      },
    });
    policies.sync();
    await controller.start();
    policies.add(obj('p'));
    await tick();
    const result = controller.stop(5000);
    await tick(5000);
    await expect(result).resolves.toBe(false);
    expect(signal?.aborted).toBe(true);
  });

  it('start() resolves false when stopped before the caches synced', async () => {
    const { controller, r, policies } = setup();
    const started = controller.start();
    policies.add(obj('p'));
    await controller.stop();
    await expect(started).resolves.toBe(false);
    expect(r.calls).toHaveLength(0);
  });

  it('rejects a worker count below one', () => {
    expect(() => new Controller({ name: 'x', workers: 0, watches: [], reconcile: async () => {} })).toThrow(
      /workers/,
    );
  });
});
