// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics: a candidate takes the
// lease when its holder has not renewed it for leaseDuration (measured on our own clock from when a
// response showed us the record change, so clock skew does not matter); the leader renews every
// retryPeriod with optimistic concurrency, each renewal round retrying within its own renewDeadline, and
// steps down when a round fails; on stop it releases the lease (empty holder, 1s duration) so a standby
// takes over at its next retry.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { KubeClient } from './client.js';
import { isConflict, isNotFound } from './errors.js';
import { LEASES } from './resources.js';
import type { ObjectMeta } from './types.js';
import { sleep } from './sleep.js';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  client: KubeClient;
  name: string;
  namespace: string;
  /** Unique per process; see `defaultIdentity()`. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Release the lease on `stop()` (client-go ReleaseOnCancel). Default true. */
  releaseOnStop?: boolean;
  /** Called when we became leader; `signal` aborts when leadership ends. */
  onStartedLeading?: (signal: AbortSignal) => void;
  /** Called when leadership ended (lost, or released by `stop()`). */
  onStoppedLeading?: () => void;
  /** Called whenever the observed holder changes (including to ourselves). */
  onNewLeader?: (identity: string) => void;
  log?: Logger | undefined;
  now?: () => number;
}

/** client-go's defaults, but renewing every 4s instead of 2s (each renewal costs an idle leader ~3 ms CPU). */
export const LEASE_DEFAULTS = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 4_000,
} as const;

export function defaultIdentity(): string {
  return process.env.POD_NAME || `${hostname()}_${randomUUID()}`;
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, -1)}000Z`;
}

/** Checks the relations client-go enforces between the three durations. */
export function validateLeaseDurations(d: {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}): void {
  if (d.leaseDurationMs <= d.renewDeadlineMs)
    throw new Error('leaseDuration must be greater than renewDeadline');
  if (d.renewDeadlineMs <= 1.2 * d.retryPeriodMs)
    throw new Error('renewDeadline must be greater than 1.2 x retryPeriod');
  if (d.retryPeriodMs <= 0) throw new Error('retryPeriod must be positive');
}

type Attempt = 'acquired' | 'held-by-other' | 'failed';

export class LeaderElector {
  private readonly opts: LeaderElectionOptions;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  /** The lease as we last read or wrote it. */
  private lease: Lease | undefined;
  /** Identity of the record we last observed, and when (our clock, on the response) it last changed. */
  private observedRecord = '';
  private observedAt = 0;
  private observedHolder = '';
  private leading = false;
  /**
   * When the request of our last successful write was sent. Standbys measure our lease from when they saw it
   * change, which is later, so until this plus leaseDuration nobody else can have taken it.
   */
  private renewSentAt = 0;

  constructor(opts: LeaderElectionOptions) {
    this.opts = opts;
    this.leaseDurationMs = opts.leaseDurationMs ?? LEASE_DEFAULTS.leaseDurationMs;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? LEASE_DEFAULTS.renewDeadlineMs;
    this.retryPeriodMs = opts.retryPeriodMs ?? LEASE_DEFAULTS.retryPeriodMs;
    validateLeaseDurations({
      leaseDurationMs: this.leaseDurationMs,
      renewDeadlineMs: this.renewDeadlineMs,
      retryPeriodMs: this.retryPeriodMs,
    });
    this.now = opts.now ?? Date.now;
  }

  get identity(): string {
    return this.opts.identity;
  }

  /** True while we hold a lease that has not expired by our own clock; only then may we write. */
  isLeader(): boolean {
    return this.leading && this.now() - this.renewSentAt < this.leaseDurationMs;
  }

  /** The holder we last observed ('' when none). */
  get leader(): string {
    return this.observedHolder;
  }

  /** Campaigns in the background until `stop()`. Idempotent. */
  start(): void {
    this.running ??= this.run();
  }

  /**
   * Stops campaigning; when leading, releases the lease first (if `releaseOnStop`). Stop your writers before
   * calling this, or a new leader may start writing while ours are still in flight.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      if (!(await this.acquire(stop))) break;
      const leadership = new AbortController();
      this.leading = true;
      this.opts.log?.info({ lease: this.opts.name, identity: this.identity }, 'Acquired Lease');
      this.safely(() => this.opts.onStartedLeading?.(leadership.signal));
      await this.renew(stop);
      const released = stop.aborted && (this.opts.releaseOnStop ?? true) ? await this.release() : false;
      this.leading = false;
      leadership.abort();
      this.opts.log?.info({ lease: this.opts.name, identity: this.identity, released }, 'Stopped leading');
      this.safely(() => this.opts.onStoppedLeading?.());
    }
  }

  /** Retries every retryPeriod (with jitter) until we hold the lease; false when stopped first. */
  private async acquire(stop: AbortSignal): Promise<boolean> {
    while (!stop.aborted) {
      const result = await this.tryAcquireOrRenew(
        AbortSignal.any([stop, AbortSignal.timeout(this.renewDeadlineMs)]),
      );
      if (result === 'acquired') return true;
      await sleep(this.retryPeriodMs * (1 + 0.2 * Math.random()), stop);
    }
    return false;
  }

  /**
   * Every retryPeriod, a renewal round: try at once and again every retryPeriod until one succeeds or the
   * round's own renewDeadline passes (client-go's renew). Returns when stopped, when another holder took the
   * lease, or when a round failed. Each round's deadline starts with the round, not with an earlier request,
   * so a slow acquire or renewal that did succeed never eats into the next round.
   */
  private async renew(stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      await sleep(this.retryPeriodMs, stop);
      if (stop.aborted) return;
      const result = await this.renewRound(stop);
      if (result === 'acquired' || stop.aborted) continue;
      if (result === 'held-by-other') {
        this.opts.log?.warn(
          { lease: this.opts.name, holder: this.observedHolder },
          'Lost Lease to another holder',
        );
      } else {
        this.opts.log?.warn({ lease: this.opts.name }, 'Failed to renew Lease within the renew deadline');
      }
      return;
    }
  }

  private async renewRound(stop: AbortSignal): Promise<Attempt> {
    // Stricter than client-go in one case: never lead past the point where a standby may have taken the
    // lease (a slow earlier write can leave less than renewDeadline of it).
    const deadline = Math.min(this.now() + this.renewDeadlineMs, this.renewSentAt + this.leaseDurationMs);
    for (;;) {
      const remaining = deadline - this.now();
      if (remaining <= 0) return 'failed';
      const result = await this.tryAcquireOrRenew(AbortSignal.any([stop, AbortSignal.timeout(remaining)]));
      if (result !== 'failed' || stop.aborted) return result;
      const left = deadline - this.now();
      if (left <= 0) return 'failed';
      await sleep(Math.min(this.retryPeriodMs, left), stop);
      if (stop.aborted) return 'failed';
    }
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<Attempt> {
    const { client, name, namespace } = this.opts;
    const now = this.now();
    // Fast path: the leader updates from the lease it wrote last, without reading it first.
    if (this.leading && this.lease) {
      try {
        await this.write(this.withHolder(this.lease, now), now, signal);
        return 'acquired';
      } catch (err) {
        if (!isConflict(err)) return this.failed(err);
      }
    }
    let current: Lease;
    try {
      current = await client.get<Lease>(LEASES, name, { namespace, signal });
    } catch (err) {
      if (!isNotFound(err)) return this.failed(err);
      try {
        const fresh: Lease = {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
        };
        const sendAt = this.now();
        this.lease = await client.create(LEASES, this.withHolder(fresh, sendAt), { signal });
        this.observe(this.lease);
        this.renewSentAt = sendAt;
        return 'acquired';
      } catch (createErr) {
        return this.failed(createErr);
      }
    }
    this.lease = current;
    this.observe(current);
    const holder = current.spec?.holderIdentity ?? '';
    const durationMs = (current.spec?.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== '' && holder !== this.identity && this.observedAt + durationMs > this.now())
      return 'held-by-other';
    // The record we write carries the time we send it, not when this attempt began.
    const sendAt = this.now();
    try {
      await this.write(this.withHolder(current, sendAt), sendAt, signal);
      return 'acquired';
    } catch (err) {
      return this.failed(err);
    }
  }

  /** `sentAt` is when the request leaves: our lease is safe from then until leaseDuration later. */
  private async write(lease: Lease, sentAt: number, signal: AbortSignal): Promise<void> {
    this.lease = await this.opts.client.replace(LEASES, lease, { signal });
    this.observe(this.lease);
    this.renewSentAt = sentAt;
  }

  private withHolder(lease: Lease, now: number): Lease {
    const spec = lease.spec ?? {};
    const taking = spec.holderIdentity !== this.identity;
    return {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
        renewTime: microTime(now),
        acquireTime: taking || !spec.acquireTime ? microTime(now) : spec.acquireTime,
        // As client-go: every change of holder of an existing lease counts, also taking a released one.
        leaseTransitions:
          taking && lease.metadata?.resourceVersion
            ? (spec.leaseTransitions ?? 0) + 1
            : (spec.leaseTransitions ?? 0),
      },
    };
  }

  /**
   * Remembers when (on our clock, now that the response is here) the record last changed; another holder's
   * lease is valid for its duration from then, which is never earlier than the holder's own view of it.
   */
  private observe(lease: Lease): void {
    const s = lease.spec ?? {};
    const record = `${s.holderIdentity ?? ''}|${s.renewTime ?? ''}|${s.leaseTransitions ?? 0}|${s.leaseDurationSeconds ?? 0}`;
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = this.now();
    }
    const holder = s.holderIdentity ?? '';
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      if (holder !== '') this.safely(() => this.opts.onNewLeader?.(holder));
    }
  }

  private failed(err: unknown): Attempt {
    if (isConflict(err)) {
      this.opts.log?.debug({ lease: this.opts.name, err }, 'Lease changed under us');
    } else if (!this.stopping.signal.aborted) {
      this.opts.log?.warn({ lease: this.opts.name, err }, 'Lease request failed');
    }
    return 'failed';
  }

  /** client-go's release: keep the transitions, empty holder, 1s duration. */
  private async release(): Promise<boolean> {
    if (!this.lease || !this.isLeader()) return false;
    const now = this.now();
    const released: Lease = {
      ...this.lease,
      spec: {
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: this.lease.spec?.leaseTransitions ?? 0,
      },
    };
    try {
      this.lease = await this.opts.client.replace(LEASES, released, {
        signal: AbortSignal.timeout(this.renewDeadlineMs),
      });
      this.observe(this.lease);
      return true;
    } catch (err) {
      this.opts.log?.warn({ lease: this.opts.name, err }, 'Failed to release Lease');
      return false;
    }
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.log?.error({ lease: this.opts.name, err }, 'Leader election callback failed');
    }
  }
}
