// The options of KubeClient's verbs, and how each becomes a query string.
import type { TransportOptions } from './transport.js';

export interface KubeClientOptions extends TransportOptions {
  fieldManager?: string;
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

export function listQuery(opts: ListOptions): URLSearchParams {
  const query = new URLSearchParams();
  if (opts.labelSelector) query.set('labelSelector', opts.labelSelector);
  if (opts.fieldSelector) query.set('fieldSelector', opts.fieldSelector);
  if (opts.limit) query.set('limit', String(opts.limit));
  if (opts.continue) query.set('continue', opts.continue);
  if (opts.resourceVersion !== undefined) query.set('resourceVersion', opts.resourceVersion);
  if (opts.resourceVersionMatch) query.set('resourceVersionMatch', opts.resourceVersionMatch);
  return query;
}

/** The query of a watch; `timeoutSeconds` defaults to 300. */
export function watchQuery(opts: WatchOptions): URLSearchParams {
  const query = new URLSearchParams({ watch: 'true' });
  if (opts.resourceVersion !== undefined) query.set('resourceVersion', opts.resourceVersion);
  if (opts.allowWatchBookmarks ?? true) query.set('allowWatchBookmarks', 'true');
  if (opts.labelSelector) query.set('labelSelector', opts.labelSelector);
  if (opts.fieldSelector) query.set('fieldSelector', opts.fieldSelector);
  query.set('timeoutSeconds', String(opts.timeoutSeconds ?? 300));
  return query;
}

/** The body of a DELETE: preconditions and propagation policy. */
export function deleteBody(opts: DeleteOptions): Record<string, unknown> {
  const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
  if (opts.uid !== undefined || opts.resourceVersion !== undefined) {
    body.preconditions = { uid: opts.uid, resourceVersion: opts.resourceVersion };
  }
  if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
  return body;
}
