// Prometheus metrics for the operator, in one registry per process (no global state): reconciles, the
// work queue, API requests by verb/resource/code, informers, leadership and policy-level gauges.
// Policy-level series come from reconciles, so only the leader reports them (a standby reconciles
// nothing and exports none; losing leadership drops them).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ImpersonationPolicySpec, ImpersonationPolicyStatus } from './api/index.js';
import type { ControllerMetrics, ReconcileOutcome } from './controller/controller.js';
import type { QueueMetrics } from './controller/queue.js';
import type { RequestObserver } from './kube/client.js';
import type { InformerObserver } from './kube/informer.js';

const PREFIX = 'impersonation_operator_';
const RECONCILE_RESULTS = ['success', 'requeue', 'error'] as const satisfies readonly ReconcileOutcome[];
const WATCH_RESTART_REASONS = ['closed', 'expired', 'error'] as const;
const EVENT_DROP_REASONS = ['duplicate', 'rate-limited', 'overflow', 'failed'] as const;

/** Default metrics dropped: `sum(nodejs_active_handles)` etc. give the same numbers. */
const UNCONVENTIONAL_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];
const FAST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * A policy's state as one word: Stalled or Reconciling as the conditions say, else Ready split by
 * lifetime (`suspended`: spec.suspend; `inactive`: outside validFrom..validUntil; grants nothing).
 */
export const POLICY_STATES = ['ready', 'reconciling', 'stalled', 'suspended', 'inactive'] as const;
export type PolicyState = (typeof POLICY_STATES)[number];

/** What one policy contributes to the policy-level gauges, from its last reconcile. */
export interface PolicyReport {
  state: PolicyState;
  /** The Stalled condition's reason, while the state is `stalled`. */
  stalledReason?: string;
  collisions: number;
  deniedEntries: number;
  /** status.allowAnyUserInForce. */
  anyUser: boolean;
  /** spec.validUntil in seconds since the epoch, when the spec sets it. */
  validUntil?: number;
}

/** The report for a policy from the status its reconcile wrote (and the parsed spec, when valid). */
export function policyReport(
  status: ImpersonationPolicyStatus,
  counts: { collisions: number; deniedEntries: number },
  spec?: Pick<ImpersonationPolicySpec, 'validUntil'>,
): PolicyReport {
  const conditions = status.conditions ?? [];
  const isTrue = (type: string) => conditions.find((c) => c.type === type && c.status === 'True');
  const stalled = isTrue('Stalled');
  const state: PolicyState = stalled
    ? 'stalled'
    : isTrue('Reconciling') || !isTrue('Ready')
      ? 'reconciling'
      : status.lifetime === 'Suspended'
        ? 'suspended'
        : status.lifetime === 'NotYetValid' || status.lifetime === 'Expired'
          ? 'inactive'
          : 'ready';
  const validUntil = spec?.validUntil === undefined ? undefined : Date.parse(spec.validUntil) / 1000;
  return {
    state,
    ...(stalled ? { stalledReason: stalled.reason } : {}),
    collisions: counts.collisions,
    deniedEntries: counts.deniedEntries,
    anyUser: status.allowAnyUserInForce === true,
    ...(validUntil === undefined || Number.isNaN(validUntil) ? {} : { validUntil }),
  };
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
  private readonly policies = new Map<string, PolicyReport>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    // Known label values start at 0: a series that appears at 1 has no rate for its first increment.
    for (const result of RECONCILE_RESULTS) this.reconciles.inc({ result }, 0);
    for (const reason of EVENT_DROP_REASONS) this.eventsDropped.inc({ reason }, 0);
    if (opts.defaultMetrics ?? true) {
      // The event-loop delay histogram samples once a second, not prom-client's default 100 times: each
      // sample wakes the process, and at 10 ms that alone cost an idle operator ~0.28 CPU s/min. A block of
      // the loop longer than a second is always seen; shorter ones are seen when they straddle a sample.
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 1000 });
      // prom-client names these gauges `_total`, which Prometheus reserves for counters (promtool check
      // metrics refuses them); each is the sum of the per-type gauge without the suffix.
      for (const name of UNCONVENTIONAL_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }
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
      help: 'Policies reconciled at least once since this replica became leader (0 on a standby).',
      registers: [this.registry],
      collect() {
        this.set(policies.size);
      },
    });
  }

  /**
   * The per-policy families: one series per (policy, label) from the last report (a forgotten policy
   * simply has none). Written as text at scrape time, not through prom-client gauges: at 10,000
   * policies those took ~0.5 CPU s per scrape (80,000 labelled series, hashed and formatted) and held
   * the series between scrapes.
   */
  private readonly policyFamilies: readonly PolicyFamily[] = [
    {
      name: `${PREFIX}policy_state`,
      help: `1 for the policy's current state (${POLICY_STATES.join(', ')}), 0 for the others; leader only.`,
      label: 'state',
      series: (r) => POLICY_STATES.map((state) => [state, r.state === state ? 1 : 0]),
    },
    {
      name: `${PREFIX}policy_stalled_reason`,
      help: "1 while the policy is Stalled, labelled with the Stalled condition's reason; leader only.",
      label: 'reason',
      series: (r) => (r.stalledReason === undefined ? [] : [[r.stalledReason, 1]]),
    },
    {
      name: `${PREFIX}policy_collisions`,
      help: "Collisions in the policy's last reconcile (role names held back); leader only.",
      series: (r) => [[undefined, r.collisions]],
    },
    {
      name: `${PREFIX}policy_denied_entries`,
      help: "Entries refused by the operator configuration in the policy's last reconcile; leader only.",
      series: (r) => [[undefined, r.deniedEntries]],
    },
    {
      name: `${PREFIX}policy_any_user`,
      help: '1 while the policy lets its impersonators become any user (status.allowAnyUserInForce); leader only.',
      series: (r) => [[undefined, r.anyUser ? 1 : 0]],
    },
    {
      name: `${PREFIX}policy_valid_until_timestamp_seconds`,
      help: "The policy's spec.validUntil (Unix seconds), for policies that set it; leader only.",
      series: (r) => (r.validUntil === undefined ? [] : [[undefined, r.validUntil]]),
    },
  ];

  /** The per-policy families in the text exposition format (HELP, TYPE, then every series). */
  private policyExposition(): string {
    const lines: string[] = [];
    const quoted = [...this.policies.keys()].map((policy) => `{policy="${escapeLabelValue(policy)}"`);
    const reports = [...this.policies.values()];
    for (const f of this.policyFamilies) {
      lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} gauge`);
      const extra = f.label === undefined ? '' : `,${f.label}="`;
      for (let i = 0; i < reports.length; i++) {
        const head = f.name + quoted[i]!;
        for (const [value, sample] of f.series(reports[i]!)) {
          const labels = value === undefined ? '}' : `${extra}${escapeLabelValue(value)}"}`;
          lines.push(`${head}${labels} ${formatSample(sample)}`);
        }
      }
    }
    lines.push('');
    return lines.join('\n');
  }

  /** Reports an informer's cache size at scrape time. */
  trackCache(informer: string, size: () => number): void {
    this.cacheSizes.set(informer, size);
  }

  /** Reports the number of managed objects of one kind at scrape time (e.g. an owned-object cache size). */
  trackManagedObjects(kind: string, count: () => number): void {
    this.managedCounts.set(kind, count);
  }

  /** Records one policy's report after its reconcile. */
  setPolicy(policy: string, report: PolicyReport): void {
    this.policies.set(policy, { ...report });
  }

  /** Drops a deleted policy from every policy-level series. */
  forgetPolicy(policy: string): void {
    this.policies.delete(policy);
  }

  /** Drops every policy-level series: the replica stopped leading, so its reports are no longer kept fresh. */
  forgetPolicies(): void {
    this.policies.clear();
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
      listed: (informer) => {
        this.informerRelists.inc({ informer });
        // Every restart reason is a series from the first list on, so increase() sees the first one.
        for (const reason of WATCH_RESTART_REASONS) this.watchRestarts.inc({ informer, reason }, 0);
      },
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
    const body = await this.registry.metrics();
    return {
      contentType: this.registry.contentType,
      body: `${body}${body.endsWith('\n') ? '' : '\n'}${this.policyExposition()}`,
    };
  }
}

/** A per-policy gauge family: at most one extra label, its value and the sample per report. */
interface PolicyFamily {
  name: string;
  help: string;
  label?: string;
  series: (report: PolicyReport) => [string | undefined, number][];
}

const escapeHelp = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const NEEDS_ESCAPE = /[\\"\n]/;
const escapeLabelValue = (s: string): string =>
  NEEDS_ESCAPE.test(s) ? s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : s;
const formatSample = (v: number): string =>
  Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v);
