// Benchmark (not a test): how fast the operator makes RBAC match N ImpersonationPolicies, what it costs
// the API server, and how much memory it needs — against, in the same run, a minimal writer that does
// the same writes with no reads as fast as the API server takes them.
//
//   npm run bench [-- --n 100,1000 --k 1,3 --repeats 3 --workers 8 --baseline-concurrency 32]
//   npm run bench -- --quick --repeats 1     (a smoke run: N=100, k=3)
//   npm run bench -- --scale                 (N=1,000 and 10,000, k=3, one repeat: bulk create, cold start,
//                                             apply-to-Ready latency, idle; the issue-16 Targets table)
//
// Per (N, k): a fresh local control plane (etcd, kube-apiserver, kube-controller-manager), the chart's
// RBAC for one ServiceAccount (the operator and the baseline both run as it), then per repeat:
//   baseline: bulk create, churn (10% of policies changed), drift (5% of generated objects deleted);
//   operator (a separate process): the same three, then a cold start (restart with everything in
//   place) and idle (a few resync periods).
// Times come from an independent watcher (bench/lib/watcher.ts); request counts from the audit log.
// Results: bench/results/<timestamp>.json and .md.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { IMPERSONATION_POLICIES } from '../src/controller/resources.js';
import type { RbacObject } from '../src/core/index.js';
import { KubeClient } from '../src/kube/client.js';
import { EventRecorder } from '../src/kube/events.js';
import { CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, EVENTS, resourcePath } from '../src/kube/resources.js';
import type { KubeObject } from '../src/kube/types.js';
import { ControlPlane, KUBERNETES_VERSION, repoRoot } from '../test/harness/controlplane.js';
import { startOperator, type OperatorProcess } from '../test/harness/operator.js';
import { installOperatorRbac } from '../test/harness/operator-rbac.js';
import { AuditLog, type AuditSummary } from './lib/audit.js';
import { Limiter, MinimalWriter } from './lib/baseline.js';
import { cpuSeconds, machineBusySeconds, memory, RssSampler } from './lib/proc.js';
import { snapshot, waitSettled, type OperatorSnapshot } from './lib/operator-metrics.js';
import { percentile } from './lib/report.js';
import {
  renderMarkdown,
  summarizeConfig,
  type ClientFigures,
  type ConfigResult,
  type CpuSnapshot,
  type PhaseResult,
  type RepeatResult,
} from './lib/report.js';
import {
  renderMemoryMarkdown,
  type MemoryBenchResult,
  type MemoryConfigResult,
} from './lib/memory-report.js';
import { Watcher } from './lib/watcher.js';
import {
  CHURN_ROLE,
  grantsFor,
  keyOfObject,
  outcomeOf,
  policyName,
  policyObject,
  policySpec,
  signature,
  VIEW_ROLES,
  type PolicyOutcome,
} from './lib/workload.js';
import { RESOURCES } from '../src/controller/reconciler.js';

export interface Options {
  n: number[];
  k: number[];
  repeats: number;
  quick: boolean;
  workers: number | undefined;
  baselineConcurrency: number;
  driverConcurrency: number;
  resyncSeconds: number;
  idleResyncs: number;
  operatorArgs: string[];
  nodeOptions: string;
  cpuProf: boolean;
  heapSnapshot: boolean;
  bulkOnly: boolean;
  baselineEvents: boolean;
  /** Bulk create, cold start, apply-to-Ready latency and idle only (no churn, drift); see --scale. */
  scale: boolean;
  /** Footprint only: an admin preload, then the operator's cold start and idle; see --memory. */
  memory: boolean;
  /** Single-policy edits timed on the idle operator after its cold start (0: none). */
  latencySamples: number;
  /** Idle window; default resyncSeconds * idleResyncs + 0.5. */
  idleSeconds: number | undefined;
  out: string;
  single: { n: number; k: number; resultFile: string; stamp: string } | undefined;
}

const KCM_USER = 'system:kube-controller-manager';

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      n: { type: 'string' },
      k: { type: 'string' },
      repeats: { type: 'string' },
      quick: { type: 'boolean', default: false },
      workers: { type: 'string' },
      'baseline-concurrency': { type: 'string', default: '32' },
      'driver-concurrency': { type: 'string', default: '16' },
      'resync-seconds': { type: 'string' },
      'idle-resyncs': { type: 'string' },
      'operator-arg': { type: 'string', multiple: true, default: [] },
      'node-options': { type: 'string', default: '' },
      'cpu-prof': { type: 'boolean', default: false },
      'heap-snapshot': { type: 'boolean', default: false },
      'bulk-only': { type: 'boolean', default: false },
      'baseline-events': { type: 'boolean', default: false },
      scale: { type: 'boolean', default: false },
      memory: { type: 'boolean', default: false },
      'latency-samples': { type: 'string' },
      'idle-seconds': { type: 'string' },
      // Internal: run one (N, k) in this process and write its result to a file (see main).
      single: { type: 'string' },
      'result-file': { type: 'string' },
      stamp: { type: 'string' },
      out: { type: 'string', default: join(repoRoot, 'bench', 'results') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      [
        'npm run bench -- [options]',
        '  --n 100,1000              policy counts (default 100,1000; --quick: 100)',
        '  --k 1,3                   roles per policy (default 1,3; --quick: 3)',
        '  --repeats 3               repeats per (N, k); medians are reported (default 3)',
        '  --quick                   smoke run: N=100, k=3, a shorter idle window',
        '  --workers W               operator --workers (default: the operator default)',
        '  --baseline-concurrency C  requests in flight for the baseline writer (default 32)',
        '  --driver-concurrency C    requests in flight for creating/changing policies (default 16)',
        '  --resync-seconds S        operator resync period for cold start + idle (default 4; --quick 3)',
        '  --idle-resyncs R          idle window in resync periods (default 3; --quick 2)',
        '  --operator-arg ARG        extra operator flag (repeatable)',
        '  --node-options OPTS       NODE_OPTIONS for the operator process (e.g. --max-semi-space-size=4)',
        '  --cpu-prof                write operator CPU profiles next to the results',
        '  --heap-snapshot           write operator heap snapshots (after bulk create, after idle) there too',
        '  --bulk-only               only bulk create, baseline and operator (for quick experiments)',
        '  --baseline-events         the baseline also records one Event per policy, as the operator once did',
        '  --scale                   N=1000,10000 x k=3, 1 repeat: bulk create, cold start, apply-to-Ready latency',
        '                            (100 single-policy edits on the idle operator), idle 60 s with no resync;',
        "                            ends with issue 16's Targets table (~1 h on 2 busy cores)",
        '  --memory                  footprint only (N=1000,10000 x k=3, 1 repeat, ~10 min): an admin writer',
        "                            preloads the operator's objects; RSS before any work, cold start, 60 s idle;",
        '                            memory per policy; with --heap-snapshot, a snapshot after idle',
        '  --latency-samples S       single-policy edits timed after the cold start (default 0; --scale 100)',
        '  --idle-seconds S          idle window (default resync-seconds x idle-resyncs; --scale 60)',
        '  --out DIR                 results directory (default bench/results)',
        '',
      ].join('\n'),
    );
    process.exit(0);
  }
  const list = (s: string | undefined, dflt: number[]) =>
    s === undefined ? dflt : s.split(',').map((x) => positive(x, 'list entry'));
  const quick = values.quick ?? false;
  const scale = values.scale ?? false;
  const memoryOnly = values.memory ?? false;
  if (scale && (quick || values['bulk-only'])) throw new Error('--scale: not with --quick or --bulk-only');
  if (memoryOnly && (quick || scale || values['bulk-only']))
    throw new Error('--memory: not with --quick, --scale or --bulk-only');
  const large = scale || memoryOnly;
  return {
    n: list(values.n, quick ? [100] : large ? [1000, 10000] : [100, 1000]),
    k: list(values.k, quick || large ? [3] : [1, 3]),
    repeats: values.repeats === undefined ? (quick || large ? 1 : 3) : positive(values.repeats, '--repeats'),
    quick,
    workers: values.workers === undefined ? undefined : positive(values.workers, '--workers'),
    baselineConcurrency: positive(values['baseline-concurrency']!, '--baseline-concurrency'),
    driverConcurrency: positive(values['driver-concurrency']!, '--driver-concurrency'),
    // At scale a resync reconciles every policy: the idle window has none (the cold start is one).
    resyncSeconds:
      values['resync-seconds'] === undefined
        ? quick
          ? 3
          : large
            ? 600
            : 4
        : positive(values['resync-seconds'], '--resync-seconds'),
    idleResyncs:
      values['idle-resyncs'] === undefined
        ? quick
          ? 2
          : 3
        : positive(values['idle-resyncs'], '--idle-resyncs'),
    operatorArgs: values['operator-arg'] ?? [],
    nodeOptions: values['node-options'] ?? '',
    cpuProf: values['cpu-prof'] ?? false,
    heapSnapshot: values['heap-snapshot'] ?? false,
    bulkOnly: values['bulk-only'] ?? false,
    baselineEvents: values['baseline-events'] ?? false,
    scale,
    memory: memoryOnly,
    latencySamples:
      values['latency-samples'] === undefined
        ? scale
          ? 100
          : 0
        : positive(values['latency-samples'], '--latency-samples'),
    idleSeconds:
      values['idle-seconds'] === undefined
        ? large
          ? 60
          : undefined
        : positive(values['idle-seconds'], '--idle-seconds'),
    out: values.out!,
    single:
      values.single === undefined
        ? undefined
        : {
            n: positive(values.single.split(',')[0] ?? '', '--single N'),
            k: positive(values.single.split(',')[1] ?? '', '--single k'),
            resultFile: values['result-file'] ?? '',
            stamp: values.stamp ?? '',
          },
  };
}

function positive(s: string, what: string): number {
  const v = Number(s);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${what}: expected a positive integer, got ${s}`);
  return v;
}

const started = performance.now();
function log(msg: string): void {
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `task` over `items` with at most `concurrency` at once. */
async function pool<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>) {
  const limiter = new Limiter(concurrency);
  await Promise.all(items.map((item) => limiter.run(() => task(item))));
}

interface CreatedPolicy {
  /** Whether the spec is the churn variant now. */
  churned?: boolean;
  index: number;
  name: string;
  uid: string;
  generation: number;
  outcome: PolicyOutcome;
}

interface Context {
  n: number;
  k: number;
  opts: Options;
  admin: KubeClient;
  watcher: Watcher;
  audit: AuditLog;
  username: string;
  kubeconfig: string;
  pids: { etcd: number; apiserver: number; kcm: number };
  profileDir: string;
  timeoutMs: number;
}

function cpuSnapshot(ctx: Context, operatorPid?: number): CpuSnapshot {
  const bench = process.cpuUsage();
  return {
    apiserver: cpuSeconds(ctx.pids.apiserver),
    etcd: cpuSeconds(ctx.pids.etcd),
    kcm: cpuSeconds(ctx.pids.kcm),
    bench: (bench.user + bench.system) / 1e6,
    operator: operatorPid === undefined ? 0 : cpuSeconds(operatorPid),
    machine: machineBusySeconds(),
    wall: performance.now() / 1000,
  };
}

function cpuDelta(a: CpuSnapshot, b: CpuSnapshot): CpuSnapshot {
  const d = (x: number, y: number) => Math.round((y - x) * 100) / 100;
  return {
    apiserver: d(a.apiserver, b.apiserver),
    etcd: d(a.etcd, b.etcd),
    kcm: d(a.kcm, b.kcm),
    bench: d(a.bench, b.bench),
    operator: d(a.operator, b.operator),
    machine: d(a.machine, b.machine),
    wall: d(a.wall, b.wall),
  };
}

/** Ends a phase: waits for the audit backend, then summarizes the window for the bench identity. */
async function auditWindow(ctx: Context, from: number, to: number): Promise<AuditSummary> {
  await sleep(500);
  await ctx.audit.catchUp();
  return ctx.audit.summarize(from, to, ctx.username);
}

function phase(
  ms: number,
  needed: number,
  audit: AuditSummary,
  cpu: CpuSnapshot,
  extra: Partial<PhaseResult> = {},
): PhaseResult {
  const result: PhaseResult = {
    ms: Math.round(ms),
    needed,
    audit,
    amplification: needed === 0 ? (audit.writes === 0 ? 1 : Infinity) : round3(audit.writes / needed),
    cpu,
    ...extra,
  };
  if (result.reconciles !== undefined && result.reconciles > 0)
    result.getListPerReconcile = round3((audit.gets + audit.lists) / result.reconciles);
  return result;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

// ------------------------------------------------------------------------------------------------
// The three write scenarios, shared by baseline and operator: the driver (admin) changes the world,
// the watcher says when it matches; `writer` is the baseline (undefined: the operator does the work).

async function bulkCreate(ctx: Context, writer: MinimalWriter | undefined) {
  const { n, k, watcher, admin } = ctx;
  watcher.expect(new Map(Array.from({ length: n }, (_, i) => [policyName(i), 1])), new Map());
  const created: CreatedPolicy[] = [];
  const work: Promise<void>[] = [];
  const from = Date.now();
  const t0 = performance.now();
  const indices = Array.from({ length: n }, (_, i) => i);
  await pool(indices, ctx.opts.driverConcurrency, async (i) => {
    const p = await admin.create<KubeObject>(IMPERSONATION_POLICIES, policyObject(i, k));
    const meta = { name: policyName(i), uid: p.metadata!.uid!, generation: p.metadata!.generation ?? 1 };
    const outcome = outcomeOf(meta, policySpec(i, k), new Date());
    created.push({ index: i, ...meta, outcome });
    for (const o of outcome.objects) watcher.expectObject(keyOfObject(o), signature(o));
    if (writer) work.push(writer.provision(meta, outcome.objects, outcome.status));
  });
  const converged = await watcher.waitConverged(ctx.timeoutMs);
  await Promise.all(work);
  created.sort((a, b) => a.index - b.index);
  return { from, t0, ms: converged - t0, created, needed: n * (1 + created[0]!.outcome.objects.length) };
}

/** 10% of the policies (every tenth) get the churn edit. */
async function churn(ctx: Context, created: CreatedPolicy[], writer: MinimalWriter | undefined) {
  const { k, watcher, admin } = ctx;
  const chosen = created.filter((p) => p.index % 10 === 0);
  const work: Promise<void>[] = [];
  let needed = 0;
  const from = Date.now();
  const t0 = performance.now();
  await pool(chosen, ctx.opts.driverConcurrency, async (p) => {
    const spec = policySpec(p.index, k, true);
    // Expect the new generation before the change can be observed, so convergence cannot be stamped early.
    watcher.expectPolicy(p.name, p.generation + 1);
    const updated = await admin.patchMerge<KubeObject>(IMPERSONATION_POLICIES, p.name, { spec });
    const generation = updated.metadata!.generation!;
    watcher.expectPolicy(p.name, generation);
    const outcome = outcomeOf({ name: p.name, uid: p.uid, generation }, spec, new Date());
    const after = new Set(outcome.objects.map(keyOfObject));
    const before = new Map(p.outcome.objects.map((o) => [keyOfObject(o), signature(o)]));
    for (const o of p.outcome.objects)
      if (!after.has(keyOfObject(o))) watcher.expectObject(keyOfObject(o), undefined);
    for (const o of outcome.objects) watcher.expectObject(keyOfObject(o), signature(o));
    needed += 1; // status
    needed += outcome.objects.filter((o) => before.get(keyOfObject(o)) !== signature(o)).length;
    needed += p.outcome.objects.filter((o) => !after.has(keyOfObject(o))).length;
    if (writer) work.push(writer.change(p, p.outcome.objects, outcome.objects, signature, outcome.status));
    p.outcome = outcome;
    p.generation = generation;
    p.churned = true;
  });
  const converged = await watcher.waitConverged(ctx.timeoutMs);
  await Promise.all(work);
  return { from, t0, ms: converged - t0, needed, changed: chosen.length };
}

/** 5% of the generated objects (every twentieth, in key order) are deleted by someone else. */
async function drift(ctx: Context, created: CreatedPolicy[], writer: MinimalWriter | undefined) {
  const { watcher, admin } = ctx;
  const byKey = new Map<string, { policy: CreatedPolicy; obj: RbacObject }>();
  for (const p of created)
    for (const o of p.outcome.objects) byKey.set(keyOfObject(o), { policy: p, obj: o });
  const victims = [...byKey.keys()].sort().filter((_, i) => i % 20 === 0);
  const groups = new Map<CreatedPolicy, RbacObject[]>();
  for (const key of victims) {
    const v = byKey.get(key)!;
    groups.set(v.policy, [...(groups.get(v.policy) ?? []), v.obj]);
    watcher.expectRecreated(key, watcher.uidOf(key) ?? '');
  }
  const work: Promise<void>[] = [];
  const from = Date.now();
  const t0 = performance.now();
  await pool([...groups], ctx.opts.driverConcurrency, async ([policy, objs]) => {
    await Promise.all(
      objs.map((o) => admin.remove(RESOURCES[o.kind], o.metadata.name, { namespace: o.metadata.namespace })),
    );
    if (writer) work.push(writer.repair(policy, objs));
  });
  const converged = await watcher.waitConverged(ctx.timeoutMs);
  await Promise.all(work);
  return { from, t0, ms: converged - t0, needed: victims.length };
}

// ------------------------------------------------------------------------------------------------

async function runBaseline(ctx: Context): Promise<RepeatResult['baseline']> {
  const kc = new KubeConfig();
  kc.loadFromFile(ctx.kubeconfig);
  const stats = { requests: 0, seconds: 0 };
  const client = await KubeClient.fromKubeConfig(kc, {
    maxSockets: ctx.opts.baselineConcurrency,
    userAgent: 'impop-bench-baseline',
    onRequest: (e) => {
      stats.requests++;
      stats.seconds += e.durationMs / 1000;
    },
  });
  const events = ctx.opts.baselineEvents
    ? new EventRecorder({
        client,
        reportingController: 'impersonation-operator',
        reportingInstance: 'impop-bench-baseline',
        maxPending: Number.MAX_SAFE_INTEGER,
      })
    : undefined;
  const writer = new MinimalWriter(client, ctx.opts.baselineConcurrency, events);
  const measure = async (
    what: string,
    run: () => Promise<{ from: number; t0: number; ms: number; needed: number }>,
  ): Promise<PhaseResult> => {
    const cpu = cpuSnapshot(ctx);
    const before = { ...stats };
    const r = await run();
    await writer.flush();
    const end = Date.now();
    const cpu2 = cpuSnapshot(ctx);
    const requests = stats.requests - before.requests;
    const seconds = stats.seconds - before.seconds;
    const result = phase(r.ms, r.needed, await auditWindow(ctx, r.from, end), cpuDelta(cpu, cpu2), {
      client: {
        requests,
        meanLatencyMs: round3((seconds * 1000) / Math.max(1, requests)),
        meanInFlight: round3(seconds / (r.ms / 1000)),
      },
    });
    log(
      `baseline ${what}: ${(r.ms / 1000).toFixed(2)}s, ${result.audit.writes} writes, ` +
        `${result.client!.meanLatencyMs.toFixed(0)} ms/request, ${result.client!.meanInFlight.toFixed(1)} in flight`,
    );
    return result;
  };
  try {
    let created: CreatedPolicy[] = [];
    const bulk = await measure('bulk create', async () => {
      const r = await bulkCreate(ctx, writer);
      created = r.created;
      return r;
    });
    if (ctx.opts.bulkOnly || ctx.opts.scale) return { bulk };
    const churnPhase = await measure('churn', () => churn(ctx, created, writer));
    const driftPhase = await measure('drift repair', () => drift(ctx, created, writer));
    return { bulk, churn: churnPhase, drift: driftPhase };
  } finally {
    client.close();
  }
}

function operatorArgs(ctx: Context, extra: string[] = []): string[] {
  return [
    '--no-leader-elect',
    '--log-level=info',
    ...(ctx.opts.workers === undefined ? [] : [`--workers=${ctx.opts.workers}`]),
    ...ctx.opts.operatorArgs,
    ...extra,
  ];
}

async function launch(ctx: Context, extra: string[] = []): Promise<OperatorProcess> {
  const nodeOptions = [ctx.opts.nodeOptions];
  if (ctx.opts.cpuProf || ctx.opts.heapSnapshot) await mkdir(ctx.profileDir, { recursive: true });
  if (ctx.opts.cpuProf) nodeOptions.push(`--cpu-prof --cpu-prof-dir=${ctx.profileDir}`);
  if (ctx.opts.heapSnapshot)
    nodeOptions.push(`--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${ctx.profileDir}`);
  const env: Record<string, string> = {};
  const joined = nodeOptions.filter(Boolean).join(' ');
  if (joined) env.NODE_OPTIONS = joined;
  return startOperator({ kubeconfig: ctx.kubeconfig, args: operatorArgs(ctx, extra), env });
}

/** With --heap-snapshot: makes the operator write a heap snapshot and waits until it is complete. */
async function heapSnapshot(ctx: Context, op: OperatorProcess, label: string): Promise<string | undefined> {
  if (!ctx.opts.heapSnapshot) return undefined;
  const before = new Set(await readdir(ctx.profileDir));
  op.child.kill('SIGUSR2');
  const deadline = Date.now() + 120_000;
  let size = -1;
  while (Date.now() < deadline) {
    await sleep(500);
    const file = (await readdir(ctx.profileDir)).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    const now = (await stat(join(ctx.profileDir, file))).size;
    if (now === size && now > 0) {
      await rename(join(ctx.profileDir, file), join(ctx.profileDir, `${label}-${file}`));
      log(`heap snapshot: ${label}-${file} (${(now / 2 ** 20).toFixed(0)} MB)`);
      return relative(ctx.opts.out, join(ctx.profileDir, `${label}-${file}`));
    }
    size = now;
  }
  log(`heap snapshot ${label}: not written within 120s`);
  return undefined;
}

function heapOf(snap: OperatorSnapshot): NonNullable<PhaseResult['heap']> {
  return {
    usedMb: round3(snap.heapUsedMb),
    totalMb: round3(snap.heapTotalMb),
    externalMb: round3(snap.externalMb),
    spacesMb: snap.spacesMb,
  };
}

function clientFigures(a: OperatorSnapshot, b: OperatorSnapshot, ms: number): ClientFigures {
  const requests = b.apiRequests - a.apiRequests;
  const seconds = b.apiSeconds - a.apiSeconds;
  return {
    requests,
    meanLatencyMs: round3((seconds * 1000) / Math.max(1, requests)),
    meanInFlight: round3(seconds / (ms / 1000)),
    meanQueueWaitMs: round3(
      ((b.queueSeconds - a.queueSeconds) * 1000) / Math.max(1, b.dequeued - a.dequeued),
    ),
  };
}

/** A write phase with the operator doing the work: converged, then settled, then the audit window. */
async function operatorPhase(
  ctx: Context,
  op: OperatorProcess,
  what: string,
  run: () => Promise<{ from: number; t0: number; ms: number; needed: number }>,
): Promise<PhaseResult> {
  const pid = op.child.pid!;
  const cpu = cpuSnapshot(ctx, pid);
  const before = await snapshot(op);
  const r = await run();
  const settled = await waitSettled(op, { timeoutMs: ctx.timeoutMs });
  const end = Date.now();
  const cpu2 = cpuSnapshot(ctx, pid);
  const after = await snapshot(op);
  const settledMs = Math.round(Math.max(r.ms, settled - r.t0));
  const result = phase(r.ms, r.needed, await auditWindow(ctx, r.from, end), cpuDelta(cpu, cpu2), {
    settledMs,
    reconciles: after.reconciles - before.reconciles,
    client: clientFigures(before, after, settledMs),
    heap: heapOf(after),
  });
  log(
    `operator ${what}: ${(r.ms / 1000).toFixed(2)}s (settled ${(settledMs / 1000).toFixed(2)}s), ` +
      `${result.audit.writes} writes, ${result.audit.accessReviews} SubjectAccessReviews, ${result.reconciles} reconciles, ` +
      `${result.client!.meanLatencyMs.toFixed(0)} ms/request, ${result.client!.meanInFlight.toFixed(1)} in flight, ` +
      `${result.client!.meanQueueWaitMs!.toFixed(0)} ms queue wait, CPU ${result.cpu.operator}s`,
  );
  return result;
}

/**
 * Apply-to-Ready on an idle operator: `count` policies spread over all N, one at a time, each edited
 * once (the churn edit: its ClusterRole changes, one binding is replaced); from the admin's request
 * until the watcher sees its status at the new generation with Ready=True and its objects right.
 */
async function applyToReady(
  ctx: Context,
  created: CreatedPolicy[],
  count: number,
): Promise<{ samples: number[]; needed: number }> {
  if (count === 0) return { samples: [], needed: 0 };
  const { k, watcher, admin } = ctx;
  const step = Math.max(1, Math.floor(created.length / count));
  const chosen = created.filter((_, i) => i % step === 0).slice(0, count);
  const samples: number[] = [];
  let needed = 0;
  for (const p of chosen) {
    const spec = policySpec(p.index, k, !p.churned);
    watcher.expectPolicy(p.name, p.generation + 1);
    const t0 = performance.now();
    const updated = await admin.patchMerge<KubeObject>(IMPERSONATION_POLICIES, p.name, { spec });
    const generation = updated.metadata!.generation!;
    watcher.expectPolicy(p.name, generation);
    const outcome = outcomeOf({ name: p.name, uid: p.uid, generation }, spec, new Date());
    const after = new Set(outcome.objects.map(keyOfObject));
    for (const o of p.outcome.objects)
      if (!after.has(keyOfObject(o))) watcher.expectObject(keyOfObject(o), undefined);
    for (const o of outcome.objects) watcher.expectObject(keyOfObject(o), signature(o));
    const before = new Map(p.outcome.objects.map((o) => [keyOfObject(o), signature(o)]));
    needed += 1; // status
    needed += outcome.objects.filter((o) => before.get(keyOfObject(o)) !== signature(o)).length;
    needed += p.outcome.objects.filter((o) => !after.has(keyOfObject(o))).length;
    const at = await watcher.waitConverged(60_000);
    samples.push(Math.round(at - t0));
    p.outcome = outcome;
    p.generation = generation;
    p.churned = !p.churned;
  }
  const sorted = [...samples].sort((a, b) => a - b);
  log(
    `apply-to-Ready over ${samples.length} single-policy edits: p50 ${percentile(sorted, 50)} ms, ` +
      `p99 ${percentile(sorted, 99)} ms, max ${sorted.at(-1)} ms`,
  );
  return { samples, needed };
}

/** Once the operator is ready with its caches synced and nothing reconciled yet: its RSS. */
async function rssBeforeWork(op: OperatorProcess): Promise<{ rssMb: number; anonMb: number }> {
  await op.waitReady(60_000);
  await sleep(1000);
  const m = memory(op.child.pid!);
  const start = { rssMb: Math.round(m?.rssMb ?? NaN), anonMb: Math.round(m?.anonMb ?? NaN) };
  log(`operator RSS before any work: ${start.rssMb} MB (anonymous ${start.anonMb} MB)`);
  return start;
}

async function runOperator(ctx: Context): Promise<RepeatResult['operator']> {
  const op = await launch(ctx);
  let created: CreatedPolicy[] = [];
  const sampler = new RssSampler(op.child.pid!).start();
  let bulk: PhaseResult;
  let churnPhase: PhaseResult | undefined;
  let driftPhase: PhaseResult | undefined;
  let bulkPeak: number;
  let runPeak: number;
  let runPeakAnon: number;
  let start: { rssMb: number; anonMb: number };
  try {
    start = await rssBeforeWork(op);
    bulk = await operatorPhase(ctx, op, 'bulk create', async () => {
      const r = await bulkCreate(ctx, undefined);
      created = r.created;
      return r;
    });
    bulkPeak = Math.round(Math.max(sampler.peakMb, memory(op.child.pid!)?.hwmMb ?? 0));
    log(
      `operator peak RSS after bulk create: ${bulkPeak} MB (heap used ${bulk.heap!.usedMb.toFixed(0)} MB of ${bulk.heap!.totalMb.toFixed(0)} MB: ${JSON.stringify(bulk.heap!.spacesMb)})`,
    );
    await heapSnapshot(ctx, op, 'after-bulk');
    if (ctx.opts.bulkOnly)
      return {
        bulk,
        peakRssMb: bulkPeak,
        bulkPeakRssMb: bulkPeak,
        startRssMb: start.rssMb,
        startAnonMb: start.anonMb,
      };
    if (!ctx.opts.scale) {
      churnPhase = await operatorPhase(ctx, op, 'churn', () => churn(ctx, created, undefined));
      driftPhase = await operatorPhase(ctx, op, 'drift repair', () => drift(ctx, created, undefined));
    }
    runPeak = Math.round(Math.max(sampler.peakMb, memory(op.child.pid!)?.hwmMb ?? 0));
    runPeakAnon = Math.round(sampler.peakAnonMb);
  } finally {
    sampler.stop();
    await op.stop();
  }
  return {
    bulk,
    ...(churnPhase === undefined ? {} : { churn: churnPhase }),
    ...(driftPhase === undefined ? {} : { drift: driftPhase }),
    startRssMb: start.rssMb,
    startAnonMb: start.anonMb,
    peakRssMb: runPeak,
    peakAnonMb: runPeakAnon,
    bulkPeakRssMb: bulkPeak,
    ...(await coldStartAndIdle(ctx, created)),
  };
}

/**
 * --memory: the footprint holding N policies without an operator bulk create. An operator on the
 * empty cluster gives the RSS before any work; an admin writer (system:masters, which the RBAC
 * authorizer does not walk) preloads the operator's objects; then the cold start and idle.
 */
async function runMemory(ctx: Context): Promise<MemoryConfigResult> {
  const empty = await launch(ctx);
  let start: { rssMb: number; anonMb: number };
  try {
    start = await rssBeforeWork(empty);
  } finally {
    await empty.stop();
  }
  const writer = new MinimalWriter(ctx.admin, ctx.opts.baselineConcurrency);
  const preload = await bulkCreate(ctx, writer);
  await writer.flush();
  log(`preload (admin writer): ${(preload.ms / 1000).toFixed(1)}s for ${preload.needed} writes`);
  const cold = await coldStartAndIdle(ctx, preload.created);
  const { cold: coldPhase, idle: idlePhase } = cold;
  if (!coldPhase || !idlePhase) throw new Error('--memory: the cold start left no figures');
  return {
    n: ctx.n,
    k: ctx.k,
    objects: preload.created.length * (preload.created[0]?.outcome.objects.length ?? 0),
    preloadMs: Math.round(preload.ms),
    startRssMb: start.rssMb,
    startAnonMb: start.anonMb,
    cold: coldPhase,
    idle: idlePhase,
    ...(cold.applyToReadyMs === undefined ? {} : { applyToReadyMs: cold.applyToReadyMs }),
    ...(cold.heapSnapshot === undefined ? {} : { heapSnapshot: cold.heapSnapshot }),
  };
}

type ColdFigures = Pick<
  RepeatResult['operator'],
  'cold' | 'idle' | 'applyToReadyMs' | 'applyToReadyWrites' | 'applyToReadyNeeded' | 'applyToReadyEvents'
> & { heapSnapshot?: string };

/**
 * A new operator process with every policy and object in place: until ready and quiet (the cold
 * start), then --latency-samples single-policy edits, then idle; heap snapshot after idle.
 */
async function coldStartAndIdle(ctx: Context, created: CreatedPolicy[]): Promise<ColdFigures> {
  // Cold start: everything in place, a new process; then idle for a few resync periods.
  await sleep(1000);
  const from = Date.now();
  const t0 = performance.now();
  const cpu0 = cpuSnapshot(ctx);
  const cold = await launch(ctx, [`--resync-period=${ctx.opts.resyncSeconds}s`]);
  const pid = cold.child.pid!;
  const coldSampler = new RssSampler(pid, 50).start();
  try {
    await cold.waitReady(Math.max(120_000, ctx.n * 30));
    const readyMs = performance.now() - t0;
    const settled = await waitSettled(cold, { minReconciles: ctx.n, timeoutMs: ctx.timeoutMs });
    const coldEnd = Date.now();
    const coldCpu = { ...cpuDelta(cpu0, cpuSnapshot(ctx, pid)), operator: cpuSeconds(pid) };
    const coldSnap = await snapshot(cold);
    const coldPeak = Math.max(coldSampler.peakMb, memory(pid)?.hwmMb ?? 0);
    const coldAudit = await auditWindow(ctx, from, coldEnd);
    const coldPhase = {
      ...phase(settled - t0, 0, coldAudit, coldCpu, {
        reconciles: coldSnap.reconciles,
        heap: heapOf(coldSnap),
      }),
      readyMs: Math.round(readyMs),
      peakRssMb: Math.round(coldPeak),
      peakAnonMb: Math.round(coldSampler.peakAnonMb),
    };
    log(
      `operator cold start: ready ${(readyMs / 1000).toFixed(2)}s, settled ${((settled - t0) / 1000).toFixed(2)}s, ` +
        `${coldAudit.writes} writes, peak RSS ${coldPeak.toFixed(0)} MB`,
    );

    const latencyFrom = Date.now();
    const { samples: latency, needed: latencyNeeded } = await applyToReady(
      ctx,
      created,
      ctx.opts.latencySamples,
    );
    let latencyAudit: AuditSummary | undefined;
    if (latency.length > 0) {
      // The last edit's echo and its Event (written in the background) belong to it, not to idle.
      await waitSettled(cold, { timeoutMs: ctx.timeoutMs });
      await sleep(1000);
      latencyAudit = await auditWindow(ctx, latencyFrom, Date.now());
      log(
        `single-policy edits: ${latencyAudit.writes} writes (needed ${latencyNeeded}), ` +
          `${latencyAudit.eventWrites} Events, ${latencyAudit.gets + latencyAudit.lists} GET+LIST`,
      );
    }

    const idleFrom = Date.now();
    const idleCpu0 = cpuSnapshot(ctx, pid);
    const idleBefore = await snapshot(cold);
    const idleMs =
      ctx.opts.idleSeconds === undefined
        ? ctx.opts.resyncSeconds * ctx.opts.idleResyncs * 1000 + 500
        : ctx.opts.idleSeconds * 1000;
    await sleep(idleMs);
    const idleEnd = Date.now();
    const idleCpu = cpuDelta(idleCpu0, cpuSnapshot(ctx, pid));
    const idleAfter = await snapshot(cold);
    const steady = memory(pid);
    const idleAudit = await auditWindow(ctx, idleFrom, idleEnd);
    const heapFile = await heapSnapshot(ctx, cold, 'after-idle');
    const idlePhase = {
      ...phase(idleMs, 0, idleAudit, idleCpu, {
        reconciles: idleAfter.reconciles - idleBefore.reconciles,
        heap: heapOf(idleAfter),
      }),
      steadyRssMb: Math.round(steady?.rssMb ?? NaN),
      steadyAnonMb: Math.round(steady?.anonMb ?? NaN),
      steadyFileMb: Math.round(steady?.fileMb ?? NaN),
    };
    log(
      `operator idle ${(idleMs / 1000).toFixed(1)}s: ${idleAudit.writes} writes, ${idleAudit.lists} LIST, ` +
        `${idleAudit.watches} WATCH, ${idlePhase.reconciles} reconciles, steady RSS ${idlePhase.steadyRssMb} MB ` +
        `(anonymous ${idlePhase.steadyAnonMb} MB, file-backed ${idlePhase.steadyFileMb} MB)`,
    );
    return {
      ...(latency.length === 0
        ? {}
        : {
            applyToReadyMs: latency,
            applyToReadyWrites: latencyAudit?.writes ?? NaN,
            applyToReadyNeeded: latencyNeeded,
            applyToReadyEvents: latencyAudit?.eventWrites ?? NaN,
          }),
      cold: coldPhase,
      idle: idlePhase,
      ...(heapFile === undefined ? {} : { heapSnapshot: heapFile }),
    };
  } finally {
    coldSampler.stop();
    await cold.stop();
    // For a look at what the operator printed (e.g. with --node-options=--trace-gc).
    const keep = process.env.IMPOP_BENCH_OPERATOR_OUTPUT;
    if (keep) await writeFile(`${keep}.n${ctx.n}`, cold.output());
  }
}

/** Removes every policy, generated object and Event, and waits until the garbage collector is quiet. */
async function cleanup(ctx: Context): Promise<void> {
  const from = Date.now();
  const t0 = performance.now();
  const { admin } = ctx;
  const selector = 'app.kubernetes.io/managed-by=impersonation-operator';
  const deleteAll = (path: string, query: Record<string, string> = {}) =>
    admin.request<unknown>({
      verb: 'deletecollection',
      resource: path,
      method: 'DELETE',
      path,
      query: new URLSearchParams(query),
    });
  // Dependents first: the garbage collector then has nothing left to delete.
  await Promise.all([
    deleteAll(resourcePath(CLUSTER_ROLE_BINDINGS), { labelSelector: selector }),
    deleteAll(resourcePath(CLUSTER_ROLES), { labelSelector: selector }),
  ]);
  for (const key of ctx.watcher.objectKeys()) {
    const [kind, namespace, name] = key.split('/') as [keyof typeof RESOURCES, string, string];
    if (kind === 'Role' || kind === 'RoleBinding') await admin.remove(RESOURCES[kind], name, { namespace });
  }
  await deleteAll(resourcePath(IMPERSONATION_POLICIES));
  await deleteAll(resourcePath(EVENTS, 'default'));
  ctx.watcher.expect(new Map(), new Map());
  await ctx.watcher.waitConverged(ctx.timeoutMs);
  // The garbage collector works from its own informers: wait until it stops touching our kinds.
  const touched = new Set(['clusterroles', 'clusterrolebindings', 'impersonationpolicies']);
  const deadline = Date.now() + 60_000;
  for (;;) {
    await sleep(500);
    await ctx.audit.catchUp();
    const last = ctx.audit.lastMatch(from, (r) => r.user === KCM_USER && touched.has(r.resource));
    if (last === undefined || Date.now() - last > 1500 || Date.now() > deadline) break;
  }
  log(`cleanup: ${((performance.now() - t0) / 1000).toFixed(1)}s`);
}

async function runConfig(
  n: number,
  k: number,
  opts: Options,
  stamp: string,
): Promise<ConfigResult | MemoryConfigResult> {
  log(`=== N=${n}, k=${k}: starting a control plane`);
  const cp = await ControlPlane.start({
    crds: [join(repoRoot, 'crds')],
    log: (m) => log(`[controlplane] ${m}`),
    // Cleanup deletes tens of thousands of objects per collection: in parallel, not one by one.
    apiServerArgs: ['--delete-collection-workers=8'],
  });
  const info = cp.info!;
  process.env.IMPOP_CLUSTER_INFO = cp.infoPath;
  const kc = new KubeConfig();
  kc.loadFromFile(info.adminKubeconfig);
  // A deletecollection of 40,000 bindings takes minutes on a busy machine.
  const admin = await KubeClient.fromKubeConfig(kc, {
    maxSockets: 64,
    userAgent: 'impop-bench-driver',
    requestTimeoutMs: 900_000,
  });
  const watchClient = await KubeClient.fromKubeConfig(kc, { userAgent: 'impop-bench-watcher' });
  const watcher = new Watcher(watchClient);
  try {
    for (const name of [...VIEW_ROLES, CHURN_ROLE]) {
      await admin.create(CLUSTER_ROLES, {
        metadata: { name },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
      } as KubeObject);
    }
    const rbac = await installOperatorRbac(grantsFor(n, k), {
      release: 'impop-bench',
      namespace: 'impop-bench',
    });
    await watcher.start();
    const ctx: Context = {
      n,
      k,
      opts,
      admin,
      watcher,
      audit: new AuditLog(info.auditLogPath),
      username: rbac.username,
      kubeconfig: await rbac.kubeconfig(),
      pids: { etcd: info.pids[0]!, apiserver: info.pids[1]!, kcm: info.pids[2]! },
      profileDir: join(opts.out, `${stamp}-profiles`, `n${n}-k${k}`),
      timeoutMs: Math.max(120_000, n * 300),
    };
    if (opts.memory) return await runMemory(ctx);
    const repeats: RepeatResult[] = [];
    for (let r = 1; r <= opts.repeats; r++) {
      log(`--- N=${n}, k=${k}: repeat ${r}/${opts.repeats}`);
      const baseline = await runBaseline(ctx);
      await cleanup(ctx);
      const operator = await runOperator(ctx);
      await cleanup(ctx);
      ctx.audit.forgetBefore(Date.now());
      repeats.push({ repeat: r, baseline, operator });
    }
    return summarizeConfig(n, k, repeats);
  } finally {
    await watcher.stop().catch(() => undefined);
    admin.close();
    watchClient.close();
    await cp.stop();
  }
}

/**
 * Each (N, k) runs in a child process of its own: a fresh control plane, and none of the harness's
 * per-process caches (cluster info, identities) or this process's heap carried from one to the next.
 */
function runChild(n: number, k: number, stamp: string, resultFile: string): Promise<void> {
  const args = [
    fileURLToPath(import.meta.url),
    ...process.argv.slice(2),
    `--single=${n},${k}`,
    `--result-file=${resultFile}`,
    `--stamp=${stamp}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`N=${n}, k=${k} failed (exit ${code ?? signal})`)),
    );
  });
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.single) {
    const { n, k, resultFile, stamp } = opts.single;
    const result = await runConfig(n, k, opts, stamp);
    await writeFile(resultFile, JSON.stringify(result));
    return;
  }
  const stamp = new Date()
    .toISOString()
    .replace(/[:.]/g, '-')
    .replace(/-\d{3}Z$/, 'Z');
  const tmp = await mkdtemp(join(tmpdir(), 'impop-bench-'));
  const configs: (ConfigResult | MemoryConfigResult)[] = [];
  const planned = opts.n.length * opts.k.length;
  const machine = {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kubernetes: KUBERNETES_VERSION,
  };
  const { single: _single, ...options } = opts;
  // Written after every (N, k), so a long run (--scale) that is cut short still leaves what it measured.
  const write = async (): Promise<string> => {
    const totalSeconds = Math.round((performance.now() - started) / 1000);
    const result = {
      createdAt: new Date().toISOString(),
      machine,
      options,
      totalSeconds,
      ...(configs.length < planned ? { incomplete: `${configs.length} of ${planned} (N, k) finished` } : {}),
      configs,
    };
    await mkdir(opts.out, { recursive: true });
    const md = opts.memory
      ? renderMemoryMarkdown(result as MemoryBenchResult)
      : renderMarkdown(result as Parameters<typeof renderMarkdown>[0]);
    await writeFile(join(opts.out, `${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(join(opts.out, `${stamp}.md`), md);
    log(`wrote ${join(opts.out, stamp)}.{json,md} (${configs.length}/${planned}) after ${totalSeconds}s`);
    return md;
  };
  try {
    for (const n of opts.n) {
      for (const k of opts.k) {
        const file = join(tmp, `n${n}-k${k}.json`);
        await runChild(n, k, stamp, file);
        configs.push(JSON.parse(await readFile(file, 'utf8')) as ConfigResult | MemoryConfigResult);
        if (configs.length < planned) await write();
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  process.stdout.write(`${await write()}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
