// The operator's own HTTP endpoints: /metrics (Prometheus), /healthz (alive) and /readyz (caches synced
// and, while leading, able to write). `Health` holds the states the controller sets.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BindAddress } from './config.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** A named check: returns undefined when fine, or why it is not. */
export type Check = () => string | undefined;

export interface CheckResult {
  name: string;
  ok: boolean;
  reason?: string;
}

export interface HealthReport {
  ok: boolean;
  checks: CheckResult[];
}

export class Health {
  private cachesSynced = false;
  private leading = false;
  private writable: { ok: boolean; reason?: string } = { ok: true };
  private shuttingDown = false;
  private readonly readiness = new Map<string, Check>();
  private readonly liveness = new Map<string, Check>();

  setCachesSynced(synced: boolean): void {
    this.cachesSynced = synced;
  }

  /** Whether this replica is the one that writes (true when leader election is off). */
  setLeading(leading: boolean): void {
    this.leading = leading;
  }

  /** Whether writes to the API server succeed; only matters while leading. */
  setWritable(ok: boolean, reason?: string): void {
    this.writable = ok ? { ok } : { ok, reason: reason ?? 'writes are failing' };
  }

  /** Readiness turns false for good, so traffic and scrapes drain before the process exits. */
  setShuttingDown(): void {
    this.shuttingDown = true;
  }

  addReadinessCheck(name: string, check: Check): void {
    this.readiness.set(name, check);
  }

  addLivenessCheck(name: string, check: Check): void {
    this.liveness.set(name, check);
  }

  ready(): HealthReport {
    const builtIn: [string, Check][] = [
      ['shutdown', () => (this.shuttingDown ? 'shutting down' : undefined)],
      ['informer-sync', () => (this.cachesSynced ? undefined : 'caches have not synced')],
      ['writes', () => (this.leading && !this.writable.ok ? this.writable.reason : undefined)],
    ];
    return run([...builtIn, ...this.readiness]);
  }

  alive(): HealthReport {
    return run([...this.liveness]);
  }
}

function run(checks: [string, Check][]): HealthReport {
  const results = checks.map(([name, check]): CheckResult => {
    let reason: string | undefined;
    try {
      reason = check();
    } catch (err) {
      reason = `check failed: ${(err as Error).message}`;
    }
    return reason === undefined ? { name, ok: true } : { name, ok: false, reason };
  });
  return { ok: results.every((r) => r.ok), checks: results };
}

/** The API server's style: `ok`, or one line per check with ?verbose or on failure. */
function renderReport(report: HealthReport, verbose: boolean): string {
  if (report.ok && !verbose) return 'ok\n';
  const lines = report.checks.map((c) => (c.ok ? `[+]${c.name} ok` : `[-]${c.name} failed: ${c.reason}`));
  lines.push(report.ok ? 'check passed' : 'check failed');
  return `${lines.join('\n')}\n`;
}

export interface HttpServerOptions {
  address: BindAddress;
  /** Serve /metrics from this registry. */
  metrics?: Metrics | undefined;
  /** Serve /healthz, /livez and /readyz from this state. */
  health?: Health | undefined;
  log?: Logger | undefined;
}

export interface HttpServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Starts a server with the endpoints whose sources are given; resolves once it listens. */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const { metrics, health, log } = opts;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    const verbose = url.searchParams.has('verbose');
    if (url.pathname === '/metrics' && metrics) {
      const { contentType, body } = await metrics.exposition();
      return send(200, body, contentType);
    }
    if ((url.pathname === '/healthz' || url.pathname === '/livez') && health) {
      const report = health.alive();
      return send(report.ok ? 200 : 503, renderReport(report, verbose));
    }
    if (url.pathname === '/readyz' && health) {
      const report = health.ready();
      return send(report.ok ? 200 : 503, renderReport(report, verbose));
    }
    send(404, 'not found\n');
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log?.error({ err, path: req.url }, 'HTTP handler failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // '' means every interface; let node pick IPv6 dual-stack where available.
    server.listen(opts.address.port, opts.address.host || undefined, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  log?.info(
    { address: address.address, port: address.port, metrics: !!metrics, probes: !!health },
    'Started HTTP server',
  );
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
