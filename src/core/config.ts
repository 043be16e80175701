// The operator-level settings the core needs (parsed from flags/env elsewhere and passed in).

export interface CoreConfig {
  /** Target ClusterRoles no policy may bind (exact names). */
  readonly deniedClusterRoles: readonly string[];
  /** `system:` users and groups a policy may let impersonators become (exact names). */
  readonly allowedSystemIdentities: readonly string[];
  /** Namespaces whose service accounts are never targets, and where powerful roles are never bound. */
  readonly protectedNamespaces: readonly string[];
  /** The operator's own opt-in to `targets.allowAnyUser` (flag --allow-any-user). */
  readonly allowAnyUser: boolean;
}

export const DEFAULT_DENIED_CLUSTER_ROLES: readonly string[] = ['cluster-admin'];
export const DEFAULT_ALLOWED_SYSTEM_IDENTITIES: readonly string[] = ['system:authenticated'];

export const DEFAULT_PROTECTED_NAMESPACES: readonly string[] = [
  'kube-system',
  'kube-public',
  'kube-node-lease',
];

export const DEFAULT_CORE_CONFIG: CoreConfig = {
  deniedClusterRoles: DEFAULT_DENIED_CLUSTER_ROLES,
  allowedSystemIdentities: DEFAULT_ALLOWED_SYSTEM_IDENTITIES,
  protectedNamespaces: DEFAULT_PROTECTED_NAMESPACES,
  allowAnyUser: false,
};
