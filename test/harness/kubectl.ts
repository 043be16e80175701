// Runs the kubectl built with the control plane (same version as the server).
import { spawn } from 'node:child_process';
import { clusterInfo } from './cluster-info.js';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function kubectl(
  args: string[],
  opts: { kubeconfig?: string; input?: string } = {},
): Promise<KubectlResult> {
  const info = clusterInfo();
  return new Promise((resolve, reject) => {
    const child = spawn(info.kubectl, ['--kubeconfig', opts.kubeconfig ?? info.adminKubeconfig, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    // A command that exits without reading its input must not fail the test with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
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
