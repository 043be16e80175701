// What makes a ClusterRole (or an identity) cluster-admin by another name. A policy must never hand
// out such a power: binding a role group to a ClusterRole that carries it, or letting impersonators
// become an identity that already holds it, is the same escalation as binding cluster-admin.
//
// The judgement is by rules, not by name: `cluster-admin` copied as `my-admin`, or a role that
// aggregates `escalate`, is refused just the same. It depends on the scope of the binding: in a
// RoleBinding, rules on cluster-scoped resources (ClusterRoles, ClusterRoleBindings) grant nothing,
// and acting as the service accounts of one ordinary namespace is what Kubernetes' own `edit` and
// `admin` roles allow there by design; cluster-wide, or in a protected namespace, it is not.

/** One RBAC rule as read from the API server (every field optional). */
export interface RuleLike {
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly verbs?: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

/** Where a ClusterRole is bound: cluster-wide, or in one namespace (and whether it is protected). */
export type BindingScope = { cluster: true } | { cluster: false; namespace: string; protected: boolean };

/** A power that makes whoever holds it able to grant themselves more than a policy author could. */
export interface DangerousPower {
  /** The SubjectAccessReview that detects it in an identity (name '' = every name). */
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  /** Only dangerous cluster-wide (a namespaced grant of it is the namespace's own business). */
  readonly clusterOnly?: boolean;
  /** Human-readable, for status messages. */
  readonly description: string;
}

const RBAC = 'rbac.authorization.k8s.io';
const AUTHN = 'authentication.k8s.io';

/**
 * The powers reviewed for every target identity and looked for in every bound ClusterRole. Each is
 * a single authorization check, so an identity holds it exactly when one of its rules grants it:
 * RBAC is additive, and a combination of identities holds it only if one of them does.
 */
export const DANGEROUS_POWERS: readonly DangerousPower[] = [
  { verb: '*', group: '*', resource: '*', description: 'every verb on every resource' },
  { verb: 'escalate', group: RBAC, resource: 'clusterroles', description: 'escalate on clusterroles' },
  { verb: 'escalate', group: RBAC, resource: 'roles', description: 'escalate on roles' },
  { verb: 'bind', group: RBAC, resource: 'clusterroles', description: 'bind on clusterroles' },
  { verb: 'bind', group: RBAC, resource: 'roles', description: 'bind on roles' },
  { verb: 'impersonate', group: '', resource: 'users', description: 'impersonate on users' },
  { verb: 'impersonate', group: '', resource: 'groups', description: 'impersonate on groups' },
  {
    verb: 'impersonate',
    group: '',
    resource: 'serviceaccounts',
    clusterOnly: true,
    description: 'impersonate on serviceaccounts in every namespace',
  },
  {
    verb: 'impersonate:user-info',
    group: AUTHN,
    resource: 'users',
    description: 'constrained impersonation (impersonate:user-info) on users',
  },
  {
    verb: 'impersonate:serviceaccount',
    group: AUTHN,
    resource: 'serviceaccounts',
    clusterOnly: true,
    description: 'constrained impersonation of service accounts in every namespace',
  },
  {
    verb: 'create',
    group: RBAC,
    resource: 'clusterrolebindings',
    clusterOnly: true,
    description: 'create on clusterrolebindings (cluster-wide RBAC writes)',
  },
  {
    verb: 'update',
    group: RBAC,
    resource: 'clusterroles',
    clusterOnly: true,
    description: 'update on clusterroles (cluster-wide RBAC writes)',
  },
  {
    verb: 'create',
    group: '',
    resource: 'serviceaccounts',
    subresource: 'token',
    clusterOnly: true,
    description: 'create on serviceaccounts/token in every namespace',
  },
  {
    verb: 'get',
    group: '',
    resource: 'secrets',
    clusterOnly: true,
    description: 'get on secrets in every namespace',
  },
];

/** Powers that matter in a protected namespace (kube-system and the like) even when bound there only. */
const PROTECTED_NAMESPACE_POWERS: readonly DangerousPower[] = DANGEROUS_POWERS.filter(
  (p) => p.resource === 'serviceaccounts' || p.resource === 'secrets',
);

const matches = (values: readonly string[] | undefined, wanted: string): boolean =>
  (values ?? []).some((v) => v === '*' || v === wanted);

/** Does any rule grant this power on every name (rules limited by resourceNames do not)? */
function grants(rules: readonly RuleLike[], power: DangerousPower): boolean {
  const resource = power.subresource ? `${power.resource}/${power.subresource}` : power.resource;
  return rules.some((r) => {
    if ((r.resourceNames ?? []).length > 0) return false;
    const verbs = r.verbs ?? [];
    const verbOk =
      power.verb === '*'
        ? verbs.includes('*')
        : verbs.some(
            (v) =>
              v === '*' ||
              v === power.verb ||
              (power.verb.startsWith('impersonate') && v.startsWith('impersonate')),
          );
    const groupOk =
      power.group === '*' ? (r.apiGroups ?? []).includes('*') : matches(r.apiGroups, power.group);
    const resources = r.resources ?? [];
    const resourceOk =
      power.resource === '*'
        ? resources.includes('*')
        : resources.some(
            (x) =>
              x === '*' || x === resource || (power.subresource === undefined && x === `${power.resource}/*`),
          );
    return verbOk && groupOk && resourceOk;
  });
}

/** The dangerous powers these rules carry when bound in `scope`, as descriptions (empty: none). */
export function dangerousPowersOf(rules: readonly RuleLike[], scope: BindingScope): string[] {
  const relevant = scope.cluster
    ? DANGEROUS_POWERS
    : [
        ...DANGEROUS_POWERS.filter((p) => !p.clusterOnly),
        ...(scope.protected ? PROTECTED_NAMESPACE_POWERS : []),
      ];
  return [...new Set(relevant.filter((p) => grants(rules, p)).map((p) => p.description))];
}
