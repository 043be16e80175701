// Result types, medians over repeats, and the Markdown report.
import type { AuditSummary } from './audit.js';

/** Process CPU seconds spent during a phase. */
export interface CpuSnapshot {
  apiserver: number;
  etcd: number;
  kcm: number;
  bench: number;
  operator: number;
  /** Every process on the machine (other people's work included). */
  machine: number;
  /** Wall-clock seconds the figures above were measured over. */
  wall: number;
}

export interface PhaseResult {
  /** From the first driver request until the watcher saw the world match. */
  ms: number;
  /** Operator only: until it stopped reconciling (the end of the window the requests are counted in). */
  settledMs?: number;
  /** Minimum writes (see the report's definitions). */
  needed: number;
  /** Requests by the benchmarked identity in the phase's window, from the audit log. */
  audit: AuditSummary;
  /** audit.writes / needed. */
  amplification: number;
  reconciles?: number;
  /** (GET + LIST) by the identity / reconciles. */
  getListPerReconcile?: number;
  cpu: CpuSnapshot;
  /** The client's own view (operator: its /metrics; baseline: KubeClient's request observer). */
  client?: ClientFigures;
  /** Operator V8 heap at the end of the phase. */
  heap?: { usedMb: number; totalMb: number; externalMb: number; spacesMb?: Record<string, number> };
}

export interface ClientFigures {
  requests: number;
  /** Mean time to response headers. */
  meanLatencyMs: number;
  /** Little's law: summed request time / phase time. */
  meanInFlight: number;
  /** Operator only: mean time a key waited in the work queue for a worker. */
  meanQueueWaitMs?: number;
}

export interface RepeatResult {
  repeat: number;
  /** churn, drift, cold and idle are absent with --bulk-only. */
  baseline: { bulk: PhaseResult; churn?: PhaseResult; drift?: PhaseResult };
  operator: {
    bulk: PhaseResult;
    churn?: PhaseResult;
    drift?: PhaseResult;
    /** Peak RSS of the process that did bulk, churn and drift. */
    peakRssMb: number;
    /** Its peak anonymous RSS (sampled), i.e. without the node binary's file-backed pages. */
    peakAnonMb?: number;
    /** Peak RSS of that process until bulk create settled. */
    bulkPeakRssMb: number;
    /** RSS of that process once ready, before any policy existed (total and anonymous). */
    startRssMb?: number;
    startAnonMb?: number;
    /** --latency-samples: apply-to-Ready of single-policy edits on the idle cold-started operator, ms. */
    applyToReadyMs?: number[];
    /** Writes (not Events) by the operator during those edits, the minimum needed, and its Events. */
    applyToReadyWrites?: number;
    applyToReadyNeeded?: number;
    applyToReadyEvents?: number;
    cold?: PhaseResult & { readyMs: number; peakRssMb: number; peakAnonMb?: number };
    idle?: PhaseResult & { steadyRssMb: number; steadyAnonMb?: number; steadyFileMb?: number };
  };
}

/** The figures reported per (N, k): medians over repeats (ratios: medians of per-repeat ratios). */
export type Figures = Record<string, number>;

export interface ConfigResult {
  n: number;
  k: number;
  /** Generated objects per bulk create. */
  objects: number;
  median: Figures;
  repeats: RepeatResult[];
}

/** Nearest-rank percentile of ascending `sorted` values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

const s = (ms: number) => ms / 1000;

const sum = (phases: (PhaseResult | undefined)[], pick: (p: PhaseResult) => number) =>
  phases.reduce((acc, p) => acc + (p ? pick(p) : NaN), 0);

export function figures(r: RepeatResult): Figures {
  const { baseline: b, operator: o } = r;
  const opPhases = [o.bulk, o.churn, o.drift];
  const basePhases = [b.bulk, b.churn, b.drift];
  const secs = (p: PhaseResult | undefined) => (p ? s(p.ms) : NaN);
  const ratioOf = (x: PhaseResult | undefined, y: PhaseResult | undefined) => (x && y ? x.ms / y.ms : NaN);
  const n = (x: number | undefined) => x ?? NaN;
  const latency = [...(o.applyToReadyMs ?? [])].sort((a, b) => a - b);
  return {
    startRssMb: n(o.startRssMb),
    startAnonMb: n(o.startAnonMb),
    applyToReadyP50Ms: percentile(latency, 50),
    applyToReadyP99Ms: percentile(latency, 99),
    applyToReadySamples: latency.length,
    applyToReadyAmplification: n(o.applyToReadyWrites) / n(o.applyToReadyNeeded),
    applyToReadyEvents: n(o.applyToReadyEvents),
    idleOperatorCpuPerMin: o.idle ? (o.idle.cpu.operator * 60_000) / o.idle.ms : NaN,
    bulkOperatorS: s(o.bulk.ms),
    bulkSettledS: s(o.bulk.settledMs ?? o.bulk.ms),
    bulkBaselineS: s(b.bulk.ms),
    bulkRatio: o.bulk.ms / b.bulk.ms,
    churnOperatorS: secs(o.churn),
    churnBaselineS: secs(b.churn),
    churnRatio: ratioOf(o.churn, b.churn),
    driftOperatorS: secs(o.drift),
    driftBaselineS: secs(b.drift),
    driftRatio: ratioOf(o.drift, b.drift),
    bulkNeeded: o.bulk.needed,
    bulkWrites: o.bulk.audit.writes,
    bulkAmplification: o.bulk.amplification,
    churnAmplification: n(o.churn?.amplification),
    driftAmplification: n(o.drift?.amplification),
    baselineBulkAmplification: b.bulk.amplification,
    bulkEventWrites: o.bulk.audit.eventWrites,
    bulkAccessReviews: o.bulk.audit.accessReviews ?? 0,
    idleAccessReviews: n(o.idle?.audit.accessReviews),
    operatorEventWrites: sum(opPhases, (p) => p.audit.eventWrites),
    bulkReconciles: n(o.bulk.reconciles),
    bulkGetListPerReconcile: n(o.bulk.getListPerReconcile),
    churnGetListPerReconcile: n(o.churn?.getListPerReconcile),
    driftGetListPerReconcile: n(o.drift?.getListPerReconcile),
    idleGetListPerReconcile: n(o.idle?.getListPerReconcile),
    operator409: sum(opPhases, (p) => p.audit.conflicts409),
    operator429: sum([...opPhases, o.cold, o.idle], (p) => p.audit.throttled429),
    operatorErrors: sum(opPhases, (p) => p.audit.otherErrors),
    baseline409: sum(basePhases, (p) => p.audit.conflicts409),
    baseline429: sum(basePhases, (p) => p.audit.throttled429),
    coldReadyS: o.cold ? s(o.cold.readyMs) : NaN,
    coldSettledS: secs(o.cold),
    coldWrites: n(o.cold?.audit.writes),
    coldEventWrites: n(o.cold?.audit.eventWrites),
    coldLists: n(o.cold?.audit.lists),
    coldGets: n(o.cold?.audit.gets),
    coldPeakRssMb: n(o.cold?.peakRssMb),
    coldOperatorCpuS: n(o.cold?.cpu.operator),
    coldHeapUsedMb: n(o.cold?.heap?.usedMb),
    idleSeconds: secs(o.idle),
    idleWrites: o.idle ? o.idle.audit.writes + o.idle.audit.eventWrites : NaN,
    idleLists: n(o.idle?.audit.lists),
    idleWatches: n(o.idle?.audit.watches),
    idleGets: n(o.idle?.audit.gets),
    idleReconciles: n(o.idle?.reconciles),
    idleOperatorCpuS: n(o.idle?.cpu.operator),
    idleHeapUsedMb: n(o.idle?.heap?.usedMb),
    peakRssMb: o.peakRssMb,
    peakAnonMb: n(o.peakAnonMb),
    coldPeakAnonMb: n(o.cold?.peakAnonMb),
    bulkPeakRssMb: o.bulkPeakRssMb,
    steadyRssMb: n(o.idle?.steadyRssMb),
    steadyAnonMb: n(o.idle?.steadyAnonMb),
    steadyFileMb: n(o.idle?.steadyFileMb),
    bulkHeapUsedMb: n(o.bulk.heap?.usedMb),
    bulkHeapTotalMb: n(o.bulk.heap?.totalMb),
    bulkOperatorCpuS: o.bulk.cpu.operator,
    bulkApiserverCpuS: o.bulk.cpu.apiserver,
    bulkEtcdCpuS: o.bulk.cpu.etcd,
    bulkKcmCpuS: o.bulk.cpu.kcm,
    baselineBulkApiserverCpuS: b.bulk.cpu.apiserver,
    baselineBulkEtcdCpuS: b.bulk.cpu.etcd,
    baselineBulkBenchCpuS: b.bulk.cpu.bench,
    bulkBenchCpuS: o.bulk.cpu.bench,
    bulkApiserverCores: o.bulk.cpu.apiserver / o.bulk.cpu.wall,
    baselineBulkApiserverCores: b.bulk.cpu.apiserver / b.bulk.cpu.wall,
    bulkMachineCores: o.bulk.cpu.machine / o.bulk.cpu.wall,
    baselineBulkMachineCores: b.bulk.cpu.machine / b.bulk.cpu.wall,
    bulkLatencyMs: n(o.bulk.client?.meanLatencyMs),
    bulkInFlight: n(o.bulk.client?.meanInFlight),
    bulkQueueWaitMs: n(o.bulk.client?.meanQueueWaitMs),
    baselineBulkLatencyMs: n(b.bulk.client?.meanLatencyMs),
    baselineBulkInFlight: n(b.bulk.client?.meanInFlight),
  };
}

export function summarizeConfig(n: number, k: number, repeats: RepeatResult[]): ConfigResult {
  const all = repeats.map(figures);
  const keys = Object.keys(all[0] ?? {});
  const med: Figures = {};
  for (const key of keys) med[key] = median(all.map((f) => f[key]!));
  return { n, k, objects: n * (2 + k), median: med, repeats };
}

export interface BenchResult {
  createdAt: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string; kubernetes: string };
  options: {
    repeats: number;
    workers: number | undefined;
    baselineConcurrency: number;
    driverConcurrency: number;
    resyncSeconds: number;
    idleResyncs: number;
    operatorArgs: string[];
    nodeOptions?: string;
    baselineEvents?: boolean;
    bulkOnly?: boolean;
    scale?: boolean;
    latencySamples?: number;
  };
  totalSeconds: number;
  /** Set while (or when) a run did not finish every (N, k). */
  incomplete?: string;
  configs: ConfigResult[];
}

const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(1));
const f2 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(2));
const int = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : String(Math.round(x)));
const ratio = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}x`);

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** KB of RSS per policy between the smallest and largest N for each k. */
export function memoryPerPolicy(
  configs: readonly ConfigResult[],
): { k: number; steadyKb: number; peakKb: number; from: number; to: number }[] {
  const out = [];
  for (const k of [...new Set(configs.map((c) => c.k))]) {
    const byN = configs.filter((c) => c.k === k).sort((a, b) => a.n - b.n);
    const lo = byN[0];
    const hi = byN[byN.length - 1];
    if (!lo || !hi || lo.n === hi.n) continue;
    const slope = (key: string) => ((hi.median[key]! - lo.median[key]!) * 1024) / (hi.n - lo.n);
    out.push({
      k,
      steadyKb: Math.round(slope('steadyRssMb')),
      peakKb: Math.round(slope('peakRssMb')),
      from: lo.n,
      to: hi.n,
    });
  }
  return out;
}

export function renderMarkdown(r: BenchResult): string {
  const { machine: m, options: o } = r;
  const rows = (fn: (c: ConfigResult, f: Figures) => string[]) => r.configs.map((c) => fn(c, c.median));
  const largest = [...r.configs].sort((a, b) => a.n * 10 + a.k - (b.n * 10 + b.k)).at(-1);
  const out: string[] = [];
  out.push(`# Operator convergence benchmark — ${r.createdAt}`);
  out.push('');
  if (r.incomplete) {
    out.push(`**Incomplete run: ${r.incomplete}.**`);
    out.push('');
  }
  out.push(
    `Machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGb} GB, shared with other work. Node ${m.node}, ` +
      `Kubernetes ${m.kubernetes} (local etcd + kube-apiserver + kube-controller-manager, audit log on). ` +
      `Repeats: ${o.repeats}; figures are medians, ratios are medians of per-repeat ratios. Total run: ${r.totalSeconds} s.`,
  );
  out.push('');
  out.push(
    `Operator: separate process, the chart's scoped RBAC and ServiceAccount, ` +
      `${o.workers === undefined ? 'default --workers' : `--workers=${o.workers}`}` +
      `${o.operatorArgs.length ? `, ${o.operatorArgs.join(' ')}` : ''}` +
      `${o.nodeOptions ? `, NODE_OPTIONS=${o.nodeOptions}` : ''}. Baseline: the same ServiceAccount and ` +
      `HTTP client (KubeClient), ${o.baselineConcurrency} requests in flight, creating exactly the operator's objects ` +
      `and status with no reads${o.baselineEvents ? ", and recording the operator's Events too" : ' (and no Events)'}. ` +
      `Policies are created/changed by an admin driver (${o.driverConcurrency} in flight), identically in both runs.` +
      `${o.bulkOnly ? ' Bulk create only (--bulk-only).' : ''}`,
  );
  out.push('');
  out.push(
    '## Convergence (seconds until an independent watcher saw every policy Ready and every object right)',
  );
  out.push('');
  out.push(
    table(
      [
        'N',
        'k',
        'objects',
        'bulk create',
        'baseline',
        'ratio',
        'churn 10%',
        'baseline',
        'ratio',
        'drift 5%',
        'baseline',
        'ratio',
      ],
      rows((c, f) => [
        String(c.n),
        String(c.k),
        String(c.objects),
        `${f2(f.bulkOperatorS)} (settled ${f2(f.bulkSettledS)})`,
        f2(f.bulkBaselineS),
        `**${ratio(f.bulkRatio)}**`,
        f2(f.churnOperatorS),
        f2(f.churnBaselineS),
        ratio(f.churnRatio),
        f2(f.driftOperatorS),
        f2(f.driftBaselineS),
        ratio(f.driftRatio),
      ]),
    ),
  );
  out.push('');
  out.push('### Bulk create: where the time goes');
  out.push('');
  out.push(
    table(
      [
        'N',
        'k',
        'operator: requests in flight',
        'ms/request',
        'queue wait ms',
        'kube-apiserver cores',
        'machine cores busy',
        'baseline: requests in flight',
        'ms/request',
        'kube-apiserver cores',
        'machine cores busy',
      ],
      rows((c, f) => [
        String(c.n),
        String(c.k),
        f1(f.bulkInFlight),
        int(f.bulkLatencyMs),
        int(f.bulkQueueWaitMs),
        f2(f.bulkApiserverCores),
        f2(f.bulkMachineCores),
        f1(f.baselineBulkInFlight),
        int(f.baselineBulkLatencyMs),
        f2(f.baselineBulkApiserverCores),
        f2(f.baselineBulkMachineCores),
      ]),
    ),
  );
  out.push('');
  out.push('## API server cost (operator identity, from the audit log)');
  out.push('');
  out.push(
    table(
      [
        'N',
        'k',
        'write amp. bulk',
        'churn',
        'drift',
        'baseline',
        'Events (bulk/all)',
        'GET+LIST per reconcile: bulk / churn / drift / idle',
        '409',
        '429',
        'cold start: ready s',
        'settled s',
        'writes',
        'idle writes',
        'idle LIST / WATCH / reconciles',
        'SubjectAccessReviews bulk / idle',
      ],
      rows((c, f) => [
        String(c.n),
        String(c.k),
        `${f2(f.bulkAmplification)} (${int(f.bulkWrites)}/${int(f.bulkNeeded)})`,
        f2(f.churnAmplification),
        f2(f.driftAmplification),
        f2(f.baselineBulkAmplification),
        `${int(f.bulkEventWrites)} / ${int(f.operatorEventWrites)}`,
        `${f2(f.bulkGetListPerReconcile)} / ${f2(f.churnGetListPerReconcile)} / ${f2(f.driftGetListPerReconcile)} / ${f2(f.idleGetListPerReconcile)}`,
        int(f.operator409),
        int(f.operator429),
        f2(f.coldReadyS),
        f2(f.coldSettledS),
        int(f.coldWrites! + f.coldEventWrites!),
        int(f.idleWrites),
        `${int(f.idleLists)} / ${int(f.idleWatches)} / ${int(f.idleReconciles)} in ${f1(f.idleSeconds)} s`,
        `${int(f.bulkAccessReviews)} / ${int(f.idleAccessReviews)}`,
      ]),
    ),
  );
  out.push('');
  out.push('## Memory and CPU');
  out.push('');
  out.push(
    table(
      [
        'N',
        'k',
        'peak RSS MB (bulk+churn+drift) (anonymous)',
        'peak RSS MB (cold start) (anonymous)',
        'steady RSS MB (idle): anonymous + file-backed',
        'V8 heap used MB: after bulk / idle',
        'operator CPU s: bulk / cold / idle',
        'kube-apiserver CPU s, bulk: operator / baseline',
        'etcd CPU s, bulk: operator / baseline',
      ],
      rows((c, f) => [
        String(c.n),
        String(c.k),
        `${int(f.peakRssMb)} (${int(f.peakAnonMb)})`,
        `${int(f.coldPeakRssMb)} (${int(f.coldPeakAnonMb)})`,
        `${int(f.steadyRssMb)} (${int(f.steadyAnonMb)} + ${int(f.steadyFileMb)})`,
        `${f1(f.bulkHeapUsedMb)} / ${f1(f.idleHeapUsedMb)}`,
        `${f2(f.bulkOperatorCpuS)} / ${f2(f.coldOperatorCpuS)} / ${f2(f.idleOperatorCpuS)}`,
        `${f1(f.bulkApiserverCpuS)} / ${f1(f.baselineBulkApiserverCpuS)}`,
        `${f1(f.bulkEtcdCpuS)} / ${f1(f.baselineBulkEtcdCpuS)}`,
      ]),
    ),
  );
  out.push('');
  const slopes = memoryPerPolicy(r.configs);
  for (const sl of slopes) {
    out.push(
      `Memory per policy (k=${sl.k}, N ${sl.from} -> ${sl.to}): ${sl.steadyKb} KB steady, ${sl.peakKb} KB peak.`,
    );
  }
  if (slopes.length > 0) out.push('');
  if (o.scale) {
    out.push(issueTargets(r.configs));
    out.push('');
  }
  if (largest) {
    const last = largest.repeats.at(-1)!;
    out.push(`## Requests by verb and resource, bulk create, N=${largest.n}, k=${largest.k} (last repeat)`);
    out.push('');
    const opReq = last.operator.bulk.audit.byVerbResource;
    const baseReq = last.baseline.bulk.audit.byVerbResource;
    const keys = [...new Set([...Object.keys(opReq), ...Object.keys(baseReq)])].sort();
    out.push(
      table(
        ['verb resource', 'operator', 'baseline'],
        keys.map((key) => [key, String(opReq[key] ?? 0), String(baseReq[key] ?? 0)]),
      ),
    );
    out.push('');
    out.push(targets(largest));
    out.push('');
  }
  out.push('## Definitions');
  out.push('');
  out.push(
    [
      '- Bulk create: N policies created while the operator runs; time from the first create to every policy ' +
        '`Ready=True` with `observedGeneration == generation` and every generated object present with the ' +
        "expected content (and nothing else labelled as the operator's). Settled: until the operator stopped reconciling.",
      '- Churn: every tenth policy gets one more target user (its impersonator ClusterRole changes) and role 0 moves ' +
        'to another ClusterRole (one binding created, one pruned). Drift: every twentieth generated object ' +
        '(key order) is deleted by an admin; time until each is back (new uid).',
      '- Baseline: for bulk, creates the objects and writes the status as soon as each policy is created; for churn, ' +
        'the changed ClusterRole (apply), the new binding, the deleted binding and the status; for drift, recreates ' +
        'each deleted object right after deleting it. Same watcher, same predicate.',
      '- Minimum writes ("needed"): generated objects + one status write per policy (bulk); per changed policy ' +
        'the changed, created and pruned objects + one status (churn); the deleted objects (drift). ' +
        'Write amplification = writes to anything but Events by the identity in the window / needed. Events ' +
        '(best effort, rate-limited per object) are reported separately.',
      '- GET+LIST per reconcile: GET and LIST requests by the operator in the window / reconciles in it ' +
        '(`impersonation_operator_reconcile_total`). The bulk/churn/drift windows start after the caches synced; ' +
        'the cold-start row counts the initial LISTs separately.',
      '- Cold start: a new operator process with every policy and object in place: time to /readyz, time until ' +
        'it reconciled every policy and went quiet, writes made (target 0), peak RSS (VmHWM and 50 ms samples). ' +
        'Idle follows, in the same process, for a few resync periods (every policy is reconciled again each period).',
      '- CPU: user+system seconds from /proc during the window.',
      '- Apply-to-Ready (--latency-samples, --scale): on the cold-started operator once it went quiet, policies ' +
        'spread over all N are edited one at a time (the churn edit); from the admin request until the watcher ' +
        'sees status.observedGeneration == generation, Ready=True and the objects right. Nearest-rank percentiles.',
      '- RSS before any work: the operator ready (caches synced, no policies yet), 1 s after /readyz.',
      '- Memory per policy: the slope of RSS between the smallest and the largest N of the run (same k).',
    ].join('\n'),
  );
  return `${out.join('\n')}\n`;
}

function targets(c: ConfigResult): string {
  const f = c.median;
  const mark = (ok: boolean) => (ok ? 'met' : '**missed**');
  const lines = [
    `## Targets at N=${c.n}, k=${c.k}`,
    '',
    `- Bulk create within 1.25x of the baseline: ${ratio(f.bulkRatio)} — ${mark(f.bulkRatio! <= 1.25)}`,
    `- Write amplification <= 1.05: bulk ${f2(f.bulkAmplification)}, churn ${f2(f.churnAmplification)}, drift ${f2(f.driftAmplification)} — ${mark(
      Math.max(f.bulkAmplification!, f.churnAmplification!, f.driftAmplification!) <= 1.05,
    )}`,
    `- Zero writes at idle and on a cold start: idle ${int(f.idleWrites)}, cold ${int(f.coldWrites! + f.coldEventWrites!)} — ${mark(
      f.idleWrites === 0 && f.coldWrites === 0 && f.coldEventWrites === 0,
    )}`,
    `- No GET/LIST per reconcile after sync: bulk ${f2(f.bulkGetListPerReconcile)}, idle ${f2(f.idleGetListPerReconcile)} — ${mark(
      f.bulkGetListPerReconcile === 0 && f.idleGetListPerReconcile === 0,
    )}`,
    `- Peak RSS under 100 MB: ${int(f.peakRssMb)} MB, of which anonymous ${int(f.peakAnonMb)} MB ` +
      `(cold start ${int(f.coldPeakRssMb)} MB, anonymous ${int(f.coldPeakAnonMb)} MB) — ${mark(
        Math.max(f.peakRssMb!, f.coldPeakRssMb!) < 100,
      )}`,
  ];
  return lines.join('\n');
}

/** Every figure of issue 16's Targets table, per N, with the target beside it. */
function issueTargets(configs: readonly ConfigResult[]): string {
  const byN = [...configs].sort((a, b) => a.n - b.n);
  const slopes = memoryPerPolicy(configs);
  const col = (fn: (f: Figures) => string) => byN.map((c) => fn(c.median));
  const rows: string[][] = [
    ['bulk create s (baseline s)', ...col((f) => `${f1(f.bulkOperatorS)} (${f1(f.bulkBaselineS)})`), ''],
    [
      'bulk create ratio',
      ...col((f) => `**${ratio(f.bulkRatio)}**`),
      '<= 1.12x at 1,000; <= 1.25x at 10,000',
    ],
    [
      'peak RSS MB (anonymous), bulk',
      ...col((f) => `**${int(f.peakRssMb)}** (${int(f.peakAnonMb)})`),
      '<= 90 at 1,000; <= 250 at 10,000',
    ],
    [
      'peak RSS MB (anonymous), cold start',
      ...col((f) => `${int(f.coldPeakRssMb)} (${int(f.coldPeakAnonMb)})`),
      '',
    ],
    [
      'steady RSS MB (anonymous + file-backed), idle',
      ...col((f) => `${int(f.steadyRssMb)} (${int(f.steadyAnonMb)} + ${int(f.steadyFileMb)})`),
      '',
    ],
    [
      'memory per policy (slope, KB)',
      ...byN.map((_, i) =>
        i === 0 ? '' : slopes.map((sl) => `**${sl.steadyKb}** steady, ${sl.peakKb} peak`).join('; '),
      ),
      '<= 15',
    ],
    [
      'RSS before any work MB (anonymous)',
      ...col((f) => `${int(f.startRssMb)} (${int(f.startAnonMb)})`),
      '<= 60',
    ],
    ['cold start: ready s / settled s', ...col((f) => `${f2(f.coldReadyS)} / ${f2(f.coldSettledS)}`), ''],
    [
      'apply-to-Ready ms p50 / p99',
      ...col(
        (f) =>
          `${int(f.applyToReadyP50Ms)} / **${int(f.applyToReadyP99Ms)}** (${int(f.applyToReadySamples)} edits)`,
      ),
      'p99 <= 1000 at 10,000',
    ],
    [
      'idle operator CPU s/min (no resync in the window)',
      ...col((f) => `${f2(f.idleOperatorCpuPerMin)} (${f2(f.idleOperatorCpuS)} s in ${f1(f.idleSeconds)} s)`),
      '<= 0.1',
    ],
    ['write amplification, bulk', ...col((f) => f2(f.bulkAmplification)), '1.00'],
    [
      'write amplification, single edits (Events)',
      ...col((f) => `${f2(f.applyToReadyAmplification)} (${int(f.applyToReadyEvents)})`),
      '1.00',
    ],
    [
      'writes: cold start / idle',
      ...col((f) => `${int(f.coldWrites! + f.coldEventWrites!)} / ${int(f.idleWrites)}`),
      '0 / 0',
    ],
    [
      'GET+LIST per reconcile: bulk / idle',
      ...col((f) => `${f2(f.bulkGetListPerReconcile)} / ${f2(f.idleGetListPerReconcile)}`),
      '0 / 0',
    ],
    ['Events written, bulk', ...col((f) => int(f.bulkEventWrites)), ''],
  ];
  return [
    "## Issue 16's Targets (k=3, one repeat)",
    '',
    table(['figure', ...byN.map((c) => `N=${c.n} (${c.n * (2 + c.k)} objects)`), 'target'], rows),
  ].join('\n');
}
