// Runs the kubectl built with the control plane (same version as the server).
import { clusterInfo } from './cluster-info.js';
import { run, type RunResult } from './run.js';

export type KubectlResult = RunResult;

export function kubectl(
  args: string[],
  opts: { kubeconfig?: string; input?: string } = {},
): Promise<KubectlResult> {
  const info = clusterInfo();
  return run(info.kubectl, ['--kubeconfig', opts.kubeconfig ?? info.adminKubeconfig, ...args], {
    ...(opts.input === undefined ? {} : { input: opts.input }),
  });
}

/** Like kubectl() but throws with stderr when the command fails. */
export async function kubectlOk(
  args: string[],
  opts: { kubeconfig?: string; input?: string } = {},
): Promise<string> {
  const r = await kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}
