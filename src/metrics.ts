// Prometheus metrics for the operator, in one registry per process (no global state): reconciles, the
// work queue, API requests by verb/resource/code, informers, leadership and policy-level gauges.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ControllerMetrics } from './controller/controller.js';
import type { QueueMetrics } from './controller/queue.js';
import type { RequestObserver } from './kube/client.js';
import type { InformerObserver } from './kube/informer.js';

const PREFIX = 'impersonation_operator_';
const FAST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** What one policy contributes to the policy-level gauges. */
export interface PolicyCounts {
  collisions: number;
  deniedEntries: number;
}

export class Metrics {
  readonly registry = new Registry();

  readonly reconciles = new Counter({
    name: `${PREFIX}reconcile_total`,
    help: 'Reconciles by result (success, requeue, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: `${PREFIX}reconcile_duration_seconds`,
    help: 'Time spent in reconcile, by result.',
    labelNames: ['result'] as const,
    buckets: FAST_BUCKETS,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: `${PREFIX}workqueue_depth`,
    help: 'Keys waiting for a worker.',
    registers: [this.registry],
  });
  readonly queueAdds = new Counter({
    name: `${PREFIX}workqueue_adds_total`,
    help: 'Keys added to the work queue (not counting keys already queued).',
    registers: [this.registry],
  });
  readonly queueLatency = new Histogram({
    name: `${PREFIX}workqueue_queue_duration_seconds`,
    help: 'Time from a key being added until a worker takes it.',
    buckets: FAST_BUCKETS,
    registers: [this.registry],
  });
  readonly queueWorkDuration = new Histogram({
    name: `${PREFIX}workqueue_work_duration_seconds`,
    help: 'Time a worker held a key.',
    buckets: FAST_BUCKETS,
    registers: [this.registry],
  });
  readonly queueRetries = new Counter({
    name: `${PREFIX}workqueue_retries_total`,
    help: 'Keys re-queued with backoff after a failed reconcile.',
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: `${PREFIX}api_requests_total`,
    help: 'Requests to the API server by verb, resource and HTTP code (0: no response).',
    labelNames: ['verb', 'resource', 'code'] as const,
    registers: [this.registry],
  });
  readonly apiRequestDuration = new Histogram({
    name: `${PREFIX}api_request_duration_seconds`,
    help: 'API request latency until response headers, by verb.',
    labelNames: ['verb'] as const,
    buckets: FAST_BUCKETS,
    registers: [this.registry],
  });
  readonly informerRelists = new Counter({
    name: `${PREFIX}informer_lists_total`,
    help: 'Full lists completed by each informer (the first one plus relists).',
    labelNames: ['informer'] as const,
    registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: `${PREFIX}informer_watch_restarts_total`,
    help: 'Watch restarts by informer and reason (closed: server timeout, expired: 410, error).',
    labelNames: ['informer', 'reason'] as const,
    registers: [this.registry],
  });
  readonly eventsDropped = new Counter({
    name: `${PREFIX}events_dropped_total`,
    help: 'Kubernetes Events not written, by reason (duplicate, rate-limited, overflow, failed).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: `${PREFIX}leader`,
    help: '1 while this replica holds the leader Lease (or leader election is off), else 0.',
    registers: [this.registry],
  });

  private readonly cacheSizes = new Map<string, () => number>();
  private readonly managedCounts = new Map<string, () => number>();
  private readonly policies = new Map<string, PolicyCounts>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    // The event-loop delay histogram samples once a second, not prom-client's default 100 times: each sample
    // wakes the process, and at 10 ms that alone cost an idle operator ~0.28 CPU s/min. A block of the loop
    // longer than a second is always seen; shorter ones are seen when they straddle a sample.
    if (opts.defaultMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 1000 });
    const cacheSizes = this.cacheSizes;
    const managedCounts = this.managedCounts;
    const policies = this.policies;
    new Gauge({
      name: `${PREFIX}informer_cache_objects`,
      help: 'Objects in each informer cache.',
      labelNames: ['informer'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [informer, size] of cacheSizes) this.set({ informer }, size());
      },
    });
    new Gauge({
      name: `${PREFIX}managed_objects`,
      help: 'Objects the operator manages, by kind.',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [kind, count] of managedCounts) this.set({ kind }, count());
      },
    });
    new Gauge({
      name: `${PREFIX}collisions`,
      help: 'Role names held back because they collide after normalization, over all policies.',
      registers: [this.registry],
      collect() {
        let n = 0;
        for (const p of policies.values()) n += p.collisions;
        this.set(n);
      },
    });
    new Gauge({
      name: `${PREFIX}denied_entries`,
      help: 'Policy entries refused by the operator configuration (deny list, system: identities).',
      registers: [this.registry],
      collect() {
        let n = 0;
        for (const p of policies.values()) n += p.deniedEntries;
        this.set(n);
      },
    });
    new Gauge({
      name: `${PREFIX}policies`,
      help: 'Policies with reported counts (reconciled at least once since start).',
      registers: [this.registry],
      collect() {
        this.set(policies.size);
      },
    });
  }

  /** Reports an informer's cache size at scrape time. */
  trackCache(informer: string, size: () => number): void {
    this.cacheSizes.set(informer, size);
  }

  /** Reports the number of managed objects of one kind at scrape time (e.g. an owned-object cache size). */
  trackManagedObjects(kind: string, count: () => number): void {
    this.managedCounts.set(kind, count);
  }

  /** Records one policy's collisions and denied entries after its reconcile. */
  setPolicyCounts(policy: string, counts: PolicyCounts): void {
    this.policies.set(policy, { ...counts });
  }

  /** Drops a deleted policy from the policy-level gauges. */
  forgetPolicy(policy: string): void {
    this.policies.delete(policy);
  }

  queueMetrics(): QueueMetrics {
    return {
      added: () => this.queueAdds.inc(),
      depth: (n) => this.queueDepth.set(n),
      latency: (s) => this.queueLatency.observe(s),
      workDuration: (s) => this.queueWorkDuration.observe(s),
      retried: () => this.queueRetries.inc(),
    };
  }

  controllerMetrics(): ControllerMetrics {
    return {
      reconciled: (result, seconds) => {
        this.reconciles.inc({ result });
        this.reconcileDuration.observe({ result }, seconds);
      },
      queue: this.queueMetrics(),
    };
  }

  requestObserver(): RequestObserver {
    return ({ verb, resource, code, durationMs }) => {
      this.apiRequests.inc({ verb, resource, code: String(code) });
      this.apiRequestDuration.observe({ verb }, durationMs / 1000);
    };
  }

  informerObserver(): InformerObserver {
    return {
      listed: (informer) => this.informerRelists.inc({ informer }),
      watchRestarted: (informer, reason) => this.watchRestarts.inc({ informer, reason }),
    };
  }

  eventDropped(): (reason: string) => void {
    return (reason) => this.eventsDropped.inc({ reason });
  }

  setLeader(leading: boolean): void {
    this.leader.set(leading ? 1 : 0);
  }

  /** The text exposition of every metric, and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
