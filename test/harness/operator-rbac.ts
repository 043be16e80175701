// Installs the chart's ServiceAccount and RBAC (and, by default, its operator guard admission
// policy) into the local control plane, rendered by the real chart with the given grant values,
// so tests can run the operator as exactly the identity a user's cluster would give it.
import { randomBytes } from 'node:crypto';
import { kubectl, kubectlOk } from './kubectl.js';
import { serviceAccountKubeconfig } from './identities.js';
import { requestAs } from './http.js';
import { helmTemplateOk } from './tools.js';

export interface GrantValues {
  impersonate?: {
    users?: string[];
    groups?: string[];
    serviceAccounts?: { namespace: string; name: string }[];
    uids?: string[];
    userExtras?: Record<string, string[]>;
    anyUser?: boolean;
  };
  bindableClusterRoles?: string[];
  /** Constrained impersonation: the chart's grants.constrained (actions are cluster-wide). */
  constrained?: {
    enabled: boolean;
    actions?: { verbs: string[]; apiGroups: string[]; resources: string[] }[];
  };
}

export interface OperatorRbacOptions {
  /** Helm release name; also names the cluster-scoped objects. Default: unique. */
  release?: string;
  /** Namespace the chart is "installed" into (created if missing). Default: unique. */
  namespace?: string;
  rbacMode?: 'scoped' | 'escalate';
  /** Install the operator guard ValidatingAdmissionPolicy (the chart's default). Default true. */
  operatorGuard?: boolean;
  /** Deny list passed to the chart (cluster-admin is always in it). */
  deniedClusterRoles?: string[];
}

export interface OperatorRbac {
  namespace: string;
  serviceAccount: string;
  /** `system:serviceaccount:<namespace>:<serviceAccount>` */
  username: string;
  release: string;
  /** The rendered manifests that were applied. */
  manifests: string;
  /** A kubeconfig with a fresh TokenRequest token for the ServiceAccount. */
  kubeconfig(): Promise<string>;
  /** Deletes everything that was applied, and the namespace. */
  uninstall(): Promise<void>;
}

const RBAC_TEMPLATES = [
  'templates/serviceaccount.yaml',
  'templates/rbac.yaml',
  'templates/grants.yaml',
  'templates/admission-policy.yaml',
];

async function ensureNamespace(name: string): Promise<void> {
  const r = await kubectl(['create', 'namespace', name]);
  if (r.code !== 0 && !/AlreadyExists/.test(r.stderr)) {
    throw new Error(`creating namespace ${name} failed: ${r.stderr}`);
  }
}

/**
 * RBAC and admission policies reach the API server's caches a moment after they are written. Waits
 * until the ServiceAccount may create a ClusterRole (RBAC in force) and, with the guard, until the
 * guard refuses an unlabelled one (dry run: nothing is written).
 */
export async function waitUntilEffective(
  namespace: string,
  serviceAccount: string,
  guard: boolean,
): Promise<void> {
  const kubeconfig = await serviceAccountKubeconfig(namespace, serviceAccount);
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    const r = await requestAs(
      kubeconfig,
      'POST',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles?dryRun=All',
      {
        body: { metadata: { name: `impop-probe-${randomBytes(3).toString('hex')}` }, rules: [] },
      },
    );
    last = `${r.status} ${r.body}`;
    if (guard ? r.status === 403 && r.body.includes('labelled') : r.status === 201) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `the chart's RBAC for ${namespace}/${serviceAccount} did not take effect in 30s; last answer: ${last}`,
  );
}

/**
 * Renders the chart's ServiceAccount, ClusterRoles, Roles, bindings and admission policy with
 * `grants` and applies them as admin. Namespaces of granted service accounts are created if missing.
 */
export async function installOperatorRbac(
  grants: GrantValues,
  opts: OperatorRbacOptions = {},
): Promise<OperatorRbac> {
  const suffix = randomBytes(3).toString('hex');
  const release = opts.release ?? `impop-${suffix}`;
  const namespace = opts.namespace ?? `impop-system-${suffix}`;
  const values = {
    fullnameOverride: release,
    grants: {
      impersonate: grants.impersonate ?? {},
      bindableClusterRoles: grants.bindableClusterRoles ?? ['view'],
      ...(grants.constrained === undefined ? {} : { constrained: grants.constrained }),
    },
    rbac: { mode: opts.rbacMode ?? 'scoped' },
    admissionPolicy: { operatorGuard: { enabled: opts.operatorGuard ?? true } },
    ...(opts.deniedClusterRoles ? { operator: { deniedClusterRoles: opts.deniedClusterRoles } } : {}),
  };
  const manifests = await helmTemplateOk({
    release,
    namespace,
    values,
    flags: RBAC_TEMPLATES.flatMap((t) => ['--show-only', t]),
  });
  await ensureNamespace(namespace);
  for (const sa of grants.impersonate?.serviceAccounts ?? []) await ensureNamespace(sa.namespace);
  await kubectlOk(['apply', '--server-side', '--field-manager=impop-test-install', '-f', '-'], {
    input: manifests,
  });
  const serviceAccount = release;
  await waitUntilEffective(namespace, serviceAccount, values.admissionPolicy.operatorGuard.enabled);
  return {
    namespace,
    serviceAccount,
    username: `system:serviceaccount:${namespace}:${serviceAccount}`,
    release,
    manifests,
    kubeconfig: () => serviceAccountKubeconfig(namespace, serviceAccount),
    uninstall: async () => {
      await kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], { input: manifests });
      await kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=false']);
    },
  };
}
