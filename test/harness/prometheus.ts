// Prometheus and promtool for the monitoring tests: built once from the github.com/prometheus/prometheus
// module pinned in test/harness/prom-build (cached like helm), and a real Prometheus server on a free
// loopback port with its own data directory, scraping whatever targets a test gives it.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, repoRoot, spawnWatchdog } from './controlplane.js';
import { ensureGoBinaries } from './go-build.js';
import { HarnessError, run, type RunResult } from './run.js';

/** The Prometheus release that module version v0.316.0 is (its VERSION file). */
export const PROMETHEUS_VERSION = '3.16.0';

export interface PromTools {
  dir: string;
  prometheus: string;
  promtool: string;
}

let toolsPromise: Promise<PromTools> | undefined;

/**
 * Builds (first run only; about 11 minutes on 2 busy cores) or finds the cached binaries. Without
 * service discovery plugins other than static/file (`remove_all_sd`) and without the web UI's
 * assets (no `builtinassets` tag, so no npm build of the UI): the HTTP API is all the tests use.
 */
export function ensurePromTools(log?: (msg: string) => void): Promise<PromTools> {
  toolsPromise ??= (async () => {
    const version = `-X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION}`;
    const dir = await ensureGoBinaries(
      {
        name: `prometheus-${PROMETHEUS_VERSION}`,
        moduleDir: join(repoRoot, 'test', 'harness', 'prom-build'),
        commands: [
          {
            pkg: 'github.com/prometheus/prometheus/cmd/promtool',
            out: 'promtool',
            tags: 'remove_all_sd',
            ldflags: version,
          },
          {
            pkg: 'github.com/prometheus/prometheus/cmd/prometheus',
            out: 'prometheus',
            tags: 'remove_all_sd',
            ldflags: version,
          },
        ],
      },
      log,
    );
    return { dir, prometheus: join(dir, 'prometheus'), promtool: join(dir, 'promtool') };
  })();
  toolsPromise.catch(() => (toolsPromise = undefined));
  return toolsPromise;
}

export async function promtool(args: string[], opts: { input?: string } = {}): Promise<RunResult> {
  return run((await ensurePromTools()).promtool, args, opts);
}

/** One sample of an instant vector from /api/v1/query. */
export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface QueryResponse {
  status: 'success' | 'error';
  data?: { resultType: string; result: unknown };
  errorType?: string;
  error?: string;
  warnings?: string[];
}

export interface PrometheusServer {
  readonly url: string;
  readonly dataDir: string;
  /** Everything the server printed. */
  output(): string;
  /** GET /api/v1/<path> with query parameters; the parsed JSON whatever the HTTP status. */
  api<T = QueryResponse>(path: string, params?: Record<string, string>): Promise<T>;
  /** An instant query; throws unless Prometheus answers `success`. */
  vector(expr: string): Promise<VectorSample[]>;
  /** Names of every series Prometheus holds (scraped ones and its own `up`, `scrape_*`). */
  metricNames(): Promise<string[]>;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  job: string;
  /** host:port of each target, scraped at /metrics. */
  targets: string[];
  scrapeIntervalSeconds?: number;
  /** Rule files evaluated every scrape interval. */
  ruleFiles?: string[];
}

/** Starts Prometheus on a free loopback port with a fresh data directory; resolves once it is ready. */
export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  const tools = await ensurePromTools();
  const dataDir = await mkdtemp(join(tmpdir(), 'impop-prometheus-'));
  const interval = `${opts.scrapeIntervalSeconds ?? 1}s`;
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: [{ job_name: opts.job, static_configs: [{ targets: opts.targets }] }],
  };
  const configFile = join(dataDir, 'prometheus.yml');
  // JSON is YAML.
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const port = await freePort();
  const child = spawn(
    tools.prometheus,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dataDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: dataDir },
  );
  const watchdog = child.pid ? spawnWatchdog([child.pid], dataDir) : undefined;
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const url = `http://127.0.0.1:${port}`;

  const api = async <T>(path: string, params: Record<string, string> = {}): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params)}`, {
      signal: AbortSignal.timeout(10_000),
    });
    return (await res.json()) as T;
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new HarnessError(
        `prometheus exited (${child.exitCode}) before it was ready:\n${out.slice(-3000)}`,
      );
    }
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    if (ready?.status === 200) break;
    if (Date.now() > deadline) throw new HarnessError(`prometheus not ready after 60s:\n${out.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }

  return {
    url,
    dataDir,
    output: () => out,
    api,
    async vector(expr) {
      const r = await api<QueryResponse>('query', { query: expr });
      if (r.status !== 'success' || r.data?.resultType !== 'vector') {
        throw new Error(`query ${expr} failed: ${r.errorType ?? ''} ${r.error ?? JSON.stringify(r.data)}`);
      }
      return r.data.result as VectorSample[];
    },
    async metricNames() {
      const r = await api<{ status: string; data: string[] }>('label/__name__/values');
      if (r.status !== 'success') throw new Error(`label values failed: ${JSON.stringify(r)}`);
      return r.data;
    },
    async stop() {
      process.removeListener('exit', reap);
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      watchdog?.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
