// --memory: the operator's footprint holding N policies, measured without the bulk create (which at
// N=10,000 takes half an hour): an admin writer preloads exactly the operator's objects, then a new
// operator process cold-starts on them and idles. Results, slope and the Markdown report.
import type { PhaseResult } from './report.js';
import { percentile } from './report.js';

export interface MemoryConfigResult {
  n: number;
  k: number;
  objects: number;
  /** The admin writer's preload (not a baseline: system:masters skips the RBAC authorizer). */
  preloadMs: number;
  /** An operator process once ready with empty caches, before any policy existed. */
  startRssMb: number;
  startAnonMb: number;
  cold: PhaseResult & { readyMs: number; peakRssMb: number; peakAnonMb?: number };
  idle: PhaseResult & { steadyRssMb: number; steadyAnonMb?: number; steadyFileMb?: number };
  applyToReadyMs?: number[];
  /** Heap snapshot written after idle (--heap-snapshot), relative to the results directory. */
  heapSnapshot?: string;
}

export interface MemoryBenchResult {
  createdAt: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string; kubernetes: string };
  options: Record<string, unknown>;
  totalSeconds: number;
  incomplete?: string;
  configs: MemoryConfigResult[];
}

const f0 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(0));
const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(1));

/** KB per policy between two configs (by steady or peak RSS). */
export function slopeKb(
  a: MemoryConfigResult,
  b: MemoryConfigResult,
  pick: (c: MemoryConfigResult) => number,
): number {
  return ((pick(b) - pick(a)) * 1024) / (b.n - a.n);
}

export function renderMemoryMarkdown(r: MemoryBenchResult): string {
  const { machine: m } = r;
  const out: string[] = [];
  out.push(`# Operator memory benchmark (--memory) — ${r.createdAt}`, '');
  if (r.incomplete) out.push(`**Incomplete run: ${r.incomplete}.**`, '');
  out.push(
    `Machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGb} GB, shared with other work. Node ${m.node}, ` +
      `Kubernetes ${m.kubernetes}. Total run: ${r.totalSeconds} s.`,
    '',
    'Per N: a fresh control plane; an operator process started on the empty cluster (RSS before any work); ' +
      "an admin writer creates the N policies and exactly the operator's objects and status; a new operator " +
      'process (no leader election, the chart RBAC) cold-starts on them, reconciles every policy, then idles. ' +
      'Peak RSS: VmHWM and 50 ms samples of the cold-started process. Steady: after the idle window.',
    '',
    '| N | k | objects | preload s | before any work MB (anon) | cold start: ready s / settled s | cold-start writes | peak RSS MB (anon) | steady RSS MB: anon + file | V8 heap used MB: cold / idle | idle CPU s/min | apply-to-Ready p50 / p99 ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const c of r.configs) {
    const lat = [...(c.applyToReadyMs ?? [])].sort((a, b) => a - b);
    out.push(
      `| ${c.n} | ${c.k} | ${c.objects} | ${f1(c.preloadMs / 1000)} | ${c.startRssMb} (${c.startAnonMb}) | ` +
        `${f1(c.cold.readyMs / 1000)} / ${f1(c.cold.ms / 1000)} | ${c.cold.audit.writes} | ` +
        `${c.cold.peakRssMb} (${f0(c.cold.peakAnonMb)}) | ${c.idle.steadyRssMb}: ${f0(c.idle.steadyAnonMb)} + ${f0(c.idle.steadyFileMb)} | ` +
        `${f1(c.cold.heap?.usedMb)} / ${f1(c.idle.heap?.usedMb)} | ${((c.idle.cpu.operator * 60_000) / c.idle.ms).toFixed(3)} | ` +
        `${lat.length ? `${percentile(lat, 50)} / ${percentile(lat, 99)}` : '–'} |`,
    );
  }
  const sorted = [...r.configs].sort((a, b) => a.n - b.n);
  if (sorted.length >= 2) {
    out.push('');
    for (let i = 1; i < sorted.length; i++) {
      const a = sorted[i - 1]!;
      const b = sorted[i]!;
      out.push(
        `Memory per policy (N ${a.n} -> ${b.n}): ${f1(slopeKb(a, b, (c) => c.idle.steadyRssMb))} KB steady, ` +
          `${f1(slopeKb(a, b, (c) => c.cold.peakRssMb))} KB peak, ` +
          `${f1(slopeKb(a, b, (c) => c.idle.heap?.usedMb ?? NaN))} KB of V8 heap used.`,
      );
    }
  }
  const snaps = r.configs.filter((c) => c.heapSnapshot);
  if (snaps.length) {
    out.push(
      '',
      'Heap snapshots (after idle; `node dist/bench/heap-summary.js FILE` summarizes one by type):',
    );
    for (const c of snaps) out.push(`- N=${c.n}: \`${c.heapSnapshot}\``);
  }
  out.push('');
  return out.join('\n');
}
