// Asks the API server whether a policy's target identities already hold cluster-admin powers
// (DANGEROUS_POWERS), one SubjectAccessReview per identity and power, and remembers the answers for
// a while: a policy naming 200 users costs its SubjectAccessReviews once, and an idle operator
// (resyncs of unchanged policies) asks nothing until an answer is older than the TTL.
import { DANGEROUS_POWERS, type TargetIdentity } from '../core/index.js';
import { reviewAccess, type ResourceAttributes, type ReviewedUser } from '../kube/access-review.js';
import type { KubeClient } from '../kube/client.js';

/** The user a target is reviewed as: what the API server makes of an impersonated request for it. */
function reviewedUser(target: TargetIdentity): ReviewedUser {
  switch (target.kind) {
    case 'User':
      return { username: target.name, groups: ['system:authenticated'] };
    case 'Group':
      // Only the group (and what every impersonated user gets): the group's own powers.
      return { username: '', groups: [target.name, 'system:authenticated'] };
    case 'ServiceAccount':
      return {
        username: `system:serviceaccount:${target.namespace}:${target.name}`,
        groups: [
          'system:serviceaccounts',
          `system:serviceaccounts:${target.namespace}`,
          'system:authenticated',
        ],
      };
  }
}

const ATTRIBUTES: readonly ResourceAttributes[] = DANGEROUS_POWERS.map((p) => ({
  verb: p.verb,
  group: p.group,
  resource: p.resource,
  ...(p.subresource === undefined ? {} : { subresource: p.subresource }),
}));

export const targetKey = (t: TargetIdentity): string =>
  t.kind === 'ServiceAccount' ? `ServiceAccount/${t.namespace}/${t.name}` : `${t.kind}/${t.name}`;

interface Answer {
  powers: readonly string[];
  expiresAt: number;
}

export interface TargetReviewerOptions {
  client: Pick<KubeClient, 'request'>;
  ttlMs: number;
  /** SubjectAccessReviews in flight at once, over all identities of one call. */
  concurrency?: number;
  clock?: () => number;
  /** Called with the number of SubjectAccessReviews sent (metrics, benchmark). */
  onReviewed?: (count: number) => void;
}

export class TargetReviewer {
  private readonly answers = new Map<string, Answer>();
  private readonly inFlight = new Map<string, Promise<readonly string[]>>();
  private readonly clock: () => number;

  constructor(private readonly opts: TargetReviewerOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  private async review(target: TargetIdentity): Promise<readonly string[]> {
    const allowed = await reviewAccess(this.opts.client, reviewedUser(target), ATTRIBUTES, {
      concurrency: ATTRIBUTES.length,
    });
    this.opts.onReviewed?.(ATTRIBUTES.length);
    return DANGEROUS_POWERS.filter((_, i) => allowed[i]).map((p) => p.description);
  }

  /**
   * Makes sure every target has a fresh answer and returns a synchronous lookup for the core. Any
   * failed review rejects: the caller retries, and nothing is provisioned on a guess.
   */
  async prepare(
    targets: readonly TargetIdentity[],
  ): Promise<(t: TargetIdentity) => readonly string[] | undefined> {
    const now = this.clock();
    const pending: Promise<void>[] = [];
    const unique = new Map(targets.map((t) => [targetKey(t), t]));
    const identities = [...unique.values()];
    // Bounded: at most `concurrency` identities at once (each sends all its reviews in parallel).
    const limit = Math.max(1, Math.floor((this.opts.concurrency ?? 32) / ATTRIBUTES.length) || 1);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < identities.length) {
        const target = identities[next++]!;
        const key = targetKey(target);
        const known = this.answers.get(key);
        if (known && known.expiresAt > now) continue;
        let flight = this.inFlight.get(key);
        if (!flight) {
          flight = this.review(target).finally(() => this.inFlight.delete(key));
          this.inFlight.set(key, flight);
        }
        const powers = await flight;
        this.answers.set(key, { powers, expiresAt: this.clock() + this.opts.ttlMs });
      }
    };
    for (let i = 0; i < Math.min(limit, identities.length); i++) pending.push(worker());
    await Promise.all(pending);
    // A snapshot: a sweep after this point must not turn "powerful" into "not reviewed".
    const snapshot = new Map(identities.map((t) => [targetKey(t), this.answers.get(targetKey(t))?.powers]));
    return (t) => snapshot.get(targetKey(t));
  }

  /** Drops expired answers (call now and then). */
  sweep(): void {
    const now = this.clock();
    for (const [key, answer] of this.answers) if (answer.expiresAt <= now) this.answers.delete(key);
  }
}
