// Runs a command to completion and collects its output (the harness's one way of doing so).
import { spawn } from 'node:child_process';
import { repoRoot } from './paths.js';

/** A harness failure whose message says what is wrong and how to fix it. */
export class HarnessError extends Error {
  override name = 'HarnessError';
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? repoRoot,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    // A command that exits without reading its input is judged by its exit code, not by EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Like run(), but fails with the command, its exit code and the tail of its output. */
export async function runOk(
  cmd: string,
  args: string[],
  opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const output = `${r.stdout}${r.stderr}`.slice(-4000);
    throw new HarnessError(
      `${cmd} ${args.join(' ')} failed (exit ${r.code}) in ${opts.cwd ?? repoRoot}:\n${output}`,
    );
  }
  return r.stdout;
}
