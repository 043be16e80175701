// Typed errors for API server responses: the HTTP status plus the server's `Status` reason and message,
// so callers branch on `isConflict(err)` instead of parsing strings.

/** The subset of a meta/v1 `Status` object the API server returns with a failed request. */
export interface ApiStatus {
  kind?: string;
  apiVersion?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
    retryAfterSeconds?: number;
  };
}

/** A request the API server answered with a non-2xx status (or a watch `ERROR` event). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  /** HTTP status code, e.g. 404, 409, 410, 429. */
  readonly code: number;
  /** The `Status.reason`, e.g. `NotFound`, `Conflict`, `AlreadyExists`, `Expired`, `Gone`, `Forbidden`. */
  readonly reason: string | undefined;
  /** How long the server asked us to wait (Retry-After header or `details.retryAfterSeconds`). */
  readonly retryAfterMs: number | undefined;
  readonly verb: string;
  readonly path: string;
  readonly status: ApiStatus | undefined;

  constructor(args: {
    code: number;
    verb: string;
    path: string;
    status?: ApiStatus | undefined;
    retryAfterMs?: number | undefined;
    body?: string | undefined;
  }) {
    const text = args.status?.message ?? (args.body ? args.body.slice(0, 300) : undefined);
    const reason = args.status?.reason;
    super(`${args.verb} ${args.path}: ${args.code}${reason ? ` ${reason}` : ''}${text ? `: ${text}` : ''}`);
    this.code = args.code;
    this.reason = args.status?.reason;
    this.verb = args.verb;
    this.path = args.path;
    this.status = args.status;
    const fromDetails = args.status?.details?.retryAfterSeconds;
    this.retryAfterMs = args.retryAfterMs ?? (fromDetails !== undefined ? fromDetails * 1000 : undefined);
  }

  /** The server's own message, without our verb/path prefix. */
  get serverMessage(): string | undefined {
    return this.status?.message;
  }
}

/** The API server could not be reached or the connection broke (no HTTP status). */
export class KubeConnectionError extends Error {
  override readonly name = 'KubeConnectionError';
  readonly verb: string;
  readonly path: string;
  constructor(verb: string, path: string, cause: unknown) {
    super(`${verb} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.verb = verb;
    this.path = path;
  }
}

function codeOf(err: unknown): number | undefined {
  return err instanceof KubeApiError ? err.code : undefined;
}

export const isNotFound = (err: unknown): boolean => codeOf(err) === 404;
export const isConflict = (err: unknown): boolean => codeOf(err) === 409;
/** A 409 because the object already exists (create), as opposed to an optimistic-concurrency conflict. */
export const isAlreadyExists = (err: unknown): boolean =>
  err instanceof KubeApiError && err.code === 409 && err.reason === 'AlreadyExists';
export const isForbidden = (err: unknown): boolean => codeOf(err) === 403;
export const isUnauthorized = (err: unknown): boolean => codeOf(err) === 401;
/** 410 Gone / `Expired`: the resourceVersion is too old; relist. */
export const isGone = (err: unknown): boolean =>
  codeOf(err) === 410 || (err instanceof KubeApiError && (err.reason === 'Expired' || err.reason === 'Gone'));
export const isInvalid = (err: unknown): boolean => codeOf(err) === 422;
export const isTooManyRequests = (err: unknown): boolean => codeOf(err) === 429;

/** Errors worth retrying later without any change on our side. */
export function isTransient(err: unknown): boolean {
  if (err instanceof KubeConnectionError) return true;
  const code = codeOf(err);
  return code === 409 || code === 429 || code === 408 || (code !== undefined && code >= 500);
}

/** The wait the server asked for, if any (429 and some 5xx responses). */
export function retryAfterMs(err: unknown): number | undefined {
  return err instanceof KubeApiError ? err.retryAfterMs : undefined;
}
