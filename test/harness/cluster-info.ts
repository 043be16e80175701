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
