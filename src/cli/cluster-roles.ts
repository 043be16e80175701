// Offline ClusterRole facts for check and render: `kubectl get clusterroles -o yaml` saved to a
// file lets the CLI judge bound ClusterRoles by their rules exactly as the operator does
// (PowerfulClusterRole, UnknownClusterRole). Without it those judgements are left to the operator.
import { readFile } from 'node:fs/promises';
import { loadAll } from 'js-yaml';
import type { ClusterFacts, RuleLike } from '../core/index.js';
import { UsageError } from './args.js';

interface MaybeClusterRole {
  kind?: unknown;
  metadata?: { name?: unknown };
  rules?: unknown;
  items?: unknown;
}

function collect(doc: unknown, into: Map<string, readonly RuleLike[]>): void {
  if (doc === null || typeof doc !== 'object') return;
  const obj = doc as MaybeClusterRole;
  if (Array.isArray(obj.items)) for (const item of obj.items) collect(item, into);
  if (obj.kind === 'ClusterRole' && typeof obj.metadata?.name === 'string') {
    into.set(obj.metadata.name, Array.isArray(obj.rules) ? (obj.rules as RuleLike[]) : []);
  }
}

/** Reads ClusterRoles (documents or a List) from `path`; every ClusterRole not in it is unknown. */
export async function loadClusterRoleFacts(path: string, command: string): Promise<ClusterFacts> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--cluster-roles: cannot read ${path}: ${(err as Error).message}`, command);
  }
  const roles = new Map<string, readonly RuleLike[]>();
  try {
    for (const doc of loadAll(text)) collect(doc, roles);
  } catch (err) {
    throw new UsageError(
      `--cluster-roles: ${path} is not YAML: ${(err as Error).message.split('\n')[0]}`,
      command,
    );
  }
  if (roles.size === 0) {
    throw new UsageError(
      `--cluster-roles: ${path} holds no ClusterRole (save one with: kubectl get clusterroles -o yaml > ${path})`,
      command,
    );
  }
  return { clusterRole: (name) => roles.get(name) ?? null };
}
