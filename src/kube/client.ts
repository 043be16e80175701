// The one HTTP client for the API server: JSON over node:https with keep-alive.
//
// Why not client-node's typed APIs: in 2.x every typed call runs `applySecurityAuthentication`, which
// re-reads certificate files synchronously and builds a new undici dispatcher (a new TLS connection)
// per request; its responses are deserialized into model classes (Date objects, renamed fields) that
// cost CPU and memory; server-side apply and `/status` merge patches need per-call content-type
// overrides; and importing it costs ~90 MB of RSS (see credentials.ts). Here the TLS material is loaded
// once into one keep-alive agent, bodies stay plain JSON, watches are streamed line by line on their
// own agent, and every request reports verb/resource/code/duration to an observer (Prometheus) so the
// operator's API-server cost is measurable. HTTP/1.1, no response compression (a loss on loopback and
// in-cluster). The benchmark's baseline writer uses this same client: same HTTP stack.
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import {
  credentialsFromKubeConfig,
  loadCredentials,
  type AuthHeaders,
  type ClusterCredentials,
} from './credentials.js';
import { KubeApiError, KubeConnectionError, type ApiStatus } from './errors.js';
import { apiVersionOf, resourcePath, type ResourceRef } from './resources.js';
import type { KubeObject, ObjectList, WatchEvent } from './types.js';

export const DEFAULT_FIELD_MANAGER = 'impersonation-operator';

/** One finished API request, for metrics. `code` is 0 when no HTTP response arrived. */
export interface RequestEvent {
  verb: string;
  resource: string;
  code: number;
  durationMs: number;
}
export type RequestObserver = (event: RequestEvent) => void;

export interface KubeClientOptions {
  /** Concurrent connections for ordinary requests (watches use their own pool). Default 32. */
  maxSockets?: number;
  /** Whole-request timeout for non-watch requests. Default 30s. */
  requestTimeoutMs?: number;
  /** How often a 429 Too Many Requests is retried after its Retry-After before it is thrown. Default 3. */
  maxRetries?: number;
  /** Longest Retry-After we honor inside the client; longer waits are left to the caller. Default 10s. */
  maxRetryWaitMs?: number;
  userAgent?: string;
  fieldManager?: string;
  onRequest?: RequestObserver;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

export interface ListOptions extends CallOptions {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  limit?: number | undefined;
  continue?: string | undefined;
  resourceVersion?: string | undefined;
  resourceVersionMatch?: 'NotOlderThan' | 'Exact' | undefined;
}

export interface WatchOptions extends CallOptions {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  resourceVersion?: string | undefined;
  allowWatchBookmarks?: boolean | undefined;
  /** Server-side watch timeout; the client gives up on a silent connection a little after it. */
  timeoutSeconds?: number | undefined;
}

export interface ApplyOptions extends CallOptions {
  force?: boolean | undefined;
  fieldManager?: string | undefined;
  dryRun?: boolean | undefined;
}

export interface DeleteOptions extends CallOptions {
  namespace?: string | undefined;
  /** Delete only if the live object still has this uid (it was not deleted and recreated meanwhile). */
  uid?: string | undefined;
  /** Delete only if the live object still has this resourceVersion. */
  resourceVersion?: string | undefined;
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan' | undefined;
}

export interface PatchOptions extends CallOptions {
  namespace?: string | undefined;
  /** Optimistic concurrency: added as `metadata.resourceVersion` to a merge patch. */
  resourceVersion?: string | undefined;
}

interface RawRequest {
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

export class KubeClient {
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
  readonly fieldManager: string;
  private readonly onRequest: RequestObserver | undefined;

  readonly server: string;

  /** A client for these credentials (no I/O: connections open on the first request). */
  constructor(
    private readonly credentials: ClusterCredentials,
    opts: KubeClientOptions = {},
  ) {
    this.server = credentials.server;
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
    this.fieldManager = opts.fieldManager ?? DEFAULT_FIELD_MANAGER;
    this.onRequest = opts.onRequest;
  }

  /**
   * Connects with `kubeconfig` (or KUBECONFIG, ~/.kube/config, in-cluster) without loading client-node;
   * see credentials.ts.
   */
  static async connect(
    where: { kubeconfig?: string | undefined; context?: string | undefined } = {},
    opts: KubeClientOptions = {},
  ): Promise<KubeClient> {
    return new KubeClient(await loadCredentials(where), opts);
  }

  /** Uses a loaded client-node KubeConfig (its current context) for credentials. */
  static async fromKubeConfig(kc: KubeConfig, opts: KubeClientOptions = {}): Promise<KubeClient> {
    return new KubeClient(await credentialsFromKubeConfig(kc), opts);
  }

  /** Closes idle keep-alive connections; in-flight requests finish or fail. */
  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  async get<T extends KubeObject>(
    ref: ResourceRef,
    name: string,
    opts: CallOptions & { namespace?: string | undefined } = {},
  ): Promise<T> {
    return this.json<T>({
      verb: 'get',
      resource: ref.plural,
      method: 'GET',
      path: resourcePath(ref, opts.namespace, name),
      signal: opts.signal,
    });
  }

  async list<T extends KubeObject>(ref: ResourceRef, opts: ListOptions = {}): Promise<ObjectList<T>> {
    const query = new URLSearchParams();
    if (opts.labelSelector) query.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) query.set('fieldSelector', opts.fieldSelector);
    if (opts.limit) query.set('limit', String(opts.limit));
    if (opts.continue) query.set('continue', opts.continue);
    if (opts.resourceVersion !== undefined) query.set('resourceVersion', opts.resourceVersion);
    if (opts.resourceVersionMatch) query.set('resourceVersionMatch', opts.resourceVersionMatch);
    return this.json<ObjectList<T>>({
      verb: 'list',
      resource: ref.plural,
      method: 'GET',
      path: resourcePath(ref, opts.namespace),
      query,
      signal: opts.signal,
    });
  }

  async create<T extends KubeObject>(
    ref: ResourceRef,
    obj: T,
    opts: CallOptions & { fieldManager?: string } = {},
  ): Promise<T> {
    return this.sendObject(
      'create',
      'POST',
      ref,
      obj,
      'application/json',
      this.managerQuery(opts),
      opts.signal,
      false,
    );
  }

  /** PUT: replaces the object; with `metadata.resourceVersion` set this is an optimistic-concurrency update. */
  async replace<T extends KubeObject>(
    ref: ResourceRef,
    obj: T,
    opts: CallOptions & { fieldManager?: string } = {},
  ): Promise<T> {
    return this.sendObject(
      'update',
      'PUT',
      ref,
      obj,
      'application/json',
      this.managerQuery(opts),
      opts.signal,
      true,
    );
  }

  /**
   * Server-side apply: the API server merges `obj` as the fields owned by our field manager. Applying the
   * same object again is a no-op on the server (no write, resourceVersion unchanged).
   */
  async apply<T extends KubeObject>(ref: ResourceRef, obj: T, opts: ApplyOptions = {}): Promise<T> {
    const query = this.managerQuery(opts);
    if (opts.force ?? true) query.set('force', 'true');
    if (opts.dryRun) query.set('dryRun', 'All');
    // JSON is YAML, and the server parses it faster than YAML proper.
    return this.sendObject(
      'apply',
      'PATCH',
      ref,
      obj,
      'application/apply-patch+yaml',
      query,
      opts.signal,
      true,
    );
  }

  private managerQuery(opts: { fieldManager?: string | undefined }): URLSearchParams {
    return new URLSearchParams({ fieldManager: opts.fieldManager ?? this.fieldManager });
  }

  /** Sends a whole object (with apiVersion/kind filled in) to its collection or, `named`, to itself. */
  private sendObject<T extends KubeObject>(
    verb: string,
    method: string,
    ref: ResourceRef,
    obj: T,
    contentType: string,
    query: URLSearchParams,
    signal: AbortSignal | undefined,
    named: boolean,
  ): Promise<T> {
    const name = named ? requireName(obj) : undefined;
    return this.json<T>({
      verb,
      resource: ref.plural,
      method,
      path: resourcePath(ref, obj.metadata?.namespace, name),
      query,
      body: JSON.stringify(withTypeMeta(ref, obj)),
      contentType,
      signal,
    });
  }

  /** JSON merge patch of the object (not a subresource). */
  async patchMerge<T extends KubeObject>(
    ref: ResourceRef,
    name: string,
    patch: object,
    opts: PatchOptions = {},
  ): Promise<T> {
    return this.merge<T>(ref, name, patch, opts, undefined);
  }

  /** JSON merge patch through the `/status` subresource (spec and metadata changes are ignored there). */
  async patchStatus<T extends KubeObject>(
    ref: ResourceRef,
    name: string,
    patch: object,
    opts: PatchOptions = {},
  ): Promise<T> {
    return this.merge<T>(ref, name, patch, opts, 'status');
  }

  /**
   * Replaces `.status` through the `/status` subresource only if the object still has `uid` (a JSON
   * patch `test`): a policy deleted and recreated under the same name is never written to. A failed
   * test is a 422 `KubeApiError`; a missing object a 404.
   */
  async replaceStatusIfUid<T extends KubeObject>(
    ref: ResourceRef,
    name: string,
    uid: string,
    status: unknown,
    opts: CallOptions & { namespace?: string | undefined } = {},
  ): Promise<T> {
    return this.json<T>({
      verb: 'patch',
      resource: `${ref.plural}/status`,
      method: 'PATCH',
      path: resourcePath(ref, opts.namespace, name, 'status'),
      query: new URLSearchParams({ fieldManager: this.fieldManager }),
      body: JSON.stringify([
        { op: 'test', path: '/metadata/uid', value: uid },
        { op: 'add', path: '/status', value: status },
      ]),
      contentType: 'application/json-patch+json',
      signal: opts.signal,
    });
  }

  /**
   * Deletes an object. Resolves `true` when the server accepted the delete and `false` when the object was
   * already gone; a failed uid/resourceVersion precondition is a 409 `KubeApiError`.
   */
  async remove(ref: ResourceRef, name: string, opts: DeleteOptions = {}): Promise<boolean> {
    return (await this.removeObject(ref, name, opts)).outcome !== 'absent';
  }

  /**
   * Deletes an object and says what happened: `deleted`, `absent` (already gone), or `terminating`
   * (accepted, but finalizers keep the object, which the server then returns, for now).
   */
  async removeObject(
    ref: ResourceRef,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<{ outcome: 'deleted' | 'absent' } | { outcome: 'terminating'; object: KubeObject }> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (opts.uid !== undefined || opts.resourceVersion !== undefined) {
      body.preconditions = { uid: opts.uid, resourceVersion: opts.resourceVersion };
    }
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    try {
      const answer = await this.json<KubeObject | ApiStatus | undefined>({
        verb: 'delete',
        resource: ref.plural,
        method: 'DELETE',
        path: resourcePath(ref, opts.namespace, name),
        body: JSON.stringify(body),
        contentType: 'application/json',
        signal: opts.signal,
      });
      // A deleted object comes back as a Status; one kept by finalizers comes back as itself.
      const object = answer as KubeObject | undefined;
      if (object !== undefined && object.kind !== 'Status' && object.metadata?.deletionTimestamp) {
        return { outcome: 'terminating', object };
      }
      return { outcome: 'deleted' };
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return { outcome: 'absent' };
      throw err;
    }
  }

  /**
   * Streams watch events. The generator ends when the server closes the watch (timeout) and throws a
   * `KubeApiError` for an `ERROR` event (410 Expired: the resourceVersion is too old, relist).
   */
  async *watch<T extends KubeObject>(
    ref: ResourceRef,
    opts: WatchOptions = {},
  ): AsyncGenerator<WatchEvent<T>> {
    const query = new URLSearchParams({ watch: 'true' });
    if (opts.resourceVersion !== undefined) query.set('resourceVersion', opts.resourceVersion);
    if (opts.allowWatchBookmarks ?? true) query.set('allowWatchBookmarks', 'true');
    if (opts.labelSelector) query.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) query.set('fieldSelector', opts.fieldSelector);
    const timeoutSeconds = opts.timeoutSeconds ?? 300;
    query.set('timeoutSeconds', String(timeoutSeconds));
    const path = resourcePath(ref, opts.namespace);
    const res = await this.send({
      verb: 'watch',
      resource: ref.plural,
      method: 'GET',
      path,
      query,
      signal: opts.signal,
      watch: true,
      watchIdleMs: (timeoutSeconds + 30) * 1000,
    });
    res.setEncoding('utf8');
    let pending = '';
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        pending += chunk;
        let start = 0;
        for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
          const line = pending.slice(start, nl);
          start = nl + 1;
          if (line.trim() !== '') yield parseWatchLine<T>(line, path);
        }
        pending = start === 0 ? pending : pending.slice(start);
      }
      if (pending.trim() !== '') yield parseWatchLine<T>(pending, path);
    } catch (err) {
      if (err instanceof KubeApiError) throw err;
      if (opts.signal?.aborted) throw opts.signal.reason as Error;
      throw new KubeConnectionError('watch', path, err);
    } finally {
      res.destroy();
    }
  }

  /** Any JSON request, for the few calls the typed helpers above do not cover. */
  async request<T>(args: {
    verb: string;
    resource: string;
    method: string;
    path: string;
    query?: URLSearchParams;
    body?: unknown;
    contentType?: string;
    signal?: AbortSignal;
    headers?: Record<string, string>;
  }): Promise<T> {
    return this.json<T>({
      ...args,
      body: args.body === undefined ? undefined : JSON.stringify(args.body),
      contentType: args.contentType ?? 'application/json',
    });
  }

  private async merge<T>(
    ref: ResourceRef,
    name: string,
    patch: object,
    opts: PatchOptions,
    subresource: string | undefined,
  ): Promise<T> {
    let body = patch as Record<string, unknown>;
    if (opts.resourceVersion !== undefined) {
      const metadata = (body.metadata ?? {}) as Record<string, unknown>;
      body = { ...body, metadata: { ...metadata, resourceVersion: opts.resourceVersion } };
    }
    const query = new URLSearchParams({ fieldManager: this.fieldManager });
    return this.json<T>({
      verb: 'patch',
      resource: subresource ? `${ref.plural}/${subresource}` : ref.plural,
      method: 'PATCH',
      path: resourcePath(ref, opts.namespace, name, subresource),
      query,
      body: JSON.stringify(body),
      contentType: 'application/merge-patch+json',
      signal: opts.signal,
    });
  }

  private async json<T>(req: RawRequest): Promise<T> {
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

  /** Sends a request and returns the 2xx response; retries 429 (and one 401 after a token refresh). */
  private async send(req: RawRequest): Promise<IncomingMessage> {
    let refreshedAuth = false;
    let retriedStaleSocket = false;
    for (let attempt = 0; ; attempt++) {
      let res: IncomingMessage;
      try {
        res = await this.once(req, await this.credentials.headers());
      } catch (err) {
        // The server closed an idle keep-alive connection just as we reused it: the request never
        // reached it, so sending it once more on a fresh connection is safe (node's documented remedy).
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

class StaleSocketError extends KubeConnectionError {}

function requireName(obj: KubeObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`${obj.kind ?? 'object'} without metadata.name`);
  return name;
}

function withTypeMeta<T extends KubeObject>(ref: ResourceRef, obj: T): T {
  if (obj.apiVersion && obj.kind) return obj;
  return { ...obj, apiVersion: obj.apiVersion ?? apiVersionOf(ref), kind: obj.kind ?? ref.kind };
}

function parseWatchLine<T>(line: string, path: string): WatchEvent<T> {
  const event = JSON.parse(line) as WatchEvent<T>;
  if (event.type === 'ERROR') {
    const status = event.object as ApiStatus;
    throw new KubeApiError({ code: status.code ?? 500, verb: 'watch', path, status });
  }
  return event;
}
