// A work queue of keys with client-go's semantics: a key is queued at most once; a key added while it
// is being processed is processed once more after `done`, never concurrently with itself; failures
// back off per key (exponential, capped) until `forget`; `addAfter` schedules a key for later.

/** Hooks for metrics; every one is optional. Times are in seconds. */
export interface QueueMetrics {
  /** A key was queued (not counted when it was already queued). */
  added?(): void;
  depth?(n: number): void;
  /** From the first `add` of a key to a worker taking it. */
  latency?(seconds: number): void;
  /** From `get` to `done`. */
  workDuration?(seconds: number): void;
  /** `addRateLimited` was called. */
  retried?(): void;
}

export interface WorkQueueOptions {
  /** Delay after the first failure; doubles per further failure. Default 5ms. */
  baseDelayMs?: number;
  /** Cap for the per-key failure delay. Default 5 minutes. */
  maxDelayMs?: number;
  metrics?: QueueMetrics;
  /** Milliseconds clock for metrics. Default `performance.now`. */
  now?: () => number;
}

interface Delayed {
  at: number;
  timer: NodeJS.Timeout;
}

export class WorkQueue {
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly metrics: QueueMetrics;
  private readonly now: () => number;

  /** FIFO of ready keys: items[head..] are pending. */
  private items: string[] = [];
  private head = 0;
  /** Keys that need processing (queued, or to be re-queued when their processing ends). */
  private readonly dirty = new Set<string>();
  /** Keys a worker holds, with when it took them. */
  private readonly processing = new Map<string, number>();
  /** When each dirty key was first added, for the latency metric. */
  private readonly addedAt = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, Delayed>();
  private waiters: (() => void)[] = [];
  private drained: (() => void)[] = [];
  private shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.baseDelayMs = opts.baseDelayMs ?? 5;
    this.maxDelayMs = opts.maxDelayMs ?? 300_000;
    this.metrics = opts.metrics ?? {};
    this.now = opts.now ?? (() => performance.now());
  }

  /** Number of keys waiting for a worker (not counting those being processed or delayed). */
  len(): number {
    return this.items.length - this.head;
  }

  /** Number of keys workers hold right now. */
  get inFlight(): number {
    return this.processing.size;
  }

  /** Number of keys scheduled by `addAfter`/`addRateLimited` and not yet due. */
  get waiting(): number {
    return this.delayed.size;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.addedAt.set(key, this.now());
    this.metrics.added?.();
    // While a worker holds the key it is only marked; `done` queues it again.
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds `key` after `ms`. A key already scheduled keeps the earlier of the two times. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.now() + ms;
    const existing = this.delayed.get(key);
    if (existing) {
      if (existing.at <= at) return;
      clearTimeout(existing.timer);
    }
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /**
   * Adds `key` after its backoff: baseDelay * 2^failures, capped; `minDelayMs` (e.g. a server's Retry-After)
   * raises it. Returns the delay used.
   */
  addRateLimited(key: string, minDelayMs = 0): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.max(minDelayMs, Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** n));
    this.metrics.retried?.();
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets the failure count of `key` (call after it was processed successfully). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How often `key` failed since its last `forget`. */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * Waits for a key and hands it to the caller, who must call `done(key)` when finished. Resolves
   * `undefined` once the queue is shutting down.
   */
  async get(): Promise<string | undefined> {
    for (;;) {
      if (this.shuttingDown) return undefined;
      if (this.head < this.items.length) return this.take();
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Ends processing of `key`; if it was added meanwhile, queues it again. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.processing.delete(key);
    this.metrics.workDuration?.((this.now() - started) / 1000);
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
    if (this.processing.size === 0 && this.shuttingDown) for (const wake of this.drained.splice(0)) wake();
  }

  /**
   * Stops handing out keys (queued and delayed keys are dropped: the next start reconciles everything
   * anyway) and resolves when every key a worker holds is `done`.
   */
  shutDown(): Promise<void> {
    if (!this.shuttingDown) {
      this.shuttingDown = true;
      for (const d of this.delayed.values()) clearTimeout(d.timer);
      this.delayed.clear();
      for (const key of this.items.slice(this.head)) {
        this.dirty.delete(key);
        this.addedAt.delete(key);
      }
      this.items = [];
      this.head = 0;
      this.metrics.depth?.(0);
      for (const wake of this.waiters.splice(0)) wake();
    }
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  private push(key: string): void {
    this.items.push(key);
    this.metrics.depth?.(this.len());
    this.waiters.shift()?.();
  }

  private take(): string {
    const key = this.items[this.head]!;
    this.head++;
    // Compact once the consumed prefix dominates, keeping push/take O(1) amortized.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    const now = this.now();
    this.dirty.delete(key);
    this.processing.set(key, now);
    const added = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (added !== undefined) this.metrics.latency?.((now - added) / 1000);
    this.metrics.depth?.(this.len());
    return key;
  }
}
