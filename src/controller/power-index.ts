// Which identities already hold cluster-admin powers, read from the informer caches: every
// ClusterRoleBinding the operator did not generate, and the rules of the ClusterRoles they bind
// (DANGEROUS_POWERS, judged cluster-wide). A target a policy would let impersonators become is
// refused when one of its bindings grants such a power.
//
// Why an index and not SubjectAccessReviews: the answer costs no request (a policy naming 200 users
// would otherwise send thousands of reviews, and the bulk creation of 1,000 policies tens of
// thousands), it is never stale (a binding that makes a targeted group powerful requeues the
// policies at once, where a cached review would wait for its TTL), and an idle operator asks
// nothing. What it cannot see: grants by authorizers other than RBAC (webhooks), and powers granted
// by RoleBindings, which are namespace-scoped (the protected namespaces cover kube-system & co.).
import { dangerousPowersOf, type RuleLike, type TargetIdentity } from '../core/index.js';
import type { ReadonlyStore } from '../kube/store.js';
import type { KubeObject, ReadonlyDeep } from '../kube/types.js';

interface BindingLike {
  roleRef?: { kind?: string; name?: string };
  subjects?: readonly { kind?: string; name?: string; namespace?: string }[];
}

const AUTHENTICATED = 'system:authenticated';

/** The RBAC subject keys an impersonated request as `target` matches. */
export function subjectKeysOf(target: TargetIdentity): string[] {
  switch (target.kind) {
    case 'User':
      return [`User/${target.name}`, `Group/${AUTHENTICATED}`];
    case 'Group':
      return [`Group/${target.name}`, `Group/${AUTHENTICATED}`];
    case 'ServiceAccount':
      return [
        `ServiceAccount/${target.namespace}/${target.name}`,
        `User/system:serviceaccount:${target.namespace}:${target.name}`,
        'Group/system:serviceaccounts',
        `Group/system:serviceaccounts:${target.namespace}`,
        `Group/${AUTHENTICATED}`,
      ];
  }
}

function subjectKey(s: { kind?: string; name?: string; namespace?: string }): string {
  return s.kind === 'ServiceAccount'
    ? `ServiceAccount/${s.namespace ?? ''}/${s.name ?? ''}`
    : `${s.kind}/${s.name}`;
}

export class PowerIndex {
  /** subject key -> names of the ClusterRoles bound to it (only bindings to ClusterRoles). */
  private bySubject: Map<string, Set<string>> | undefined;

  constructor(
    private readonly bindings: ReadonlyStore<KubeObject>,
    /** ClusterRoles by name (only `get` is used: a lookup may span several caches). */
    private readonly clusterRoles: Pick<ReadonlyStore<KubeObject>, 'get'>,
  ) {}

  private rulesOf(clusterRole: string): readonly RuleLike[] {
    return (this.clusterRoles.get(clusterRole) as { rules?: RuleLike[] } | undefined)?.rules ?? [];
  }

  /** Call when a foreign ClusterRoleBinding changed: the subject map is rebuilt on next use. */
  invalidate(): void {
    this.bySubject = undefined;
  }

  private map(): Map<string, Set<string>> {
    if (this.bySubject) return this.bySubject;
    const map = new Map<string, Set<string>>();
    for (const obj of this.bindings.list()) {
      const b = obj as ReadonlyDeep<BindingLike>;
      if (b.roleRef?.kind !== 'ClusterRole' || !b.roleRef.name) continue;
      for (const s of b.subjects ?? []) {
        const key = subjectKey(s);
        let roles = map.get(key);
        if (!roles) map.set(key, (roles = new Set()));
        roles.add(b.roleRef.name);
      }
    }
    return (this.bySubject = map);
  }

  /** The cluster-admin powers `target` holds through the cluster's ClusterRoleBindings (empty: none). */
  powersOf(target: TargetIdentity): string[] {
    const map = this.map();
    const powers = new Set<string>();
    for (const key of subjectKeysOf(target)) {
      for (const role of map.get(key) ?? []) {
        const rules = this.rulesOf(role);
        for (const p of dangerousPowersOf(rules, { cluster: true })) powers.add(`${p} (ClusterRole ${role})`);
      }
    }
    return [...powers];
  }

  /** Whether a binding to this ClusterRole could make its subjects powerful (worth a requeue). */
  isDangerous(clusterRole: string | undefined): boolean {
    if (!clusterRole) return false;
    const rules = this.rulesOf(clusterRole);
    return dangerousPowersOf(rules, { cluster: true }).length > 0;
  }

  /** Whether any foreign binding references this ClusterRole. */
  isBound(clusterRole: string): boolean {
    for (const roles of this.map().values()) if (roles.has(clusterRole)) return true;
    return false;
  }
}
