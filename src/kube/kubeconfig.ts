// A client-node KubeConfig from an explicit kubeconfig, else KUBECONFIG / ~/.kube/config, else the
// in-cluster service account. For tools and tests that want client-node; importing this module loads
// client-node (~90 MB RSS), so the operator itself connects with `KubeClient.connect` (credentials.ts).
import { KubeConfig } from '@kubernetes/client-node';
import { credentialSource, type CredentialSource } from './credentials.js';

export { inClusterNamespace } from './credentials.js';

export type KubeConfigSource = Exclude<CredentialSource, 'client-node'>;

export interface LoadedKubeConfig {
  kubeConfig: KubeConfig;
  source: KubeConfigSource;
}

/** Where a kubeconfig would come from, without loading it; undefined when no cluster is configured. */
export function kubeConfigSource(
  kubeconfig?: string,
  env: Record<string, string | undefined> = process.env,
): KubeConfigSource | undefined {
  return credentialSource(kubeconfig, env) as KubeConfigSource | undefined;
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
