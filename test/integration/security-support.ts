// Helpers shared by the tampering and revocation suites: grant an identity a few rules (as admin),
// ask the API server what an impersonated request may do, and patch objects as a given identity.
import { requestAs, type RawResponse } from '../harness/http.js';
import { adminRequest } from '../harness/policies.js';

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
export const MERGE = 'application/merge-patch+json';

export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** A ClusterRole with `rules` bound to `subject`; returns the cleanup. */
export async function grant(
  name: string,
  subject: { kind: 'User'; name: string } | { kind: 'ServiceAccount'; name: string; namespace: string },
  rules: Rule[],
): Promise<() => Promise<void>> {
  const role = await adminRequest('POST', `${RBAC}/clusterroles`, { metadata: { name }, rules });
  if (role.status !== 201) throw new Error(`creating ClusterRole ${name}: ${role.status} ${role.body}`);
  const binding = await adminRequest('POST', `${RBAC}/clusterrolebindings`, {
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [subject.kind === 'User' ? { ...subject, apiGroup: 'rbac.authorization.k8s.io' } : subject],
  });
  if (binding.status !== 201)
    throw new Error(`creating ClusterRoleBinding ${name}: ${binding.status} ${binding.body}`);
  return async () => {
    await adminRequest('DELETE', `${RBAC}/clusterrolebindings/${name}`);
    await adminRequest('DELETE', `${RBAC}/clusterroles/${name}`);
  };
}

/** The HTTP status of a GET (list namespaces) made by `kubeconfig` while impersonating. */
export async function impersonatedStatus(
  kubeconfig: string,
  user: string,
  groups: string[] = [],
): Promise<number> {
  const res = await requestAs(kubeconfig, 'GET', '/api/v1/namespaces/default/configmaps', {
    impersonate: { user, ...(groups.length > 0 ? { groups } : {}) },
  });
  return res.status;
}

/**
 * The HTTP status of a SelfSubjectReview made while impersonating `user`: every authenticated user
 * may create one, so 201 means the impersonation itself was allowed and 403 that it was refused.
 */
export async function impersonationStatus(kubeconfig: string, user: string): Promise<number> {
  const res = await requestAs(kubeconfig, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    impersonate: { user },
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  return res.status;
}

/** Whether `kubeconfig`'s identity may impersonate `user` (a real SelfSubjectAccessReview). */
export async function mayImpersonate(
  kubeconfig: string,
  resource: 'users' | 'groups' | 'serviceaccounts',
  name: string,
  namespace?: string,
): Promise<boolean> {
  const res = await requestAs(kubeconfig, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: {
        resourceAttributes: {
          verb: 'impersonate',
          resource,
          name,
          ...(namespace === undefined ? {} : { namespace }),
        },
      },
    },
  });
  if (res.status !== 201) throw new Error(`SelfSubjectAccessReview: ${res.status} ${res.body}`);
  return (res.json() as { status: { allowed: boolean } }).status.allowed;
}

/** A JSON merge patch of an RBAC object as `kubeconfig`'s identity. */
export function patchAs(
  kubeconfig: string,
  plural: string,
  name: string,
  patch: unknown,
  namespace?: string,
): Promise<RawResponse> {
  const path = namespace ? `${RBAC}/namespaces/${namespace}/${plural}/${name}` : `${RBAC}/${plural}/${name}`;
  return requestAs(kubeconfig, 'PATCH', path, { body: patch, contentType: MERGE });
}
