// SubjectAccessReviews: ask the API server's own authorizer whether some user may do something. The
// operator uses them to judge a policy's author (and a target's power) with exactly the rules the API
// server applies, instead of re-implementing RBAC evaluation.
import type { KubeClient } from './client.js';

/** Who is asking: the userInfo of a request (as admission saw it). */
export interface ReviewedUser {
  username: string;
  uid?: string | undefined;
  groups?: readonly string[] | undefined;
  extra?: Readonly<Record<string, readonly string[]>> | undefined;
}

/** authorization.k8s.io/v1 ResourceAttributes (the fields the operator needs). */
export interface ResourceAttributes {
  verb: string;
  group?: string | undefined;
  resource: string;
  subresource?: string | undefined;
  name?: string | undefined;
  /** Empty or absent: cluster-wide (all namespaces for namespaced resources). */
  namespace?: string | undefined;
}

interface SubjectAccessReviewStatus {
  allowed?: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

export interface ReviewOptions {
  /** SubjectAccessReviews in flight at once. Default 16. */
  concurrency?: number;
  signal?: AbortSignal | undefined;
}

const SUBJECT_ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

/** One SubjectAccessReview: allowed, and the authorizer's reason (RBAC names the granting binding). */
export async function reviewWithReason(
  client: Pick<KubeClient, 'request'>,
  user: ReviewedUser,
  attrs: ResourceAttributes,
  signal?: AbortSignal,
): Promise<{ allowed: boolean; reason: string }> {
  const status = await sendReview(client, user, attrs, signal);
  return { allowed: status?.allowed === true, reason: status?.reason ?? '' };
}

/** One SubjectAccessReview (a create; nothing is stored). */
export async function reviewOne(
  client: Pick<KubeClient, 'request'>,
  user: ReviewedUser,
  attrs: ResourceAttributes,
  signal?: AbortSignal,
): Promise<boolean> {
  const status = await sendReview(client, user, attrs, signal);
  // Fail closed: only an explicit allowed=true counts (an evaluation error with allowed=false refuses).
  return status?.allowed === true;
}

async function sendReview(
  client: Pick<KubeClient, 'request'>,
  user: ReviewedUser,
  attrs: ResourceAttributes,
  signal?: AbortSignal,
): Promise<SubjectAccessReviewStatus | undefined> {
  const spec: Record<string, unknown> = {
    user: user.username,
    resourceAttributes: withoutUndefined({ ...attrs }),
  };
  if (user.uid) spec.uid = user.uid;
  if (user.groups && user.groups.length > 0) spec.groups = [...user.groups];
  if (user.extra && Object.keys(user.extra).length > 0) {
    spec.extra = Object.fromEntries(Object.entries(user.extra).map(([k, v]) => [k, [...v]]));
  }
  const review = await client.request<{ status?: SubjectAccessReviewStatus }>({
    verb: 'create',
    resource: 'subjectaccessreviews',
    method: 'POST',
    path: SUBJECT_ACCESS_REVIEWS,
    body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec },
    ...(signal ? { signal } : {}),
  });
  return review?.status;
}

/**
 * Reviews every attribute for `user`, at most `concurrency` at once; resolves one boolean per attribute
 * (in order). Any request error rejects the whole call, so a caller never mistakes "could not ask" for
 * an answer.
 */
export async function reviewAccess(
  client: Pick<KubeClient, 'request'>,
  user: ReviewedUser,
  attrs: readonly ResourceAttributes[],
  opts: ReviewOptions = {},
): Promise<boolean[]> {
  const results = new Array<boolean>(attrs.length);
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? 16, attrs.length));
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < attrs.length) {
      const i = next++;
      try {
        results[i] = await reviewOne(client, user, attrs[i]!, opts.signal);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

function withoutUndefined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined && v !== ''));
}
