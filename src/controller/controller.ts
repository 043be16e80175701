// Generic controller wiring: informer events -> keys -> work queue -> N workers calling reconcile(key).
// Workers start only after every informer's cache has synced; errors go back on the queue with
// per-key backoff; stop() stops the informers, takes no new work and waits for in-flight reconciles.
import type { Logger } from '../logger.js';
import { retryAfterMs } from '../kube/errors.js';
import type { InformerHandlers } from '../kube/informer.js';
import type { ReadonlyDeep } from '../kube/types.js';
import { WorkQueue, type QueueMetrics, type WorkQueueOptions } from './queue.js';

export interface ReconcileResult {
  /** Reconcile this key again after this many milliseconds (e.g. to re-check something time-based). */
  requeueAfter?: number | undefined;
}

export interface ReconcileContext {
  /** Aborted only when `stop()` gave up waiting for in-flight work. */
  signal: AbortSignal;
}

export type ReconcileFn = (key: string, ctx: ReconcileContext) => Promise<ReconcileResult | void>;

/** The part of an informer the controller needs; `Informer` implements it. */
export interface EventSource<T> {
  readonly name: string;
  addHandler(handlers: InformerHandlers<T>): void;
  start(): void;
  stop(): Promise<void>;
  hasSynced(): boolean;
  waitForSync(signal?: AbortSignal): Promise<boolean>;
}

/** Which keys an object concerns, e.g. a policy itself, or the policy named in a generated object's label. */
export type KeyMapper<T> = (obj: ReadonlyDeep<T>) => Iterable<string> | string | undefined;

export interface Watch<T> {
  informer: EventSource<T>;
  keys: KeyMapper<T>;
}

/** Builds a `Watch` with the element type checked, so a list of watches of different kinds type-checks. */
export function watch<T>(informer: EventSource<T>, keys: KeyMapper<T>): Watch<unknown> {
  return { informer, keys } as unknown as Watch<unknown>;
}

export type ReconcileOutcome = 'success' | 'requeue' | 'error';

export interface ControllerMetrics {
  reconciled?(outcome: ReconcileOutcome, seconds: number): void;
  queue?: QueueMetrics;
}

export interface ControllerOptions {
  /** Names the controller in logs. */
  name: string;
  watches: Watch<unknown>[];
  reconcile: ReconcileFn;
  /** Concurrent reconciles (different keys; a key is never reconciled concurrently with itself). */
  workers: number;
  queue?: Omit<WorkQueueOptions, 'metrics'>;
  metrics?: ControllerMetrics;
  log?: Logger | undefined;
}

function* asIterable(keys: Iterable<string> | string | undefined): Iterable<string> {
  if (keys === undefined) return;
  if (typeof keys === 'string') yield keys;
  else yield* keys;
}

export class Controller {
  readonly queue: WorkQueue;
  private readonly opts: ControllerOptions;
  private readonly stopping = new AbortController();
  /** Aborted when stop() stops waiting for in-flight reconciles. */
  private readonly cancel = new AbortController();
  private informersStarted = false;
  private workers: Promise<void>[] = [];
  private starting: Promise<boolean> | undefined;

  constructor(opts: ControllerOptions) {
    if (!Number.isInteger(opts.workers) || opts.workers < 1)
      throw new Error('workers must be a positive integer');
    this.opts = opts;
    this.queue = new WorkQueue({ ...opts.queue, metrics: opts.metrics?.queue });
    for (const { informer, keys } of opts.watches) {
      const enqueue = (obj: ReadonlyDeep<unknown>): void => {
        for (const key of asIterable(keys(obj))) this.queue.add(key);
      };
      informer.addHandler({
        onAdd: enqueue,
        // Both: an object that moved from one key to another concerns both.
        onUpdate: (old, obj) => {
          if (old !== obj) enqueue(old);
          enqueue(obj);
        },
        onDelete: enqueue,
      });
    }
  }

  /** Queues `key` now (e.g. a policy affected by another policy's change). */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  /** Starts every informer (idempotent). Events queue keys even before workers run. */
  startInformers(): void {
    if (this.informersStarted || this.stopping.signal.aborted) return;
    this.informersStarted = true;
    for (const { informer } of this.opts.watches) informer.start();
  }

  hasSynced(): boolean {
    return this.opts.watches.every(({ informer }) => informer.hasSynced());
  }

  /** Resolves true when every informer has synced, false if stopped (or `signal` fired) first. */
  async waitForCacheSync(signal?: AbortSignal): Promise<boolean> {
    const combined = signal ? AbortSignal.any([signal, this.stopping.signal]) : this.stopping.signal;
    const results = await Promise.all(
      this.opts.watches.map(({ informer }) => informer.waitForSync(combined)),
    );
    return results.every(Boolean) && !combined.aborted;
  }

  /**
   * Starts the informers, waits for their caches, then starts the workers. Resolves true once workers run,
   * false if stopped before the caches synced. Idempotent.
   */
  start(): Promise<boolean> {
    this.starting ??= (async () => {
      this.startInformers();
      const started = Date.now();
      if (!(await this.waitForCacheSync())) return false;
      this.opts.log?.info(
        { controller: this.opts.name, waitedMs: Date.now() - started, queued: this.queue.len() },
        'Caches synced; starting workers',
      );
      for (let i = 0; i < this.opts.workers; i++) this.workers.push(this.worker());
      return true;
    })();
    return this.starting;
  }

  /** Number of reconciles running now. */
  get inFlight(): number {
    return this.queue.inFlight;
  }

  /**
   * Stops the informers and the queue, then waits for in-flight reconciles. After `timeoutMs` it aborts
   * their signal and resolves false without waiting further. A stopped controller cannot be restarted.
   */
  async stop(timeoutMs = 30_000): Promise<boolean> {
    this.stopping.abort();
    const drained = this.queue.shutDown();
    const informers = Promise.all(this.opts.watches.map(({ informer }) => informer.stop()));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const finished = await Promise.race([
      Promise.all([drained, informers, ...this.workers]).then(() => true as const),
      timedOut,
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.cancel.abort(new Error('controller stop timed out'));
      this.opts.log?.warn(
        { controller: this.opts.name, inFlight: this.inFlight },
        'Stopped without waiting for reconciles',
      );
    }
    return finished;
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      await this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    const started = performance.now();
    let outcome: ReconcileOutcome = 'success';
    try {
      const result = await this.opts.reconcile(key, { signal: this.cancel.signal });
      this.queue.forget(key);
      const after = result?.requeueAfter;
      if (after !== undefined && after > 0) {
        this.queue.addAfter(key, after);
        outcome = 'requeue';
      }
    } catch (err) {
      outcome = 'error';
      const delay = this.queue.addRateLimited(key, retryAfterMs(err));
      this.opts.log?.warn(
        { controller: this.opts.name, key, err, failures: this.queue.numRequeues(key), retryInMs: delay },
        'Reconcile failed',
      );
    } finally {
      this.queue.done(key);
      this.opts.metrics?.reconciled?.(outcome, (performance.now() - started) / 1000);
    }
  }
}
