// The HTTP transport under KubeClient: JSON over node:https on one keep-alive pool (watches on their
// own), credentials added per request, and the retries that are always safe (429 after Retry-After,
// one 401 after a token refresh, a request that hit a just-closed keep-alive socket). Every request
// reports verb/resource/code/duration to an observer (Prometheus), so the API-server cost is measurable.
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AuthHeaders, ClusterCredentials } from './credentials.js';
import { KubeApiError, KubeConnectionError, type ApiStatus } from './errors.js';

/** One finished API request, for metrics. `code` is 0 when no HTTP response arrived. */
export interface RequestEvent {
  verb: string;
  resource: string;
  code: number;
  durationMs: number;
}
export type RequestObserver = (event: RequestEvent) => void;

export interface TransportOptions {
  /** Concurrent connections for ordinary requests (watches use their own pool). Default 32. */
  maxSockets?: number;
  /** Whole-request timeout for non-watch requests. Default 30s. */
  requestTimeoutMs?: number;
  /** How often a 429 Too Many Requests is retried after its Retry-After before it is thrown. Default 3. */
  maxRetries?: number;
  /** Longest Retry-After we honor inside the client; longer waits are left to the caller. Default 10s. */
  maxRetryWaitMs?: number;
  userAgent?: string;
  onRequest?: RequestObserver;
}

export interface RawRequest {
  verb: string;
  resource: string;
  method: string;
  path: string;
  query?: URLSearchParams | undefined;
  body?: string | undefined;
  contentType?: string | undefined;
  signal?: AbortSignal | undefined;
  watch?: boolean;
  watchIdleMs?: number;
  /** Extra request headers (the constrained-impersonation probe's Impersonate-* headers). */
  headers?: Record<string, string> | undefined;
}

/** The server closed an idle keep-alive connection as we reused it; the request never reached it. */
class StaleSocketError extends KubeConnectionError {}

export class Transport {
  private readonly agent: http.Agent;
  private readonly watchAgent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly host: string;
  private readonly port: number;
  private readonly basePath: string;
  private readonly requestTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly maxRetryWaitMs: number;
  private readonly userAgent: string;
  private readonly onRequest: RequestObserver | undefined;

  /** No I/O: connections open on the first request. */
  constructor(
    private readonly credentials: ClusterCredentials,
    opts: TransportOptions = {},
  ) {
    const tls = credentials.tls;
    const url = new URL(credentials.server);
    const secure = url.protocol === 'https:';
    this.transport = secure ? https : http;
    this.host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = url.port ? Number(url.port) : secure ? 443 : 80;
    this.basePath = url.pathname.replace(/\/+$/, '');
    const maxSockets = opts.maxSockets ?? 32;
    const base: http.AgentOptions = { keepAlive: true, keepAliveMsecs: 30_000, scheduling: 'lifo' };
    // Idle pooled sockets are closed before the API server's own idle timeout (90s) can race a reuse.
    const pooled: http.AgentOptions = { ...base, maxSockets, maxFreeSockets: maxSockets, timeout: 60_000 };
    this.agent = secure ? new https.Agent({ ...pooled, ...tls }) : new http.Agent(pooled);
    this.watchAgent = secure ? new https.Agent({ ...base, ...tls }) : new http.Agent(base);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.maxRetries = opts.maxRetries ?? 3;
    this.maxRetryWaitMs = opts.maxRetryWaitMs ?? 10_000;
    this.userAgent = opts.userAgent ?? 'impersonation-operator';
    this.onRequest = opts.onRequest;
  }

  /** Closes idle keep-alive connections; in-flight requests finish or fail. */
  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  /** Sends a request and parses its JSON answer (`undefined` for an empty body). */
  async json<T>(req: RawRequest): Promise<T> {
    const res = await this.send(req);
    let body: string;
    try {
      body = await readBody(res);
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason as Error;
      throw new KubeConnectionError(req.verb, req.path, err);
    }
    return (body === '' ? undefined : JSON.parse(body)) as T;
  }

  /**
   * Sends a request and hands its body to `write` chunk by chunk as it arrives (a LIST parsed item
   * by item: list-stream.ts). An error thrown by `write` ends the response and is rethrown as is.
   */
  async consume(req: RawRequest, write: (chunk: Buffer) => void): Promise<void> {
    const res = await this.send(req);
    let writeFailed: { err: unknown } | undefined;
    try {
      for await (const chunk of res) {
        try {
          write(chunk as Buffer);
        } catch (err) {
          writeFailed = { err };
          break; // ends (destroys) the response
        }
      }
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason as Error;
      throw new KubeConnectionError(req.verb, req.path, err);
    }
    if (writeFailed) throw writeFailed.err;
  }

  /** Sends a request and returns the 2xx response; retries 429 (and one 401 after a token refresh). */
  async send(req: RawRequest): Promise<IncomingMessage> {
    let refreshedAuth = false;
    let retriedStaleSocket = false;
    for (let attempt = 0; ; attempt++) {
      let res: IncomingMessage;
      try {
        res = await this.once(req, await this.credentials.headers());
      } catch (err) {
        // The request never reached the server, so sending it once more on a fresh connection is safe
        // (node's documented remedy).
        if (err instanceof StaleSocketError && !retriedStaleSocket) {
          retriedStaleSocket = true;
          continue;
        }
        throw err;
      }
      const code = res.statusCode ?? 0;
      if (code >= 200 && code < 300) return res;
      const body = await readBody(res).catch(() => '');
      const err = new KubeApiError({
        code,
        verb: req.verb,
        path: req.path,
        status: parseStatus(body),
        retryAfterMs: retryAfterHeader(res),
        body,
      });
      if (code === 401 && !refreshedAuth && (await this.credentials.invalidate())) {
        refreshedAuth = true;
        continue;
      }
      // A 429 was rejected before it did anything, so retrying is safe for every verb.
      if (code === 429 && attempt < this.maxRetries) {
        const wait = err.retryAfterMs ?? 1000;
        if (wait <= this.maxRetryWaitMs) {
          await sleep(wait, req.signal);
          continue;
        }
      }
      throw err;
    }
  }

  private once(req: RawRequest, auth: AuthHeaders): Promise<IncomingMessage> {
    const started = performance.now();
    const qs = req.query?.toString();
    const fullPath = `${this.basePath}${req.path}${qs ? `?${qs}` : ''}`;
    const headers: Record<string, string | string[] | number> = {
      ...req.headers,
      ...auth,
      Accept: 'application/json',
      'User-Agent': this.userAgent,
    };
    if (req.body !== undefined) {
      headers['Content-Type'] = req.contentType ?? 'application/json';
      headers['Content-Length'] = Buffer.byteLength(req.body);
    }
    const signal = req.watch
      ? req.signal
      : req.signal
        ? AbortSignal.any([req.signal, AbortSignal.timeout(this.requestTimeoutMs)])
        : AbortSignal.timeout(this.requestTimeoutMs);
    return new Promise<IncomingMessage>((resolve, reject) => {
      let observed = false;
      const observe = (code: number): void => {
        if (observed) return;
        observed = true;
        this.onRequest?.({
          verb: req.verb,
          resource: req.resource,
          code,
          durationMs: performance.now() - started,
        });
      };
      const r = this.transport.request(
        {
          host: this.host,
          port: this.port,
          method: req.method,
          path: fullPath,
          headers,
          agent: req.watch ? this.watchAgent : this.agent,
          signal,
        },
        (res) => {
          observe(res.statusCode ?? 0);
          resolve(res);
        },
      );
      if (req.watchIdleMs !== undefined) {
        r.setTimeout(req.watchIdleMs, () => r.destroy(new Error(`watch idle for ${req.watchIdleMs}ms`)));
      }
      r.on('error', (err: NodeJS.ErrnoException) => {
        observe(0);
        if (req.signal?.aborted) reject(req.signal.reason as Error);
        else if (r.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          reject(new StaleSocketError(req.verb, req.path, err));
        } else if (isAbort(err))
          reject(new KubeConnectionError(req.verb, req.path, new Error('request timed out')));
        else reject(new KubeConnectionError(req.verb, req.path, err));
      });
      r.end(req.body);
    });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseStatus(body: string): ApiStatus | undefined {
  if (!body.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(body) as ApiStatus;
    return parsed.kind === 'Status' || parsed.message !== undefined ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function retryAfterHeader(res: IncomingMessage): number | undefined {
  const raw = res.headers['retry-after'];
  if (!raw) return undefined;
  const seconds = Number(raw);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}
