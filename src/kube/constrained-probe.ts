// Can this API server enforce constrained impersonation (KEP-5284)? A constrained policy must never
// be provisioned where it cannot be enforced: there its rules grant nothing, and nothing tells the
// user that the request they meant to allow is refused, or worse, that a legacy grant elsewhere is
// all that is in force. Found out from the server itself:
//
//   1. GET /version: constrained impersonation is beta (on by default) from 1.36; before that it was
//      alpha (1.35) or absent, and is treated as unavailable.
//   2. A request that impersonates a user nobody may become, with a random uid, creating a
//      SelfSubjectReview (harmless: nothing is stored). It is refused either way; how it is refused
//      tells which impersonation filter ran. With the feature on, kube-apiserver tries the
//      constrained modes first and reports the first failed check, `impersonate-on:user-info:create`
//      on selfsubjectreviews; with it off, the legacy filter reports the `impersonate` verb. The
//      random uid makes the request fail under any legacy grant a least-privilege operator holds
//      (even any-user, which does not cover uids).
//   3. Only if that was allowed (an operator that may impersonate anyone): a SelfSubjectReview as a
//      node. Constrained impersonation (arbitrary-node mode) gives it the groups [system:nodes];
//      legacy impersonation gives none.
// A legacy-mode success cached by the API server for the operator (it never impersonates otherwise)
// could make step 2 answer "legacy": the safe direction (Stalled, nothing granted).
import { randomBytes } from 'node:crypto';
import type { KubeClient } from './client.js';
import { KubeApiError } from './errors.js';

export type ConstrainedSupport = { enforced: true } | { enforced: false; message: string };

/** The user the probe pretends to become (a name no policy can list: ':' after a domain). */
export const PROBE_USER = 'impersonation-operator.io:constrained-impersonation-probe';
/** For an operator that may impersonate anyone: a node nobody runs (see the second step). */
export const PROBE_NODE = 'system:node:impersonation-operator-constrained-impersonation-probe';
export const MIN_MINOR = 36;

/** '1.37.2', 'v1.36.0-rc.1+abc' -> [1, 37]; undefined when it cannot be read. */
export function parseServerVersion(v: {
  major?: string;
  minor?: string;
  gitVersion?: string;
}): [number, number] | undefined {
  const git = /^v?(\d+)\.(\d+)/.exec(v.gitVersion ?? '');
  if (git) return [Number(git[1]), Number(git[2])];
  const major = Number.parseInt(v.major ?? '', 10);
  const minor = Number.parseInt(v.minor ?? '', 10);
  return Number.isFinite(major) && Number.isFinite(minor) ? [major, minor] : undefined;
}

/** Interprets the probe's refusal (pure, for tests): does it come from the constrained filter? */
export function refusedByConstrainedFilter(message: string): boolean {
  return message.includes('impersonate-on:user-info:create');
}

/** Asks the API server. Errors other than the expected refusal propagate (the caller fails closed). */
export async function probeConstrainedImpersonation(
  client: Pick<KubeClient, 'request'>,
  signal?: AbortSignal,
): Promise<ConstrainedSupport> {
  const version = await client.request<{ major?: string; minor?: string; gitVersion?: string }>({
    verb: 'get',
    resource: 'version',
    method: 'GET',
    path: '/version',
    ...(signal ? { signal } : {}),
  });
  const parsed = parseServerVersion(version);
  if (parsed === undefined) {
    return {
      enforced: false,
      message: `the API server's version (${JSON.stringify(version)}) cannot be read`,
    };
  }
  const [major, minor] = parsed;
  if (major < 1 || (major === 1 && minor < MIN_MINOR)) {
    return {
      enforced: false,
      message:
        `the API server is Kubernetes ${major}.${minor}: constrained impersonation needs 1.${MIN_MINOR} or later ` +
        '(beta, feature gate ConstrainedImpersonation)',
    };
  }
  try {
    await client.request({
      verb: 'create',
      resource: 'selfsubjectreviews',
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      headers: {
        'Impersonate-User': PROBE_USER,
        'Impersonate-Uid': `probe-${randomBytes(8).toString('hex')}`,
      },
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    if (err instanceof KubeApiError && err.code === 403) {
      const message = err.status?.message ?? err.message;
      return refusedByConstrainedFilter(message)
        ? { enforced: true }
        : {
            enforced: false,
            message:
              `the API server (Kubernetes ${major}.${minor}) runs legacy impersonation only: feature gate ` +
              'ConstrainedImpersonation is off',
          };
    }
    throw err;
  }
  // Allowed: the operator may impersonate anyone (cluster-admin, `npm start` against a local
  // cluster). Then the answer is in WHO it became: constrained impersonation gives a node
  // (arbitrary-node mode) the fixed group list [system:nodes], legacy impersonation adds none.
  const review = await client.request<{ status?: { userInfo?: { groups?: string[] } } }>({
    verb: 'create',
    resource: 'selfsubjectreviews',
    method: 'POST',
    path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    headers: { 'Impersonate-User': PROBE_NODE },
    ...(signal ? { signal } : {}),
  });
  return (review?.status?.userInfo?.groups ?? []).includes('system:nodes')
    ? { enforced: true }
    : {
        enforced: false,
        message:
          `the API server (Kubernetes ${major}.${minor}) runs legacy impersonation only: feature gate ` +
          'ConstrainedImpersonation is off',
      };
}
