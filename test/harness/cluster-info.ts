// The running control plane's coordinates, shared with jest workers through IMPOP_CLUSTER_INFO.
import { readFileSync } from 'node:fs';
import type { ClusterInfo } from './controlplane.js';

export type { ClusterInfo } from './controlplane.js';

let cached: ClusterInfo | undefined;

export function clusterInfo(): ClusterInfo {
  if (cached) return cached;
  const path = process.env.IMPOP_CLUSTER_INFO;
  if (!path) {
    throw new Error(
      'IMPOP_CLUSTER_INFO is not set: integration tests need the local control plane. ' +
        'Run them with `npm run test:integration` (its global setup starts the control plane).',
    );
  }
  cached = JSON.parse(readFileSync(path, 'utf8')) as ClusterInfo;
  return cached;
}

/** Restarts kube-apiserver (same port and flags) through the global setup's control endpoint. */
export async function restartApiserver(downtimeMs = 1000): Promise<void> {
  const base = process.env.IMPOP_HARNESS_CONTROL;
  if (!base) throw new Error('IMPOP_HARNESS_CONTROL is not set: run through `npm run test:integration`');
  const res = await fetch(`${base}/restart-apiserver?downtimeMs=${downtimeMs}`, { method: 'POST' });
  if (!res.ok) throw new Error(`restarting kube-apiserver failed: ${await res.text()}`);
}
