// Turns one decoded audit.k8s.io/v1 Event into the impersonation facts we count, or nothing.
// Pure: no I/O. Tolerant of missing fields (audit policies and log shippers drop some).

/** Who made the request (the impersonator) or whom it acted as (the impersonated identity). */
export interface Identity {
  username: string;
  groups: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

/** What the request did, in kubectl's vocabulary. */
export interface Action {
  verb: string;
  /** `pods`, `deployments.apps`, `pods/log`, or a non-resource path such as `/api`. */
  resource: string;
  /** Empty for cluster-scoped and non-resource requests. */
  namespace: string;
}

/** How the API server decided the (impersonated) request. */
export type Outcome = 'allowed' | 'forbidden' | 'unknown';

interface RecordBase {
  /** Empty when the event has none (then it cannot be de-duplicated across stages). */
  auditID: string;
  stage: string;
  /** Milliseconds since the epoch of `stageTimestamp` (or `requestReceivedTimestamp`), if parseable. */
  time: number | undefined;
  /** The timestamp as logged, kept for display (microsecond precision). */
  timestamp: string | undefined;
  impersonator: Identity;
  action: Action;
  code: number | undefined;
}

/** A request the API server executed as another identity. */
export interface ImpersonatedRequest extends RecordBase {
  kind: 'impersonated';
  target: Identity;
  outcome: Outcome;
  /** The authorizer's reason (`RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "view" to Group "g"`). */
  reason?: string;
  /**
   * The constrained-impersonation verb that allowed the impersonation (`impersonate:user-info`,
   * `impersonate:serviceaccount`, ...; `authenticationMetadata.impersonationConstraint`, Kubernetes
   * 1.35+). Absent: legacy impersonation (the unconstrained `impersonate` verb).
   */
  constraint?: string;
}

/**
 * The identity (or part of it) a refused impersonation tried to assume, as far as the API server
 * logged it. With constrained impersonation (Kubernetes 1.35+), an impersonator without any
 * legacy grant is refused on the `impersonate-on:<mode>:<verb>` check of the request itself; the
 * log then names only the mode (`user-info`, `serviceaccount`, `scheduled-node`), not the identity.
 */
export interface AttemptedTarget {
  /** `users`, `groups`, `serviceaccounts`, `uids`, `userextras/<key>`; or the constrained mode. */
  resource: string;
  /** Empty when the API server did not log it (constrained-impersonation refusal). */
  name: string;
  /** Only for service accounts: the namespace the API server checked the grant in. */
  namespace: string;
}

/**
 * A request whose impersonation the API server refused (403 before the request ran). The audit
 * event then has no `impersonatedUser`; the refused part is only in the response message.
 */
export interface RefusedImpersonation extends RecordBase {
  kind: 'refused';
  attempted: AttemptedTarget;
}

export type AuditRecord = ImpersonatedRequest | RefusedImpersonation;

/** The needle a line must contain to possibly be an impersonation event (both kinds contain it). */
export const IMPERSONATION_NEEDLE = 'impersonate';

const FINAL_STAGES = new Set(['ResponseComplete', 'Panic']);

/** True for the stages after which no other stage of the same request follows. */
export function isFinalStage(stage: string): boolean {
  return FINAL_STAGES.has(stage);
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function identityOf(v: unknown): Identity | undefined {
  if (!isObject(v)) return undefined;
  const username = str(v.username);
  if (username === undefined) return undefined;
  const id: Identity = { username, groups: strings(v.groups) };
  const uid = str(v.uid);
  if (uid) id.uid = uid;
  if (isObject(v.extra)) {
    const extra: Record<string, string[]> = {};
    for (const key of Object.keys(v.extra).sort()) extra[key] = strings(v.extra[key]);
    if (Object.keys(extra).length > 0) id.extra = extra;
  }
  return id;
}

function actionOf(ev: Json): Action {
  const verb = str(ev.verb) ?? '';
  const ref = ev.objectRef;
  if (isObject(ref) && str(ref.resource)) {
    const group = str(ref.apiGroup);
    const sub = str(ref.subresource);
    const resource = `${str(ref.resource)}${group ? `.${group}` : ''}${sub ? `/${sub}` : ''}`;
    return { verb, resource, namespace: str(ref.namespace) ?? '' };
  }
  const uri = str(ev.requestURI) ?? '';
  const q = uri.indexOf('?');
  return { verb, resource: q >= 0 ? uri.slice(0, q) : uri, namespace: '' };
}

function timeOf(ev: Json): { time: number | undefined; timestamp: string | undefined } {
  const timestamp = str(ev.stageTimestamp) ?? str(ev.requestReceivedTimestamp);
  if (timestamp === undefined) return { time: undefined, timestamp };
  const time = Date.parse(timestamp);
  return { time: Number.isNaN(time) ? undefined : time, timestamp };
}

function outcomeOf(ev: Json, code: number | undefined): Outcome {
  // The authorization filter records its decision; it is the truth even when the request then
  // failed for another reason (404, 409, 500...).
  const decision = isObject(ev.annotations)
    ? str(ev.annotations['authorization.k8s.io/decision'])
    : undefined;
  if (decision === 'allow') return 'allowed';
  if (decision === 'forbid') return 'forbidden';
  if (code === undefined) return 'unknown';
  return code === 403 ? 'forbidden' : 'allowed';
}

// responsewriters.forbiddenMessage: `User "x" cannot impersonate resource "users" in API group ""
// at the cluster scope` or `... in the namespace "ns"`; the object name is in details.name and in
// the `<resource> "<name>" is forbidden:` prefix. Constrained impersonation adds the verbs
// `impersonate:<mode>` (same resources and names) and `impersonate-on:<mode>:<verb>` (checked on
// the request's own resource, so the identity is not in the message).
const REFUSAL =
  /cannot impersonate(?:-on:([a-z-]+):\S+|:[a-z-]+)? resource "([^"]+)" in API group "[^"]*"(?: in the namespace "((?:[^"\\]|\\.)*)")?/;
const FORBIDDEN_NAME = /^[^ ]+ "((?:[^"\\]|\\.)*)" is forbidden:/;

function unquote(goQuoted: string): string {
  try {
    return JSON.parse(`"${goQuoted}"`) as string;
  } catch {
    return goQuoted;
  }
}

function refusalOf(status: Json): AttemptedTarget | undefined {
  const message = str(status.message);
  if (message === undefined) return undefined;
  const m = REFUSAL.exec(message);
  if (!m) return undefined;
  if (m[1] !== undefined) return { resource: m[1], name: '', namespace: '' };
  const details = isObject(status.details) ? status.details : undefined;
  let name = details ? str(details.name) : undefined;
  if (name === undefined) {
    const n = FORBIDDEN_NAME.exec(message);
    name = n?.[1] !== undefined ? unquote(n[1]) : '';
  }
  return { resource: m[2] ?? '', name, namespace: m[3] !== undefined ? unquote(m[3]) : '' };
}

/**
 * The impersonation record for one audit event, or undefined when the event is not about
 * impersonation (or is not an audit event at all).
 */
export function toAuditRecord(ev: unknown): AuditRecord | undefined {
  if (!isObject(ev)) return undefined;
  const impersonator = identityOf(ev.user);
  if (!impersonator) return undefined;
  const status = isObject(ev.responseStatus) ? ev.responseStatus : undefined;
  const code = status && typeof status.code === 'number' ? status.code : undefined;
  const base = {
    auditID: str(ev.auditID) ?? '',
    stage: str(ev.stage) ?? '',
    ...timeOf(ev),
    impersonator,
    action: actionOf(ev),
    code,
  };
  const target = identityOf(ev.impersonatedUser);
  if (target) {
    const reason = isObject(ev.annotations) ? str(ev.annotations['authorization.k8s.io/reason']) : undefined;
    const constraint = isObject(ev.authenticationMetadata)
      ? str(ev.authenticationMetadata.impersonationConstraint)
      : undefined;
    return {
      kind: 'impersonated',
      ...base,
      target,
      outcome: outcomeOf(ev, code),
      ...(reason ? { reason } : {}),
      ...(constraint ? { constraint } : {}),
    };
  }
  if (code === 403 && status) {
    const attempted = refusalOf(status);
    if (attempted) return { kind: 'refused', ...base, attempted };
  }
  return undefined;
}

/**
 * The events in one decoded JSON line: an Event, or an EventList as the webhook backend and some
 * log shippers write them.
 */
export function eventsOf(doc: unknown): unknown[] {
  if (isObject(doc) && doc.kind === 'EventList' && Array.isArray(doc.items)) return doc.items;
  return [doc];
}
