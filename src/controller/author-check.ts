// No confused deputy: a policy is provisioned only if its author could grant, by themselves, what it
// makes the operator grant. The author is the userInfo the chart's MutatingAdmissionPolicy stamped
// on the policy (AUTHOR_ANNOTATION) at its last spec change; the API server's own authorizer answers,
// through SubjectAccessReviews, whether that author may `impersonate` every target and `bind` every
// target ClusterRole where the policy binds it.
//
// Why `bind` and not also "holds every permission of the role" (the API server's escalation check
// accepts either): mirroring the second needs one review per rule of the role, the role's rules can
// change after the check (aggregation, an admin's edit) while the bindings stay, and wildcard or
// non-resource rules cannot be asked as single SubjectAccessReviews without re-implementing RBAC's
// rule covering. `bind` on the role's name is an explicit, stable grant; an author who holds the
// role's rights can be given it. (cluster-admin has it through '*'.)
//
// Reviews run once per (policy uid, generation, stamp): an idle operator sends none (they are
// creates). Answers are also cached per (author, attribute) for `cacheTtlMs`, so policies by one author
// share them. A restart runs the reviews again, with the author's rights of that moment.
import { AUTHOR_ANNOTATION, type ImpersonationPolicySpec } from '../api/index.js';
import { derivedGroups, type PeerPolicy, type Problem } from '../core/index.js';
import { reviewAccess, type ResourceAttributes, type ReviewedUser } from '../kube/access-review.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import type { ReadonlyDeep } from '../kube/types.js';
import type { PolicyObject } from './policy-index.js';

export type AuthorProblem = Problem<'AuthorCheckFailed' | 'AuthorNotPermitted'>;

export interface AuthorCheckOptions {
  client: Pick<KubeClient, 'request'>;
  /** Authors (usernames, exact) whose policies are provisioned without reviews. */
  exemptUsers?: readonly string[];
  /** How long one review's answer is reused for the same author and attribute. */
  cacheTtlMs?: number;
  /** Reviews in flight at once per policy. */
  concurrency?: number;
  now?: () => number;
  /** Called once per review actually sent (metrics, benchmarks). */
  onReview?: (allowed: boolean) => void;
}

/** One thing the policy grants, as the review that asks whether the author may grant it. */
export interface AuthorEntry {
  /** How the status names it, e.g. `impersonate user alice`, `bind ClusterRole edit in namespace a`. */
  label: string;
  attributes: ResourceAttributes;
}

const CORE = '';
const AUTHN = 'authentication.k8s.io';
const RBAC = 'rbac.authorization.k8s.io';
const MAX_NAMED = 10;

/** Every review the spec needs, in spec order, de-duplicated. */
export function authorEntries(spec: ImpersonationPolicySpec): AuthorEntry[] {
  const out = new Map<string, AuthorEntry>();
  const add = (label: string, attributes: ResourceAttributes) => {
    if (!out.has(label)) out.set(label, { label, attributes });
  };
  // A constrained policy grants the constrained verbs (see constrainedAuthorEntries), in AUTHN.
  const mode = (resource: string) => (resource === 'serviceaccounts' ? 'serviceaccount' : 'user-info');
  const impersonate = (resource: string, group: string, extra: Partial<ResourceAttributes> = {}) =>
    spec.allowedActions === undefined
      ? { verb: 'impersonate', group, resource, ...extra }
      : { verb: `impersonate:${mode(resource)}`, group: AUTHN, resource, ...extra };
  const t = spec.targets;
  if (t.allowAnyUser) add('impersonate any user', impersonate('users', CORE));
  for (const u of t.users ?? []) add(`impersonate user ${u}`, impersonate('users', CORE, { name: u }));
  for (const g of [...(t.groups ?? []), ...derivedGroups(spec)]) {
    add(`impersonate group ${g}`, impersonate('groups', CORE, { name: g }));
  }
  for (const sa of t.serviceAccounts ?? []) {
    add(
      `impersonate serviceaccount ${sa.namespace}/${sa.name}`,
      impersonate('serviceaccounts', CORE, { namespace: sa.namespace, name: sa.name }),
    );
  }
  for (const u of t.uids ?? []) add(`impersonate uid ${u}`, impersonate('uids', AUTHN, { name: u }));
  for (const e of t.userExtras ?? []) {
    for (const v of e.values) {
      add(
        `impersonate userextra ${e.key}=${v}`,
        impersonate('userextras', AUTHN, { subresource: e.key, name: v }),
      );
    }
  }
  for (const role of spec.roles) {
    for (const c of role.clusterRoles) {
      const bind = (namespace?: string): ResourceAttributes => ({
        verb: 'bind',
        group: RBAC,
        resource: 'clusterroles',
        name: c,
        ...(namespace ? { namespace } : {}),
      });
      const namespaces = role.namespaces ?? [];
      if (namespaces.length === 0) add(`bind ClusterRole ${c}`, bind());
      for (const ns of namespaces) add(`bind ClusterRole ${c} in namespace ${ns}`, bind(ns));
    }
  }
  for (const e of constrainedAuthorEntries(spec)) add(e.label, e.attributes);
  return [...out.values()];
}

/**
 * A constrained policy's actions: the author must hold impersonate-on:<mode>:<verb> on each of them
 * (each verb, API group, resource and name, in each namespace or cluster-wide), for each mode its
 * targets use, exactly what the API server's escalation check would ask of them.
 */
function constrainedAuthorEntries(spec: ImpersonationPolicySpec): AuthorEntry[] {
  if (spec.allowedActions === undefined) return [];
  const t = spec.targets;
  const modes = [
    ...(t.allowAnyUser ||
    t.users.length + t.groups.length + t.uids.length + t.userExtras.length > 0 ||
    spec.roles.length > 0
      ? ['user-info']
      : []),
    ...(t.serviceAccounts.length > 0 ? ['serviceaccount'] : []),
  ];
  const entries: AuthorEntry[] = [];
  for (const a of spec.allowedActions) {
    const names: (string | undefined)[] = a.resourceNames.length === 0 ? [undefined] : a.resourceNames;
    const scopes: (string | undefined)[] = a.namespaces.length === 0 ? [undefined] : a.namespaces;
    for (const m of modes)
      for (const verb of a.verbs)
        for (const group of a.apiGroups)
          for (const full of a.resources)
            for (const name of names)
              for (const namespace of scopes) {
                const [resource = full, subresource] = full.split('/');
                const verbOn = `impersonate-on:${m}:${verb}`;
                entries.push({
                  label:
                    `${verbOn} ${group === '' ? '' : `${group}/`}${full}` +
                    (name === undefined ? '' : ` ${name}`) +
                    (namespace === undefined ? '' : ` in namespace ${namespace}`),
                  attributes: {
                    verb: verbOn,
                    group,
                    resource,
                    ...(subresource === undefined ? {} : { subresource }),
                    ...(name === undefined ? {} : { name }),
                    ...(namespace === undefined ? {} : { namespace }),
                  },
                });
              }
  }
  return entries;
}

/**
 * Reads the stamp. It is JSON built in CEL with `strings.quote`, which escapes like Go: `\a` and `\v`
 * (not JSON) and raw control characters are turned into `\u` escapes before JSON.parse.
 */
export function parseAuthorStamp(value: string | undefined): ReviewedUser | undefined {
  if (value === undefined || value === '') return undefined;
  let json = '';
  let inString = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (inString && c === '\\') {
      const next = value[i + 1] ?? '';
      json += next === 'a' ? '\\u0007' : next === 'v' ? '\\u000b' : `\\${next}`;
      i++;
    } else if (inString && c.charCodeAt(0) < 0x20) {
      json += `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    } else {
      if (c === '"') inString = !inString;
      json += c;
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const p = parsed as Record<string, unknown>;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (typeof p.username !== 'string' || p.username === '') return undefined;
  if (p.uid !== undefined && typeof p.uid !== 'string') return undefined;
  if (p.groups !== undefined && !strings(p.groups)) return undefined;
  const extra: Record<string, string[]> = {};
  if (p.extra !== undefined) {
    if (typeof p.extra !== 'object' || p.extra === null || Array.isArray(p.extra)) return undefined;
    for (const [k, v] of Object.entries(p.extra as Record<string, unknown>)) {
      if (!strings(v)) return undefined;
      extra[k] = v;
    }
  }
  return {
    username: p.username,
    ...(typeof p.uid === 'string' && p.uid !== '' ? { uid: p.uid } : {}),
    groups: (p.groups as string[] | undefined) ?? [],
    extra,
  };
}

function describeAuthor(user: ReviewedUser): string {
  const groups = (user.groups ?? []).filter((g) => g !== 'system:authenticated');
  return groups.length > 0 ? `'${user.username}' (groups ${groups.join(', ')})` : `'${user.username}'`;
}

interface Verdict {
  key: string;
  problem: AuthorProblem | undefined;
}

/** One verdict per policy uid, generation and author stamp. */
function verdictKey(policy: ReadonlyDeep<PolicyObject>): string {
  const stamp = policy.metadata?.annotations?.[AUTHOR_ANNOTATION];
  return `${policy.metadata?.uid ?? ''}/${policy.metadata?.generation ?? 0}/${stamp ?? ''}`;
}

export class AuthorCheck {
  private readonly verdicts = new Map<string, Verdict>();
  private readonly pending = new Map<string, Promise<AuthorProblem | undefined>>();
  private readonly answers = new Map<string, { allowed: boolean; expires: number }>();
  private readonly exempt: ReadonlySet<string>;
  private readonly ttl: number;
  private readonly now: () => number;

  constructor(private readonly opts: AuthorCheckOptions) {
    this.exempt = new Set(opts.exemptUsers ?? []);
    this.ttl = opts.cacheTtlMs ?? 5 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Forgets a deleted policy's verdict. */
  forget(name: string): void {
    this.verdicts.delete(name);
  }

  /**
   * undefined: the author may grant everything the spec names. Otherwise the Stalled problem (nothing
   * of the policy may be provisioned). Rejects when a review could not be sent (the queue retries).
   */
  async judge(
    policy: ReadonlyDeep<PolicyObject>,
    spec: ImpersonationPolicySpec,
  ): Promise<AuthorProblem | undefined> {
    const name = policy.metadata?.name ?? '';
    const stamp = policy.metadata?.annotations?.[AUTHOR_ANNOTATION];
    const key = verdictKey(policy);
    const known = this.verdicts.get(name);
    if (known?.key === key) return known.problem;
    // A policy is judged by its own reconcile and as a peer of others: one round of reviews for both.
    const pendingKey = `${name}|${key}`;
    let pending = this.pending.get(pendingKey);
    if (!pending) {
      pending = this.judgeNow(name, key, stamp, spec).finally(() => this.pending.delete(pendingKey));
      this.pending.set(pendingKey, pending);
    }
    return pending;
  }

  private async judgeNow(
    name: string,
    key: string,
    stamp: string | undefined,
    spec: ImpersonationPolicySpec,
  ): Promise<AuthorProblem | undefined> {
    let problem: AuthorProblem | undefined;
    try {
      problem = await this.decide(stamp, spec);
    } catch (err) {
      // The operator itself may not ask (chart RBAC older than the check): say so, and ask again on the
      // next reconcile (resync) instead of remembering it. Other errors go back to the queue.
      if (!(err instanceof KubeApiError) || err.code !== 403) throw err;
      return {
        reason: 'AuthorCheckFailed',
        message:
          'Nothing is provisioned: the operator may not create SubjectAccessReviews to check the ' +
          `policy's author (${err.message}); grant it create on subjectaccessreviews.authorization.k8s.io.`,
      };
    }
    this.verdicts.set(name, { key, problem });
    return problem;
  }

  /**
   * The peers whose authors may grant them: a refused policy provisions nothing, so it must not hold
   * back another policy's groups either (a collision caused by a policy that has no effect). A peer
   * whose verdict changes without a change of its groups is seen here at this policy's next reconcile
   * (resync).
   */
  async admitted(
    peers: readonly PeerPolicy[],
    lookup: (name: string) => ReadonlyDeep<PolicyObject> | undefined,
  ): Promise<PeerPolicy[]> {
    const verdicts = await Promise.all(
      peers.map(async (peer) => {
        const object = lookup(peer.metadata.name);
        return object !== undefined && (await this.judge(object, peer.spec)) === undefined;
      }),
    );
    return peers.filter((_, i) => verdicts[i]);
  }

  private async decide(
    stamp: string | undefined,
    spec: ImpersonationPolicySpec,
  ): Promise<AuthorProblem | undefined> {
    const author = parseAuthorStamp(stamp);
    if (!author) {
      return {
        reason: 'AuthorCheckFailed',
        message:
          `Nothing is provisioned: the policy has ${stamp === undefined ? 'no' : 'an unreadable'} author ` +
          `stamp (annotation ${AUTHOR_ANNOTATION}), so the operator cannot check that its author may grant ` +
          'it. The stamp is written at admission by the chart’s MutatingAdmissionPolicy; make sure it is ' +
          'installed, then write the policy again as an author who may grant it (any change stamps a ' +
          'policy that has none, e.g. kubectl annotate).',
      };
    }
    if (this.exempt.has(author.username)) return undefined;
    const entries = authorEntries(spec);
    const allowed = await this.review(author, entries);
    const refused = entries.filter((_, i) => !allowed[i]).map((e) => e.label);
    if (refused.length === 0) return undefined;
    const named = refused.slice(0, MAX_NAMED).join('; ');
    const more = refused.length > MAX_NAMED ? `; and ${refused.length - MAX_NAMED} more` : '';
    return {
      reason: 'AuthorNotPermitted',
      message:
        `Nothing is provisioned: the policy's author ${describeAuthor(author)} may not grant ` +
        `${refused.length} of its ${entries.length} entries themselves: ${named}${more}. An author must be ` +
        'allowed to impersonate every target and bind every target ClusterRole where the policy binds it.',
    };
  }

  private async review(author: ReviewedUser, entries: readonly AuthorEntry[]): Promise<boolean[]> {
    const authorKey = JSON.stringify([
      author.username,
      author.uid ?? '',
      [...(author.groups ?? [])].sort(),
      Object.entries(author.extra ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    ]);
    const now = this.now();
    const results = new Array<boolean>(entries.length);
    const missing: number[] = [];
    entries.forEach((e, i) => {
      const hit = this.answers.get(`${authorKey}|${e.label}`);
      if (hit && hit.expires > now) results[i] = hit.allowed;
      else missing.push(i);
    });
    if (missing.length > 0) {
      const answers = await reviewAccess(
        this.opts.client,
        author,
        missing.map((i) => entries[i]!.attributes),
        this.opts.concurrency === undefined ? {} : { concurrency: this.opts.concurrency },
      );
      const expires = this.now() + this.ttl;
      missing.forEach((i, j) => {
        results[i] = answers[j]!;
        this.answers.set(`${authorKey}|${entries[i]!.label}`, { allowed: answers[j]!, expires });
        this.opts.onReview?.(answers[j]!);
      });
      this.sweep(now);
    }
    return results;
  }

  /** Drops expired answers so the cache stays bounded by what was asked within one TTL. */
  private sweep(now: number): void {
    for (const [k, v] of this.answers) if (v.expires <= now) this.answers.delete(k);
  }
}
