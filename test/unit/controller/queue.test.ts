import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { WorkQueue } from '../../../src/controller/queue.js';

/** Resolves with the next key, or 'pending' if get() did not resolve within the current tick. */
async function poll(q: WorkQueue): Promise<string | undefined | 'pending'> {
  let settled = false;
  let value: string | undefined;
  void q.get().then((v) => {
    settled = true;
    value = v;
  });
  await jest.advanceTimersByTimeAsync(0);
  return settled ? value : 'pending';
}

describe('WorkQueue', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  const newQueue = (opts: ConstructorParameters<typeof WorkQueue>[0] = {}): WorkQueue =>
    new WorkQueue({ now: () => Date.now(), ...opts });

  it('keeps one entry per key and hands keys out in FIFO order', async () => {
    const q = newQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('c');
    q.add('b');
    expect(q.len()).toBe(3);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(['a', 'b', 'c']);
    expect(q.len()).toBe(0);
  });

  it('makes get() wait until a key is added', async () => {
    const q = newQueue();
    const got = q.get();
    await jest.advanceTimersByTimeAsync(10);
    q.add('x');
    await expect(got).resolves.toBe('x');
  });

  it('re-processes a key added while it is processed, after done, and never concurrently', async () => {
    const q = newQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a'); // changed while a worker holds it
    q.add('a');
    expect(q.len()).toBe(0);
    // A second worker must not get 'a' while the first still holds it.
    expect(await poll(q)).toBe('pending');
    q.done('a');
    await jest.advanceTimersByTimeAsync(0);
    // The pending get() from poll() took it; nothing else is queued.
    expect(q.inFlight).toBe(1);
    expect(q.len()).toBe(0);
    q.done('a');
    expect(q.inFlight).toBe(0);
    expect(await poll(q)).toBe('pending');
  });

  it('does not re-queue a key that was not added during processing', async () => {
    const q = newQueue();
    q.add('a');
    await q.get();
    q.done('a');
    expect(q.len()).toBe(0);
  });

  it('backs off exponentially per key on failure, capped, and forget resets it', async () => {
    const q = newQueue({ baseDelayMs: 5, maxDelayMs: 40 });
    const delays = [1, 2, 3, 4, 5].map(() => q.addRateLimited('a'));
    expect(delays).toEqual([5, 10, 20, 40, 40]);
    expect(q.numRequeues('a')).toBe(5);
    // Other keys have their own count.
    expect(q.addRateLimited('b')).toBe(5);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    expect(q.addRateLimited('a')).toBe(5);
  });

  it('adds a rate-limited key only after its delay', async () => {
    const q = newQueue({ baseDelayMs: 100 });
    q.addRateLimited('a'); // 100ms
    q.addRateLimited('a'); // 200ms, but the earlier schedule (100ms) wins
    expect(q.len()).toBe(0);
    await jest.advanceTimersByTimeAsync(99);
    expect(q.len()).toBe(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('honors a minimum delay such as a Retry-After', () => {
    const q = newQueue({ baseDelayMs: 5 });
    expect(q.addRateLimited('a', 2000)).toBe(2000);
    expect(q.addRateLimited('a', 0)).toBe(10);
  });

  it('addAfter keeps the earliest schedule and de-duplicates with queued keys', async () => {
    const q = newQueue();
    q.addAfter('a', 1000);
    q.addAfter('a', 5000);
    q.addAfter('a', 500);
    expect(q.waiting).toBe(1);
    await jest.advanceTimersByTimeAsync(500);
    expect(q.len()).toBe(1);
    expect(q.waiting).toBe(0);
    q.addAfter('a', 0); // immediate add of an already queued key: no duplicate
    expect(q.len()).toBe(1);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(q.len()).toBe(1);
  });

  it('a delayed key that comes due while processing runs once more afterwards', async () => {
    const q = newQueue();
    q.add('a');
    await q.get();
    q.addAfter('a', 100);
    await jest.advanceTimersByTimeAsync(100);
    expect(q.len()).toBe(0);
    q.done('a');
    expect(q.len()).toBe(1);
  });

  it('shutDown stops handing out keys, ignores adds and resolves when in-flight keys are done', async () => {
    const q = newQueue();
    q.add('a');
    q.add('b');
    q.addAfter('c', 1000);
    expect(await q.get()).toBe('a');
    const waiting = q.get(); // resolves when shutting down
    q.add('x'); // taken by the waiting get
    await expect(waiting).resolves.toBe('b');

    let drained = false;
    const shut = q.shutDown().then(() => (drained = true));
    expect(q.isShuttingDown).toBe(true);
    expect(await q.get()).toBeUndefined();
    q.add('y');
    q.addAfter('z', 1);
    q.addRateLimited('a');
    await jest.advanceTimersByTimeAsync(2000);
    expect(q.len()).toBe(0);
    expect(q.waiting).toBe(0);
    expect(drained).toBe(false);
    q.done('a');
    await jest.advanceTimersByTimeAsync(0);
    expect(drained).toBe(false);
    q.done('b');
    await shut;
    expect(drained).toBe(true);
  });

  it('shutDown wakes idle workers with undefined and resolves at once when idle', async () => {
    const q = newQueue();
    const workers = [q.get(), q.get()];
    await q.shutDown();
    await expect(Promise.all(workers)).resolves.toEqual([undefined, undefined]);
  });

  it('reports depth, latency, work duration, adds and retries', async () => {
    const events: string[] = [];
    const q = newQueue({
      metrics: {
        added: () => events.push('added'),
        depth: (n) => events.push(`depth=${n}`),
        latency: (s) => events.push(`latency=${s}`),
        workDuration: (s) => events.push(`work=${s}`),
        retried: () => events.push('retried'),
      },
    });
    q.add('a');
    q.add('a');
    await jest.advanceTimersByTimeAsync(250);
    await q.get();
    await jest.advanceTimersByTimeAsync(1500);
    q.addRateLimited('a');
    q.done('a');
    expect(events).toEqual(['added', 'depth=1', 'latency=0.25', 'depth=0', 'retried', 'work=1.5']);
  });

  it('stays FIFO across many keys (internal compaction)', async () => {
    const q = newQueue();
    const keys = Array.from({ length: 5000 }, (_, i) => `k${i}`);
    for (const k of keys.slice(0, 3000)) q.add(k);
    const out: string[] = [];
    for (let i = 0; i < 2000; i++) out.push((await q.get())!);
    for (const k of keys.slice(3000)) q.add(k);
    while (q.len() > 0) out.push((await q.get())!);
    expect(out).toEqual(keys);
  });
});
