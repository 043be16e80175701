// An informer: keeps an in-memory cache of one resource equal to the API server's (list, then watch from
// the list's resourceVersion), and tells handlers what changed. Like client-go's reflector: bookmarks,
// relist on 410 Gone, restart with capped, jittered exponential backoff after any failure, optional
// periodic resync. It never exits the process; it retries until stopped.
import type { Logger } from '../logger.js';
import type { KubeClient } from './client.js';
import { isGone } from './errors.js';
import type { ResourceRef } from './resources.js';
import { compactObject, StringTable, WHOLE_OBJECT, type CompactShape } from './compact.js';
import { Store, type IndexFunc, type ReadonlyStore } from './store.js';
import { objectKey, type KubeObject, type ObjectList, type ReadonlyDeep, type WatchEvent } from './types.js';
import { sleep } from './sleep.js';

/** Where the informer gets its data; `KubeClient` provides it through `resourceSource`. */
export interface ListWatchSource<T> {
  /**
   * One LIST page: each item to `onItem` as it is read (with kind and apiVersion), then the page's
   * metadata (continue, resourceVersion); `items` of the result is not read.
   */
  list(
    opts: {
      limit?: number | undefined;
      continue?: string | undefined;
      signal: AbortSignal;
    },
    onItem: (item: T) => void,
  ): Promise<Omit<ObjectList<T>, 'items'>>;
  watch(opts: {
    resourceVersion: string | undefined;
    timeoutSeconds: number;
    signal: AbortSignal;
  }): AsyncIterable<WatchEvent<T>>;
}

/** list/watch of one resource through the client, with the selectors applied on the server. */
export function resourceSource<T extends KubeObject>(
  client: KubeClient,
  resource: ResourceRef,
  filter: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {},
): ListWatchSource<T> {
  return {
    list: (opts, onItem) => client.listEach<T>(resource, { ...filter, ...opts }, onItem),
    watch: (opts) => client.watch<T>(resource, { ...filter, ...opts, allowWatchBookmarks: true }),
  };
}

export interface InformerHandlers<T> {
  onAdd?(obj: ReadonlyDeep<T>): void;
  /** Also called with `old === obj` on a periodic resync. */
  onUpdate?(old: ReadonlyDeep<T>, obj: ReadonlyDeep<T>): void;
  /** Receives the last state the informer knew. */
  onDelete?(obj: ReadonlyDeep<T>): void;
}

/** Hooks for metrics. */
export interface InformerObserver {
  listed?(resource: string, objects: number): void;
  watchRestarted?(resource: string, reason: 'expired' | 'error' | 'closed'): void;
}

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** Adds up to this fraction of the delay at random. */
  jitter?: number;
}

export interface InformerOptions<T> {
  /** Names the informer in logs and metrics, e.g. `clusterroles`. */
  name: string;
  source: ListWatchSource<T>;
  /** 0 or undefined: no resync. Otherwise every object is passed to `onUpdate(obj, obj)` this often. */
  resyncPeriodMs?: number | undefined;
  /** LIST page size. Default 500, as client-go. */
  pageSize?: number;
  /** Watch timeouts are drawn at random from [min, 2*min) so watches do not all restart together. Default 300. */
  minWatchTimeoutSeconds?: number;
  backoff?: BackoffOptions;
  /**
   * What the cache keeps of each object (compact.ts): by default compact metadata and every other
   * field; managedFields, timestamps and kubectl's last-applied-configuration never (they can double an
   * object's size). Name the fields the cache's readers use to keep only those.
   */
  shape?: CompactShape;
  /** Shared by informers so equal strings of different resources are stored once. */
  strings?: StringTable;
  /** Runs on every compacted object as it arrives. */
  transform?: (obj: T) => T;
  indexers?: Record<string, IndexFunc<T>>;
  log?: Logger | undefined;
  observer?: InformerObserver | undefined;
}

export function backoffDelay(
  failures: number,
  opts: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = opts.initialMs ?? 800;
  const max = opts.maxMs ?? 30_000;
  const jitter = opts.jitter ?? 0.5;
  const base = Math.min(max, initial * 2 ** Math.max(0, failures - 1));
  return Math.min(max, base * (1 + jitter * random()));
}

/** A watch that ran this long, or delivered an event, proves the connection healthy again. */
const HEALTHY_WATCH_MS = 10_000;

export class Informer<T extends KubeObject> {
  readonly name: string;
  private readonly opts: InformerOptions<T>;
  private readonly store: Store<T>;
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private resourceVersion: string | undefined;
  private readonly strings: StringTable;

  constructor(opts: InformerOptions<T>) {
    this.name = opts.name;
    this.opts = opts;
    this.store = new Store<T>(opts.indexers);
    this.strings = opts.strings ?? new StringTable();
  }

  /** The read-only cache. */
  get cache(): ReadonlyStore<T> {
    return this.store;
  }

  /** The resourceVersion the cache is at (of the last list, event or bookmark). */
  get lastResourceVersion(): string | undefined {
    return this.resourceVersion;
  }

  addHandler(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
  }

  addIndex(name: string, fn: IndexFunc<T>): void {
    this.store.addIndex(name, fn);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once the first list is in the cache, false if the informer is stopped (or `signal` fires) first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.abort.signal.aborted || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => resolve(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve(true);
      });
    });
  }

  /** Starts list+watch in the background. Idempotent; an informer cannot be restarted after `stop()`. */
  start(): void {
    if (this.running || this.abort.signal.aborted) return;
    this.running = this.run();
    const period = this.opts.resyncPeriodMs ?? 0;
    if (period > 0) {
      this.resyncTimer = setInterval(() => this.resync(), period);
      this.resyncTimer.unref();
    }
  }

  /** Stops watching and resolves when the background loop has ended. The cache stays readable. */
  async stop(): Promise<void> {
    this.abort.abort(new Error('informer stopped'));
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.running;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const log = this.opts.log;
    let needList = true;
    let failures = 0;
    while (!signal.aborted) {
      let watchStarted = 0;
      let watchEvents = 0;
      try {
        if (needList) {
          await this.relist(signal);
          needList = false;
        }
        watchStarted = Date.now();
        watchEvents = await this.watchOnce(signal);
        if (signal.aborted) break;
        // The server ends every watch at its timeout; re-watch at once unless watches end immediately.
        this.opts.observer?.watchRestarted?.(this.name, 'closed');
        if (watchEvents === 0 && Date.now() - watchStarted < 1000) {
          failures++;
          await sleep(backoffDelay(failures, this.opts.backoff), signal);
        } else {
          failures = 0;
        }
      } catch (err) {
        if (signal.aborted) break;
        if (watchStarted > 0 && (watchEvents > 0 || Date.now() - watchStarted >= HEALTHY_WATCH_MS))
          failures = 0;
        if (isGone(err)) {
          // Our resourceVersion is older than the server's history: start over from a fresh list.
          this.opts.observer?.watchRestarted?.(this.name, 'expired');
          log?.info(
            { informer: this.name, resourceVersion: this.resourceVersion },
            'Relisting after 410 Gone',
          );
          needList = true;
          if (failures++ === 0) continue;
        } else {
          this.opts.observer?.watchRestarted?.(this.name, 'error');
          failures++;
        }
        const delay = backoffDelay(failures, this.opts.backoff);
        log?.warn(
          { informer: this.name, err, failures, retryInMs: Math.round(delay) },
          'Informer list/watch failed',
        );
        await sleep(delay, signal);
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const seen = new Set<string>();
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      // Each item is compacted into the cache as it is read: a page is never held whole.
      const page = await this.opts.source.list(
        { limit: this.opts.pageSize ?? 500, continue: cont, signal },
        (raw) => {
          const obj = this.ingest(raw);
          seen.add(objectKey(obj));
          this.upsert(obj);
        },
      );
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion;
    } while (cont && !signal.aborted);
    if (signal.aborted) return;
    for (const key of [...this.store.keys()]) {
      if (!seen.has(key)) this.remove(key, undefined);
    }
    this.resourceVersion = rv;
    this.opts.observer?.listed?.(this.name, this.store.size);
    this.opts.log?.debug(
      { informer: this.name, objects: this.store.size, resourceVersion: rv },
      'Listed objects',
    );
    if (!this.synced) {
      this.synced = true;
      for (const wake of this.syncWaiters.splice(0)) wake();
    }
  }

  /** One watch request; resolves with the number of events when the server ends it. */
  private async watchOnce(signal: AbortSignal): Promise<number> {
    const min = this.opts.minWatchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.floor(min * (1 + Math.random()));
    let events = 0;
    const stream = this.opts.source.watch({ resourceVersion: this.resourceVersion, timeoutSeconds, signal });
    for await (const event of stream) {
      events++;
      const obj = event.object;
      const rv = obj.metadata?.resourceVersion;
      switch (event.type) {
        case 'ADDED':
        case 'MODIFIED':
          this.upsert(this.ingest(obj));
          break;
        case 'DELETED':
          this.remove(objectKey(obj), this.ingest(obj));
          break;
        case 'BOOKMARK':
          break;
        default:
          throw new Error(`unexpected watch event type ${String(event.type)}`);
      }
      if (rv) this.resourceVersion = rv;
    }
    return events;
  }

  private ingest(obj: T): T {
    const compact = compactObject(obj, this.opts.shape ?? WHOLE_OBJECT, this.strings);
    return this.opts.transform ? this.opts.transform(compact) : compact;
  }

  private upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.store.get(key);
    if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    this.store.upsert(obj);
    const stored = this.store.get(key)!;
    for (const h of this.handlers) {
      this.deliver(() => (old ? h.onUpdate?.(old, stored) : h.onAdd?.(stored)));
    }
  }

  private remove(key: string, finalState: T | undefined): void {
    const old = this.store.delete(key);
    const last = (finalState as ReadonlyDeep<T> | undefined) ?? old;
    if (!old && !finalState) return;
    for (const h of this.handlers) this.deliver(() => h.onDelete?.(last!));
  }

  private resync(): void {
    if (!this.synced || this.abort.signal.aborted) return;
    for (const obj of this.store.values()) {
      for (const h of this.handlers) this.deliver(() => h.onUpdate?.(obj, obj));
    }
  }

  private deliver(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.log?.error({ informer: this.name, err }, 'Informer handler failed');
    }
  }
}

/** Convenience: an informer on one resource through the client. */
export function createInformer<T extends KubeObject>(
  client: KubeClient,
  resource: ResourceRef,
  opts: Omit<InformerOptions<T>, 'source' | 'name'> & {
    name?: string;
    namespace?: string;
    labelSelector?: string;
    fieldSelector?: string;
    /** TEST ONLY (see delayedWatch). */
    watchDelayMs?: number;
  } = {},
): Informer<T> {
  const { namespace, labelSelector, fieldSelector, name, watchDelayMs, ...rest } = opts;
  const filter: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {};
  if (namespace) filter.namespace = namespace;
  if (labelSelector) filter.labelSelector = labelSelector;
  if (fieldSelector) filter.fieldSelector = fieldSelector;
  return new Informer<T>({
    ...rest,
    name: name ?? resource.plural,
    source: delayedWatch(resourceSource<T>(client, resource, filter), watchDelayMs ?? 0),
  });
}

/**
 * TEST ONLY: the same source, but every watch event reaches the informer `delayMs` after it arrived
 * (order kept; the stream is read on as events wait). Reproduces a lagging watch against a real API
 * server; with 0 the source is returned unchanged.
 */
export function delayedWatch<T>(source: ListWatchSource<T>, delayMs: number): ListWatchSource<T> {
  if (delayMs <= 0) return source;
  return {
    list: (opts, onItem) => source.list(opts, onItem),
    watch: (opts) => ({
      async *[Symbol.asyncIterator]() {
        const pending: { at: number; event?: WatchEvent<T>; error?: unknown; end?: true }[] = [];
        let wake: (() => void) | undefined;
        const push = (item: (typeof pending)[number]) => {
          pending.push(item);
          wake?.();
        };
        void (async () => {
          try {
            for await (const event of source.watch(opts)) push({ at: Date.now() + delayMs, event });
            push({ at: Date.now() + delayMs, end: true });
          } catch (error) {
            push({ at: Date.now() + delayMs, error });
          }
        })();
        for (;;) {
          if (pending.length === 0) await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          const next = pending.shift()!;
          const wait = next.at - Date.now();
          if (wait > 0) await sleep(wait, opts.signal).catch(() => undefined);
          if (opts.signal.aborted) return;
          if (next.error !== undefined) throw next.error;
          if (next.end) return;
          yield next.event!;
        }
      },
    }),
  };
}
