// Runs the built operator (dist/src/main.js) as a separate process, as a real deployment would:
// its own identity (kubeconfig), its own metrics/probe ports, killable and restartable by tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, repoRoot, spawnWatchdog } from './controlplane.js';

export interface OperatorProcess {
  readonly child: ChildProcess;
  readonly metricsPort: number;
  readonly probePort: number;
  /** Everything the process printed (JSON log lines). */
  readonly output: () => string;
  waitReady(timeoutMs?: number): Promise<void>;
  metrics(): Promise<string>;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no chance to clean up (the fault-injection case). */
  kill(): Promise<void>;
}

export interface OperatorOptions {
  kubeconfig: string;
  args?: string[];
  env?: Record<string, string>;
}

export async function startOperator(opts: OperatorOptions): Promise<OperatorProcess> {
  const [metricsPort, probePort] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [
      join(repoRoot, 'dist', 'src', 'main.js'),
      `--kubeconfig=${opts.kubeconfig}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      '--log-level=debug',
      // Only a chart install stamps policies' authors (its MutatingAdmissionPolicy); tests that run the
      // operator without it turn the author check off unless they say otherwise.
      ...((opts.args ?? []).some((a) => /^--(no-)?author-check(=|$)/.test(a)) ? [] : ['--no-author-check']),
      ...(opts.args ?? []),
    ],
    // Its own process group, watched: a test process killed outright must not leave an operator behind.
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env }, detached: true },
  );
  const watchdog = child.pid ? spawnWatchdog([child.pid]) : undefined;
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      watchdog?.kill('SIGKILL');
      resolve(code);
    }),
  );
  // Never leave an operator behind when the test process ends.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);

  const get = async (port: number, path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: await res.text() };
  };

  return {
    child,
    metricsPort,
    probePort,
    output: () => out,
    async waitReady(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (child.exitCode !== null)
          throw new Error(`operator exited (${child.exitCode}):\n${out.slice(-3000)}`);
        const r = await get(probePort, '/readyz').catch(() => undefined);
        if (r?.status === 200) return;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`operator not ready after ${timeoutMs}ms:\n${out.slice(-3000)}`);
    },
    async metrics() {
      return (await get(metricsPort, '/metrics')).body;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      process.removeListener('exit', reap);
      return code;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      process.removeListener('exit', reap);
    },
  };
}
