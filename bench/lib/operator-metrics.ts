// Reads the operator's Prometheus text: the few counters and gauges the benchmark needs.
import type { OperatorProcess } from '../../test/harness/operator.js';

/** Sum of every sample of `name` (all label sets). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

const P = 'impersonation_operator_';
export const RECONCILES = `${P}reconcile_total`;
const DEPTH = `${P}workqueue_depth`;

/** Cumulative figures at one moment; differences between two give a phase's figures. */
export interface OperatorSnapshot {
  reconciles: number;
  /** API requests (all verbs, watches excluded once they end) and their summed latency in seconds. */
  apiRequests: number;
  apiSeconds: number;
  /** Keys taken from the queue and their summed wait in seconds. */
  dequeued: number;
  queueSeconds: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  /** V8 heap space -> size (MB), e.g. new_space, old_space, large_object_space. */
  spacesMb: Record<string, number>;
}

function spaces(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^nodejs_heap_space_size_total_bytes\{space="([^"]+)"\} (\S+)$/gm))
    out[m[1]!] = Math.round((Number(m[2]) / 2 ** 20) * 10) / 10;
  return out;
}

export async function snapshot(op: OperatorProcess): Promise<OperatorSnapshot> {
  const text = await op.metrics();
  const mb = (name: string) => metricSum(text, name) / 2 ** 20;
  return {
    reconciles: metricSum(text, RECONCILES),
    apiRequests: metricSum(text, `${P}api_request_duration_seconds_count`),
    apiSeconds: metricSum(text, `${P}api_request_duration_seconds_sum`),
    dequeued: metricSum(text, `${P}workqueue_queue_duration_seconds_count`),
    queueSeconds: metricSum(text, `${P}workqueue_queue_duration_seconds_sum`),
    heapUsedMb: mb('nodejs_heap_size_used_bytes'),
    heapTotalMb: mb('nodejs_heap_size_total_bytes'),
    externalMb: mb('nodejs_external_memory_bytes'),
    spacesMb: spaces(text),
  };
}

export async function reconcileCount(op: OperatorProcess): Promise<number> {
  return metricSum(await op.metrics(), RECONCILES);
}

/**
 * Waits until the operator has nothing left to do: at least `minReconciles` reconciles, an empty queue,
 * and no reconcile finishing for `quietMs`. Resolves with `performance.now()` of the last change seen.
 */
export async function waitSettled(
  op: OperatorProcess,
  opts: { minReconciles?: number; quietMs?: number; timeoutMs?: number } = {},
): Promise<number> {
  const quiet = opts.quietMs ?? 1000;
  const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
  let last = -1;
  let lastChange = performance.now();
  for (;;) {
    const text = await op.metrics();
    const total = metricSum(text, RECONCILES);
    const depth = metricSum(text, DEPTH);
    if (total !== last) {
      last = total;
      lastChange = performance.now();
    }
    if (total >= (opts.minReconciles ?? 0) && depth === 0 && performance.now() - lastChange >= quiet)
      return lastChange;
    if (Date.now() > deadline)
      throw new Error(`operator did not settle: ${total} reconciles, queue depth ${depth}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
