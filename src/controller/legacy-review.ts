// Constrained policies: does an impersonator also hold the legacy `impersonate` verb on a target,
// through any RBAC in the cluster (another policy, a hand-written binding, cluster-admin)? The API
// server falls back to it when the constrained checks fail, so such a grant defeats the constraint.
// One SubjectAccessReview per (impersonator, target), answers (with the authorizer's reason, which
// names the binding) reused for `ttlMs`.
import type { Subject, TargetIdentity } from '../core/index.js';
import { reviewWithReason, type ResourceAttributes, type ReviewedUser } from '../kube/access-review.js';
import type { KubeClient } from '../kube/client.js';

const targetKey = (t: TargetIdentity): string =>
  t.kind === 'ServiceAccount' ? `ServiceAccount/${t.namespace}/${t.name}` : `${t.kind}/${t.name}`;

/** The impersonator as the API server authenticates it (its own groups plus system:authenticated). */
function impersonatorUser(s: Subject): ReviewedUser {
  switch (s.kind) {
    case 'User':
      return { username: s.name, groups: ['system:authenticated'] };
    case 'Group':
      return { username: '', groups: [s.name, 'system:authenticated'] };
    case 'ServiceAccount': {
      const ns = s.namespace ?? '';
      return {
        username: `system:serviceaccount:${ns}:${s.name}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
      };
    }
  }
}

/** The legacy check the API server makes for impersonating the target (core group). */
function legacyAttributes(t: TargetIdentity): ResourceAttributes {
  switch (t.kind) {
    case 'User':
      return { verb: 'impersonate', group: '', resource: 'users', name: t.name };
    case 'Group':
      return { verb: 'impersonate', group: '', resource: 'groups', name: t.name };
    case 'ServiceAccount':
      return {
        verb: 'impersonate',
        group: '',
        resource: 'serviceaccounts',
        namespace: t.namespace,
        name: t.name,
      };
  }
}

const subjectKey = (s: Subject) => `${s.kind}/${s.namespace ?? ''}/${s.name}`;

export class LegacyGrantReviewer {
  private readonly answers = new Map<string, { reason: string | null; expiresAt: number }>();

  constructor(
    private readonly opts: { client: Pick<KubeClient, 'request'>; ttlMs: number; clock?: () => number },
  ) {}

  /** Reviews every pair (errors reject: the reconcile is retried) and returns a lookup for the core. */
  async prepare(
    impersonators: readonly Subject[],
    targets: readonly TargetIdentity[],
  ): Promise<(i: Subject, t: TargetIdentity) => string | null | undefined> {
    const clock = this.opts.clock ?? Date.now;
    const now = clock();
    const snapshot = new Map<string, string | null>();
    const pairs = impersonators.flatMap((i) => targets.map((t) => [i, t] as const));
    await Promise.all(
      pairs.map(async ([i, t]) => {
        const key = `${subjectKey(i)}|${targetKey(t)}`;
        let known = this.answers.get(key);
        if (known === undefined || known.expiresAt <= now) {
          const r = await reviewWithReason(this.opts.client, impersonatorUser(i), legacyAttributes(t));
          known = { reason: r.allowed ? r.reason : null, expiresAt: clock() + this.opts.ttlMs };
          this.answers.set(key, known);
        }
        snapshot.set(key, known.reason);
      }),
    );
    return (i, t) => snapshot.get(`${subjectKey(i)}|${targetKey(t)}`);
  }
}
