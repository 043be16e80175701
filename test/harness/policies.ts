// ImpersonationPolicy helpers for integration tests: install the CRD, apply and delete policies, wait
// for a status, and read back what RBAC exists (as admin, straight from the API server).
import { join } from 'node:path';
import type { ImpersonationPolicyStatus } from '../../src/api/index.js';
import { clusterInfo } from './cluster-info.js';
import { repoRoot } from './controlplane.js';
import { requestAs } from './http.js';
import { kubectlOk } from './kubectl.js';

export const CRD_NAME = 'impersonationpolicies.impersonation-operator.io';
const POLICIES = '/apis/impersonation-operator.io/v1alpha1/impersonationpolicies';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

export interface PolicyObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; uid?: string; generation?: number; resourceVersion?: string };
  spec: Record<string, unknown>;
  status?: ImpersonationPolicyStatus;
}

export async function ensureCrd(): Promise<void> {
  await kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds')]);
  await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', `crd/${CRD_NAME}`]);
}

const admin = () => clusterInfo().adminKubeconfig;

export function policy(name: string, spec: Record<string, unknown>): PolicyObject {
  return {
    apiVersion: 'impersonation-operator.io/v1alpha1',
    kind: 'ImpersonationPolicy',
    metadata: { name },
    spec,
  };
}

/** Creates or replaces the policy's spec (server-side apply as the test). */
export async function applyPolicy(p: PolicyObject): Promise<PolicyObject> {
  const res = await requestAs(
    admin(),
    'PATCH',
    `${POLICIES}/${p.metadata.name}?fieldManager=integration-test&force=true`,
    {
      body: JSON.stringify({
        apiVersion: p.apiVersion,
        kind: p.kind,
        metadata: { name: p.metadata.name },
        spec: p.spec,
      }),
      contentType: 'application/apply-patch+yaml',
    },
  );
  if (res.status >= 300) throw new Error(`applying policy ${p.metadata.name}: ${res.status} ${res.body}`);
  return res.json() as PolicyObject;
}

export async function getPolicy(name: string): Promise<PolicyObject | undefined> {
  const res = await requestAs(admin(), 'GET', `${POLICIES}/${name}`);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`getting policy ${name}: ${res.status} ${res.body}`);
  return res.json() as PolicyObject;
}

export async function deletePolicy(name: string): Promise<void> {
  const res = await requestAs(admin(), 'DELETE', `${POLICIES}/${name}`);
  if (res.status !== 200 && res.status !== 202 && res.status !== 404) {
    throw new Error(`deleting policy ${name}: ${res.status} ${res.body}`);
  }
}

export const condition = (p: PolicyObject | undefined, type: string) =>
  p?.status?.conditions?.find((c) => c.type === type);

/** Ready=True for the current generation. */
export const isReady = (p: PolicyObject | undefined): boolean =>
  condition(p, 'Ready')?.status === 'True' && p?.status?.observedGeneration === p?.metadata.generation;

/** The current generation was reconciled (whatever the outcome). */
export const isObserved = (p: PolicyObject | undefined): boolean =>
  p !== undefined &&
  p.status?.observedGeneration === p.metadata.generation &&
  condition(p, 'Reconciling')?.status !== 'True';

export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}; last: ${String(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function waitForPolicy(
  name: string,
  pred: (p: PolicyObject) => boolean,
  what = 'the policy status',
  timeoutMs = 30_000,
): Promise<PolicyObject> {
  let last: PolicyObject | undefined;
  try {
    return await eventually(
      `${what} of ${name}`,
      async () => {
        const p = (last = await getPolicy(name));
        return p && pred(p) ? p : undefined;
      },
      timeoutMs,
    );
  } catch (err) {
    // The last status seen says why far better than "timed out".
    const seen = last
      ? JSON.stringify({ generation: last.metadata.generation, status: last.status })
      : 'absent';
    throw new Error(`${(err as Error).message}; last policy: ${seen}`, { cause: err });
  }
}

export interface RbacObject {
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    ownerReferences?: { uid: string; controller?: boolean; blockOwnerDeletion?: boolean; name: string }[];
  };
  rules?: { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[] }[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

const RBAC_KINDS = [
  ['ClusterRole', 'clusterroles'],
  ['ClusterRoleBinding', 'clusterrolebindings'],
  ['Role', 'roles'],
  ['RoleBinding', 'rolebindings'],
] as const;

/** Every RBAC object labelled as generated for `policyName`, read from the API server. */
export async function generatedObjects(policyName: string): Promise<RbacObject[]> {
  const selector = encodeURIComponent(`impersonation-operator.io/policy=${policyName}`);
  const out: RbacObject[] = [];
  for (const [kind, plural] of RBAC_KINDS) {
    const res = await requestAs(admin(), 'GET', `${RBAC}/${plural}?labelSelector=${selector}`);
    if (res.status !== 200) throw new Error(`listing ${plural}: ${res.status} ${res.body}`);
    for (const item of (res.json() as { items: RbacObject[] }).items) out.push({ ...item, kind });
  }
  return out;
}

export async function rbacGet(
  plural: string,
  name: string,
  namespace?: string,
): Promise<RbacObject | undefined> {
  const path = namespace ? `${RBAC}/namespaces/${namespace}/${plural}/${name}` : `${RBAC}/${plural}/${name}`;
  const res = await requestAs(admin(), 'GET', path);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`getting ${plural}/${name}: ${res.status} ${res.body}`);
  return res.json() as RbacObject;
}

export async function adminRequest(method: string, path: string, body?: unknown, contentType?: string) {
  return requestAs(admin(), method, path, {
    ...(body === undefined ? {} : { body }),
    ...(contentType ? { contentType } : {}),
  });
}

/** Creates (or keeps) a namespace. */
export async function ensureNamespace(name: string): Promise<void> {
  const res = await adminRequest('POST', '/api/v1/namespaces', { metadata: { name } });
  if (res.status !== 201 && res.status !== 409) throw new Error(`creating namespace ${name}: ${res.body}`);
}

export async function ensureServiceAccount(namespace: string, name: string): Promise<void> {
  await ensureNamespace(namespace);
  const res = await adminRequest('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
    metadata: { name },
  });
  if (res.status !== 201 && res.status !== 409)
    throw new Error(`creating serviceaccount ${namespace}/${name}: ${res.body}`);
}
