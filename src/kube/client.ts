// The one client for the API server: typed verbs (get, list, watch, create, replace, apply, patch,
// delete) over the keep-alive JSON transport in transport.ts.
//
// Why not client-node's typed APIs: in 2.x every typed call runs `applySecurityAuthentication`, which
// re-reads certificate files synchronously and builds a new undici dispatcher (a new TLS connection)
// per request; its responses are deserialized into model classes (Date objects, renamed fields) that
// cost CPU and memory; server-side apply and `/status` merge patches need per-call content-type
// overrides; and importing it costs ~90 MB of RSS (see credentials.ts). Here bodies stay plain JSON and
// watches are streamed line by line (watch-stream.ts). HTTP/1.1, no response compression (a loss on
// loopback and in-cluster). The benchmark's baseline writer uses this same client: same HTTP stack.
import type { KubeConfig } from '@kubernetes/client-node';
import { credentialsFromKubeConfig, loadCredentials, type ClusterCredentials } from './credentials.js';
import { KubeApiError, type ApiStatus } from './errors.js';
import {
  deleteBody,
  listQuery,
  watchQuery,
  type ApplyOptions,
  type CallOptions,
  type DeleteOptions,
  type KubeClientOptions,
  type ListOptions,
  type PatchOptions,
  type WatchOptions,
} from './request-options.js';
import { apiVersionOf, resourcePath, type ResourceRef } from './resources.js';
import { listItemSplitter } from './list-stream.js';
import { Transport, type RawRequest } from './transport.js';
import type { KubeObject, ObjectList, WatchEvent } from './types.js';
import { watchEvents } from './watch-stream.js';

export type {
  ApplyOptions,
  CallOptions,
  DeleteOptions,
  KubeClientOptions,
  ListOptions,
  PatchOptions,
  WatchOptions,
} from './request-options.js';
export type { RequestEvent, RequestObserver } from './transport.js';

export const DEFAULT_FIELD_MANAGER = 'impersonation-operator';

export class KubeClient {
  private readonly transport: Transport;
  readonly fieldManager: string;
  readonly server: string;

  /** A client for these credentials (no I/O: connections open on the first request). */
  constructor(credentials: ClusterCredentials, opts: KubeClientOptions = {}) {
    this.server = credentials.server;
    this.transport = new Transport(credentials, opts);
    this.fieldManager = opts.fieldManager ?? DEFAULT_FIELD_MANAGER;
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
    this.transport.close();
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

  /** One LIST request (one page with `limit`), its items restored to carry kind and apiVersion. */
  async list<T extends KubeObject>(ref: ResourceRef, opts: ListOptions = {}): Promise<ObjectList<T>> {
    const items: T[] = [];
    const list = await this.listEach<T>(ref, opts, (item) => items.push(item));
    list.items = items;
    return list;
  }

  /**
   * One LIST request read item by item (list-stream.ts): `onItem` gets each object, with kind and
   * apiVersion restored (a typed list's items carry neither), as soon as its bytes arrived; no page
   * text or parsed page is held. Returns the list without items (metadata: continue, resourceVersion).
   */
  async listEach<T extends KubeObject>(
    ref: ResourceRef,
    opts: ListOptions,
    onItem: (item: T) => void,
  ): Promise<ObjectList<T>> {
    const splitter = listItemSplitter({ kind: ref.kind, apiVersion: apiVersionOf(ref) }, onItem);
    await this.transport.consume(
      {
        verb: 'list',
        resource: ref.plural,
        method: 'GET',
        path: resourcePath(ref, opts.namespace),
        query: listQuery(opts),
        signal: opts.signal,
      },
      (chunk) => splitter.write(chunk),
    );
    const list = splitter.end<ObjectList<T>>();
    list.items = [];
    return list;
  }

  async create<T extends KubeObject>(
    ref: ResourceRef,
    obj: T,
    opts: CallOptions & { fieldManager?: string } = {},
  ): Promise<T> {
    return this.sendObject('create', 'POST', ref, obj, 'application/json', this.managerQuery(opts), opts);
  }

  /** PUT: replaces the object; with `metadata.resourceVersion` set this is an optimistic-concurrency update. */
  async replace<T extends KubeObject>(
    ref: ResourceRef,
    obj: T,
    opts: CallOptions & { fieldManager?: string } = {},
  ): Promise<T> {
    return this.sendObject('update', 'PUT', ref, obj, 'application/json', this.managerQuery(opts), opts);
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
    return this.sendObject('apply', 'PATCH', ref, obj, 'application/apply-patch+yaml', query, opts);
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
    try {
      const answer = await this.json<KubeObject | ApiStatus | undefined>({
        verb: 'delete',
        resource: ref.plural,
        method: 'DELETE',
        path: resourcePath(ref, opts.namespace, name),
        body: JSON.stringify(deleteBody(opts)),
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
    const path = resourcePath(ref, opts.namespace);
    const res = await this.transport.send({
      verb: 'watch',
      resource: ref.plural,
      method: 'GET',
      path,
      query: watchQuery(opts),
      signal: opts.signal,
      watch: true,
      watchIdleMs: ((opts.timeoutSeconds ?? 300) + 30) * 1000,
    });
    yield* watchEvents<T>(res, path, opts.signal);
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

  private json<T>(req: RawRequest): Promise<T> {
    return this.transport.json<T>(req);
  }

  private managerQuery(opts: { fieldManager?: string | undefined }): URLSearchParams {
    return new URLSearchParams({ fieldManager: opts.fieldManager ?? this.fieldManager });
  }

  /** Sends a whole object (with apiVersion/kind filled in): POST to its collection, else to itself. */
  private sendObject<T extends KubeObject>(
    verb: string,
    method: string,
    ref: ResourceRef,
    obj: T,
    contentType: string,
    query: URLSearchParams,
    opts: CallOptions,
  ): Promise<T> {
    const name = method === 'POST' ? undefined : requireName(obj);
    return this.json<T>({
      verb,
      resource: ref.plural,
      method,
      path: resourcePath(ref, obj.metadata?.namespace, name),
      query,
      body: JSON.stringify(withTypeMeta(ref, obj)),
      contentType,
      signal: opts.signal,
    });
  }

  private merge<T>(
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
    return this.json<T>({
      verb: 'patch',
      resource: subresource ? `${ref.plural}/${subresource}` : ref.plural,
      method: 'PATCH',
      path: resourcePath(ref, opts.namespace, name, subresource),
      query: new URLSearchParams({ fieldManager: this.fieldManager }),
      body: JSON.stringify(body),
      contentType: 'application/merge-patch+json',
      signal: opts.signal,
    });
  }
}

function requireName(obj: KubeObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`${obj.kind ?? 'object'} without metadata.name`);
  return name;
}

function withTypeMeta<T extends KubeObject>(ref: ResourceRef, obj: T): T {
  if (obj.apiVersion && obj.kind) return obj;
  return { ...obj, apiVersion: obj.apiVersion ?? apiVersionOf(ref), kind: obj.kind ?? ref.kind };
}
