// Kubernetes Events (events.k8s.io/v1) about an object, best effort: written in the background, never
// retried, identical events suppressed for a window and each object rate-limited (client-go's spam
// filter: burst 25, then one per 5 minutes), so a reconcile loop that keeps finding the same thing
// writes one Event, and an idle operator writes none.
import type { Logger } from '../logger.js';
import type { KubeClient } from './client.js';
import { EVENTS } from './resources.js';
import { microTime } from './lease.js';
import type { KubeObject, ReadonlyDeep } from './types.js';

export interface ObjectReference {
  apiVersion?: string | undefined;
  kind?: string | undefined;
  name?: string | undefined;
  namespace?: string | undefined;
  uid?: string | undefined;
  resourceVersion?: string | undefined;
}

export type EventType = 'Normal' | 'Warning';

export interface EventInput {
  type: EventType;
  /** CamelCase, machine-readable, e.g. `Applied`, `NameConflict`. */
  reason: string;
  /** What we did or failed to do, e.g. `Apply`, `Prune`, `Reconcile`. */
  action: string;
  /** Human-readable; truncated to 1 kB. */
  note: string;
}

export interface EventRecorderOptions {
  client: KubeClient;
  /** e.g. `impersonation-operator` */
  reportingController: string;
  /** e.g. the pod name or leader-election identity */
  reportingInstance: string;
  /** Identical events (same object, type, reason, note) are written at most once per window. Default 1h. */
  dedupWindowMs?: number;
  /** Per-object token bucket. Defaults: burst 25, one token per 5 minutes. */
  burst?: number;
  refillMs?: number;
  /** Events waiting to be written beyond this are dropped. Default 100. */
  maxPending?: number;
  log?: Logger | undefined;
  now?: () => number;
  onDropped?: (reason: 'duplicate' | 'rate-limited' | 'overflow' | 'failed') => void;
}

/** Bounded remembered keys; the oldest are forgotten first. */
const MAX_TRACKED = 4096;

interface Bucket {
  tokens: number;
  at: number;
}

export function referenceTo(obj: KubeObject | ReadonlyDeep<KubeObject>): ObjectReference {
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    name: obj.metadata?.name,
    namespace: obj.metadata?.namespace,
    uid: obj.metadata?.uid,
    resourceVersion: obj.metadata?.resourceVersion,
  };
}

function truncateBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = Buffer.from(s)
    .subarray(0, max - 3)
    .toString('utf8');
  if (out.endsWith('\uFFFD')) out = out.slice(0, -1);
  return `${out}...`;
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_TRACKED) map.delete(map.keys().next().value!);
}

export class EventRecorder {
  private readonly opts: EventRecorderOptions;
  private readonly now: () => number;
  private readonly lastSent = new Map<string, number>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly inFlight = new Set<Promise<void>>();
  private seq = 0;

  constructor(opts: EventRecorderOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** Queues an Event about `regarding`; returns whether it will be written. Never throws. */
  record(regarding: ObjectReference | KubeObject | ReadonlyDeep<KubeObject>, event: EventInput): boolean {
    const ref = 'metadata' in regarding ? referenceTo(regarding) : (regarding as ObjectReference);
    const now = this.now();
    const objectId = ref.uid ?? `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
    const dedupKey = `${objectId}|${event.type}|${event.reason}|${event.note}`;
    const last = this.lastSent.get(dedupKey);
    if (last !== undefined && now - last < (this.opts.dedupWindowMs ?? 3_600_000)) {
      this.opts.onDropped?.('duplicate');
      return false;
    }
    if (!this.takeToken(objectId, now)) {
      this.opts.onDropped?.('rate-limited');
      return false;
    }
    if (this.inFlight.size >= (this.opts.maxPending ?? 100)) {
      this.opts.onDropped?.('overflow');
      return false;
    }
    remember(this.lastSent, dedupKey, now);
    const p = this.write(ref, event, now).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
    return true;
  }

  /** Resolves when every queued Event was written or failed (for shutdown and tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  private takeToken(objectId: string, now: number): boolean {
    const burst = this.opts.burst ?? 25;
    const refillMs = this.opts.refillMs ?? 300_000;
    const b = this.buckets.get(objectId) ?? { tokens: burst, at: now };
    const refilled = Math.min(burst, b.tokens + (now - b.at) / refillMs);
    const ok = refilled >= 1;
    remember(this.buckets, objectId, { tokens: ok ? refilled - 1 : refilled, at: now });
    return ok;
  }

  private async write(ref: ObjectReference, event: EventInput, now: number): Promise<void> {
    // Events about cluster-scoped objects live in `default`, as the API server's validation requires.
    const namespace = ref.namespace || 'default';
    const suffix = (BigInt(now) * 1_000_000n + BigInt(this.seq++ % 1_000_000)).toString(16);
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${ref.name ?? 'object'}.${suffix}`, namespace },
      eventTime: microTime(now),
      reportingController: this.opts.reportingController,
      reportingInstance: this.opts.reportingInstance.slice(0, 128),
      action: event.action.slice(0, 128),
      reason: event.reason.slice(0, 128),
      type: event.type,
      note: truncateBytes(event.note, 1024),
      regarding: {
        apiVersion: ref.apiVersion,
        kind: ref.kind,
        name: ref.name,
        namespace: ref.namespace,
        uid: ref.uid,
        resourceVersion: ref.resourceVersion,
      },
    };
    try {
      await this.opts.client.create(EVENTS, body);
    } catch (err) {
      this.opts.onDropped?.('failed');
      this.opts.log?.warn({ err, reason: event.reason, object: ref.name }, 'Failed to write Event');
    }
  }
}
