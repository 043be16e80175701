// Offline cluster facts for check, render and audit: `kubectl get clusterroles,clusterrolebindings
// -o yaml` saved to a file lets the CLI judge bound ClusterRoles by their rules (PowerfulClusterRole,
// UnknownClusterRole) and targets by the bindings that already make them powerful (PowerfulTarget)
// exactly as the operator does. Without it those judgements are left to the operator.
import { readFile } from 'node:fs/promises';
import { loadAll } from 'js-yaml';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../api/index.js';
import { PowerIndex } from '../controller/power-index.js';
import type { ClusterFacts, RuleLike } from '../core/index.js';
import { Store } from '../kube/store.js';
import type { KubeObject } from '../kube/types.js';
import { UsageError } from './args.js';

interface MaybeClusterRole {
  kind?: unknown;
  metadata?: { name?: unknown; labels?: Record<string, string> };
  rules?: unknown;
  items?: unknown;
}

function collect(doc: unknown, roles: Store<KubeObject>, bindings: Store<KubeObject>): void {
  if (doc === null || typeof doc !== 'object') return;
  const obj = doc as MaybeClusterRole;
  if (Array.isArray(obj.items)) for (const item of obj.items) collect(item, roles, bindings);
  if (typeof obj.metadata?.name !== 'string') return;
  if (obj.kind === 'ClusterRole') {
    roles.upsert({
      metadata: { name: obj.metadata.name },
      rules: Array.isArray(obj.rules) ? obj.rules : [],
    } as KubeObject);
  }
  // As the operator: only bindings it did not generate say who already holds what.
  if (obj.kind === 'ClusterRoleBinding' && obj.metadata.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) {
    bindings.upsert(obj as KubeObject);
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
  const roles = new Store<KubeObject>();
  const bindings = new Store<KubeObject>();
  try {
    for (const doc of loadAll(text)) collect(doc, roles, bindings);
  } catch (err) {
    throw new UsageError(
      `--cluster-roles: ${path} is not YAML: ${(err as Error).message.split('\n')[0]}`,
      command,
    );
  }
  if (roles.size === 0) {
    throw new UsageError(
      `--cluster-roles: ${path} holds no ClusterRole (save them with: kubectl get clusterroles,clusterrolebindings -o yaml > ${path})`,
      command,
    );
  }
  const powers = new PowerIndex(bindings, roles);
  return {
    clusterRole: (name) => (roles.get(name) as { rules?: RuleLike[] } | undefined)?.rules ?? null,
    // Without any ClusterRoleBinding in the file, targets are not judged (as before).
    ...(bindings.size > 0 ? { targetPowers: (target) => powers.powersOf(target) } : {}),
  };
}
