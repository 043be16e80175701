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

export const RECONCILES = 'impersonation_operator_reconcile_total';
const DEPTH = 'impersonation_operator_workqueue_depth';

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
