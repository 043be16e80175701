// Finding the cluster: an explicit kubeconfig, else KUBECONFIG / ~/.kube/config, else the in-cluster
// service account; and telling the caller when there is none (so `npm start` can offer a local one).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type KubeConfigSource = 'file' | 'KUBECONFIG' | 'home' | 'in-cluster';

export interface LoadedKubeConfig {
  kubeConfig: KubeConfig;
  source: KubeConfigSource;
}

/** Where a kubeconfig would come from, without loading it; undefined when no cluster is configured. */
export function kubeConfigSource(
  kubeconfig?: string,
  env: Record<string, string | undefined> = process.env,
): KubeConfigSource | undefined {
  if (kubeconfig) return 'file';
  if (env.KUBECONFIG) return 'KUBECONFIG';
  if (existsSync(join(env.HOME ?? homedir(), '.kube', 'config'))) return 'home';
  if (env.KUBERNETES_SERVICE_HOST && existsSync(join(SA_DIR, 'token'))) return 'in-cluster';
  return undefined;
}

/**
 * Loads the kubeconfig and selects `context`. Throws when no cluster is configured (instead of client-node's
 * silent fallback to http://localhost:8080) or the context does not exist.
 */
export function loadKubeConfig(
  opts: { kubeconfig?: string | undefined; context?: string | undefined } = {},
): LoadedKubeConfig {
  const source = kubeConfigSource(opts.kubeconfig);
  if (!source) {
    throw new Error('no Kubernetes cluster configured: set --kubeconfig or KUBECONFIG, or run in a cluster');
  }
  const kc = new KubeConfig();
  if (source === 'file') kc.loadFromFile(opts.kubeconfig!);
  else if (source === 'in-cluster') kc.loadFromCluster();
  else kc.loadFromDefault();
  if (opts.context) {
    if (!kc.getContextObject(opts.context))
      throw new Error(`kubeconfig has no context named ${opts.context}`);
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster())
    throw new Error('the kubeconfig has no current cluster (check current-context)');
  return { kubeConfig: kc, source };
}

/** The namespace the operator's pod runs in, if it runs in a cluster. */
export function inClusterNamespace(): string | undefined {
  try {
    return readFileSync(join(SA_DIR, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
