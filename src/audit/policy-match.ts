// Compares what the audit log shows with what a set of policies grants. The grants are the RBAC
// objects the operator's core generates for the policies; this module only evaluates them the way
// the API server's RBAC authorizer and impersonation filter do. Pure: no I/O.
import type { ClusterRole, RbacObject, Role, Subject } from '../core/index.js';
import type { AttemptedTarget, AuditRecord, Identity, ImpersonatedRequest } from './event.js';
import { identityKey, type TimeRange } from './summary.js';

/** The RBAC objects one policy generates (from the core's desiredRbac). */
export interface PolicyRbac {
  policy: string;
  objects: readonly RbacObject[];
  /** When the policy is in force (spec.validFrom/validUntil/suspend); absent: always. */
  window?: PolicyWindow;
}

/** A policy's lifetime as the audit sees it: epoch ms bounds, [from, until), and the pause switch. */
export interface PolicyWindow {
  from?: number;
  until?: number;
  /** spec.suspend as the files say it now: a suspended policy grants nothing at any time. */
  suspended?: boolean;
}

/** Whether a policy with this window grants at `time` (epoch ms; unknown time: in force unless suspended). */
export function inForceAt(window: PolicyWindow | undefined, time: number | undefined): boolean {
  if (window === undefined) return true;
  if (window.suspended === true) return false;
  if (time === undefined) return true;
  return (
    (window.from === undefined || time >= window.from) && (window.until === undefined || time < window.until)
  );
}

/** One impersonation authorization check, as the API server's impersonation filter makes it. */
export interface ImpersonationCheck {
  /** `users`, `groups`, `serviceaccounts`, `uids`, `userextras/<key>`. */
  resource: string;
  apiGroup: string;
  name: string;
  /** Only for service accounts. */
  namespace: string;
  /** The verb checked: `impersonate` (legacy, the default) or a constrained `impersonate:<mode>`. */
  verb?: string;
}

const AUTHENTICATION_GROUP = 'authentication.k8s.io';
const SA_PREFIX = 'system:serviceaccount:';
const AUTHENTICATED = 'system:authenticated';

function apiGroupOf(resource: string): string {
  return resource === 'uids' || resource.startsWith('userextras/') ? AUTHENTICATION_GROUP : '';
}

/**
 * The checks the impersonation filter made to let a request act as `target`. Groups the API
 * server adds by itself are not checked: system:authenticated always, and a service account's
 * system:serviceaccounts and system:serviceaccounts:<namespace> when no group was asked for
 * (the audit log cannot tell an explicitly sent system:authenticated from the added one).
 */
export function impersonationChecks(target: Identity, constraint?: string): ImpersonationCheck[] {
  const checks = legacyChecks(target);
  // Constrained impersonation checks the same fields with its own verb, all in authentication.k8s.io.
  if (constraint === undefined) return checks;
  return checks.map((c) => ({ ...c, apiGroup: AUTHENTICATION_GROUP, verb: constraint }));
}

function legacyChecks(target: Identity): ImpersonationCheck[] {
  const checks: ImpersonationCheck[] = [];
  let saGroups: string[] = [];
  if (target.username.startsWith(SA_PREFIX)) {
    const rest = target.username.slice(SA_PREFIX.length);
    const colon = rest.indexOf(':');
    const namespace = rest.slice(0, colon);
    checks.push({ resource: 'serviceaccounts', apiGroup: '', name: rest.slice(colon + 1), namespace });
    saGroups = ['system:serviceaccounts', `system:serviceaccounts:${namespace}`];
  } else {
    checks.push({ resource: 'users', apiGroup: '', name: target.username, namespace: '' });
  }
  const groups = [...new Set(target.groups)].filter((g) => g !== AUTHENTICATED);
  const onlyAdded =
    saGroups.length > 0 && groups.length === saGroups.length && saGroups.every((g) => groups.includes(g));
  if (!onlyAdded) {
    for (const g of groups.sort()) checks.push({ resource: 'groups', apiGroup: '', name: g, namespace: '' });
  }
  if (target.uid)
    checks.push({ resource: 'uids', apiGroup: AUTHENTICATION_GROUP, name: target.uid, namespace: '' });
  for (const [key, values] of Object.entries(target.extra ?? {})) {
    for (const v of values) {
      checks.push({ resource: `userextras/${key}`, apiGroup: AUTHENTICATION_GROUP, name: v, namespace: '' });
    }
  }
  return checks;
}

export function checkOfAttempt(a: AttemptedTarget): ImpersonationCheck {
  return { resource: a.resource, apiGroup: apiGroupOf(a.resource), name: a.name, namespace: a.namespace };
}

function subjectMatches(s: Subject, who: Identity): boolean {
  switch (s.kind) {
    case 'User':
      return s.name === who.username;
    case 'Group':
      return who.groups.includes(s.name);
    case 'ServiceAccount':
      return who.username === `${SA_PREFIX}${s.namespace ?? ''}:${s.name}`;
  }
}

const has = (list: readonly string[], value: string): boolean => list.includes(value) || list.includes('*');

/** The rule's grant key when it allows the check (rbac RuleAllows for verb impersonate), else undefined. */
function allowingGrant(role: ClusterRole | Role, check: ImpersonationCheck): string | undefined {
  for (const rule of role.rules) {
    if (
      !has(rule.verbs, check.verb ?? 'impersonate') ||
      !has(rule.apiGroups, check.apiGroup) ||
      !has(rule.resources, check.resource)
    ) {
      continue;
    }
    if (rule.resourceNames === undefined || rule.resourceNames.length === 0)
      return grantKey(check.resource, '', '*');
    if (rule.resourceNames.includes(check.name)) return grantKey(check.resource, check.namespace, check.name);
  }
  return undefined;
}

function grantKey(resource: string, namespace: string, name: string): string {
  return `${resource}\0${namespace}\0${name}`;
}

interface Binding {
  kind: 'ClusterRoleBinding' | 'RoleBinding';
  name: string;
  namespace: string;
  subjects: Subject[];
  role: ClusterRole | Role | undefined;
}

interface IndexedPolicy {
  policy: string;
  window?: PolicyWindow;
  bindings: Binding[];
  /** Every impersonation grant (resource, namespace, name; `*` for the any-user rule). */
  grants: Map<string, { resource: string; namespace: string; name: string }>;
  /** Bindings of role groups to target ClusterRoles, by the name the authorizer reports (`name` or `name/namespace`). */
  groupBindings: Map<
    string,
    { kind: string; name: string; namespace: string; group: string; clusterRole: string }
  >;
  /** Constrained policies: the users and service accounts they grant (grant keys), else undefined. */
  constrainedTargets?: Set<string>;
}

function indexPolicy(p: PolicyRbac): IndexedPolicy {
  const clusterRoles = new Map<string, ClusterRole>();
  const roles = new Map<string, Role>();
  for (const o of p.objects) {
    if (o.kind === 'ClusterRole') clusterRoles.set(o.metadata.name, o);
    if (o.kind === 'Role') roles.set(`${o.metadata.namespace}/${o.metadata.name}`, o);
  }
  const bindings: Binding[] = [];
  const grants: IndexedPolicy['grants'] = new Map();
  const groupBindings: IndexedPolicy['groupBindings'] = new Map();
  for (const o of p.objects) {
    if (o.kind !== 'ClusterRoleBinding' && o.kind !== 'RoleBinding') continue;
    const namespace = o.kind === 'RoleBinding' ? o.metadata.namespace : '';
    const role =
      o.roleRef.kind === 'ClusterRole'
        ? clusterRoles.get(o.roleRef.name)
        : roles.get(`${namespace}/${o.roleRef.name}`);
    bindings.push({ kind: o.kind, name: o.metadata.name, namespace, subjects: o.subjects, role });
    const group = o.subjects.find((s) => s.kind === 'Group');
    if (role === undefined && group !== undefined && o.roleRef.kind === 'ClusterRole') {
      const reported = namespace === '' ? o.metadata.name : `${o.metadata.name}/${namespace}`;
      groupBindings.set(`${o.kind}\0${reported}`, {
        kind: o.kind,
        name: o.metadata.name,
        namespace,
        group: group.name,
        clusterRole: o.roleRef.name,
      });
    }
  }
  for (const o of [...clusterRoles.values(), ...roles.values()]) {
    const namespace = o.kind === 'Role' ? o.metadata.namespace : '';
    for (const rule of o.rules) {
      if (!rule.verbs.some((v) => v === 'impersonate' || /^impersonate:/.test(v))) continue;
      for (const resource of rule.resources) {
        const names =
          rule.resourceNames === undefined || rule.resourceNames.length === 0 ? ['*'] : rule.resourceNames;
        for (const name of names) {
          const ns = name === '*' ? '' : namespace;
          grants.set(grantKey(resource, ns, name), { resource, namespace: ns, name });
        }
      }
    }
  }
  const constrained = p.objects.some(
    (o) => 'rules' in o && o.rules.some((r) => r.verbs.some((v) => v.startsWith('impersonate:'))),
  );
  const constrainedTargets = constrained
    ? new Set(
        [...grants.values()]
          .filter((g) => g.resource === 'users' || g.resource === 'serviceaccounts')
          .map((g) => grantKey(g.resource, g.namespace, g.name)),
      )
    : undefined;
  return {
    policy: p.policy,
    bindings,
    grants,
    groupBindings,
    ...(p.window ? { window: p.window } : {}),
    ...(constrainedTargets ? { constrainedTargets } : {}),
  };
}

/** Policies (and their grant keys) that let `who` pass one check. */
function allowedBy(
  policies: readonly IndexedPolicy[],
  who: Identity,
  check: ImpersonationCheck,
): [string, string][] {
  const out: [string, string][] = [];
  for (const p of policies) {
    for (const b of p.bindings) {
      if (!b.role) continue;
      // A RoleBinding only counts in its namespace: service-account checks carry the SA's namespace.
      if (b.kind === 'RoleBinding' && b.namespace !== check.namespace) continue;
      if (!b.subjects.some((s) => subjectMatches(s, who))) continue;
      const grant = allowingGrant(b.role, check);
      if (grant !== undefined) {
        out.push([p.policy, grant]);
        break;
      }
    }
  }
  return out;
}

const AUTHORIZED_BY = /allowed by (ClusterRoleBinding|RoleBinding) "([^"]+)"/;

export interface NotAllowedImpersonation {
  impersonator: string;
  target: Identity;
  /** The checks no policy grants. */
  missing: ImpersonationCheck[];
  /**
   * Policies that grant every missing check, but not at the time of these requests (outside their
   * spec.validFrom..validUntil window, or suspended): the impersonation happened outside the window.
   */
  outsideWindow?: string[];
  requests: number;
  timeRange?: TimeRange;
}

export interface RefusedButGranted {
  impersonator: string;
  attempted: AttemptedTarget;
  /** Policies that grant it: the API server refused anyway (not provisioned, or held back). */
  policies: string[];
  count: number;
}

export interface UnusedGrant {
  policy: string;
  kind: 'impersonate' | 'binding';
  /** For impersonate: what may be impersonated. */
  resource?: string;
  name?: string;
  namespace?: string;
  /** For binding: the generated binding of a role group to a ClusterRole. */
  binding?: { kind: string; name: string; namespace?: string; group: string; clusterRole: string };
}

/** A constrained policy's impersonator that acted as one of its targets through legacy impersonation. */
export interface LegacyUse {
  policy: string;
  impersonator: string;
  target: string;
  requests: number;
}

export interface PolicyAudit {
  policies: string[];
  /** Constrained policies whose impersonators still use legacy (unconstrained) grants. */
  legacyUse?: LegacyUse[];
  notAllowed: NotAllowedImpersonation[];
  refusedButGranted: RefusedButGranted[];
  unused: UnusedGrant[];
}

interface Verdict {
  missing: ImpersonationCheck[];
  grants: [string, string][];
  /** Policies that would have granted the missing checks, were they in force at the time. */
  outsideWindow: string[];
}

interface NotAllowedAcc {
  impersonator: string;
  target: Identity;
  missing: ImpersonationCheck[];
  outsideWindow: string[];
  requests: number;
  first?: [number, string];
  last?: [number, string];
}

export class PolicyUsage {
  private readonly policies: IndexedPolicy[];
  private readonly verdicts = new Map<string, Verdict>();
  private readonly usedGrants = new Set<string>();
  private readonly usedBindings = new Set<string>();
  private readonly notAllowed = new Map<string, NotAllowedAcc>();
  private readonly refused = new Map<string, RefusedButGranted>();
  private readonly legacyUse = new Map<string, LegacyUse>();

  constructor(policies: readonly PolicyRbac[]) {
    this.policies = policies.map(indexPolicy);
  }

  add(rec: AuditRecord): void {
    if (rec.kind === 'refused') {
      // A refusal outside a policy's window is that policy working, not a grant the server missed.
      const inForce = this.policies.filter((p) => inForceAt(p.window, rec.time));
      const granted = allowedBy(inForce, rec.impersonator, checkOfAttempt(rec.attempted)).map(([p]) => p);
      if (granted.length === 0) return;
      const key = JSON.stringify([rec.impersonator.username, rec.attempted]);
      const acc = this.refused.get(key) ?? {
        impersonator: rec.impersonator.username,
        attempted: rec.attempted,
        policies: granted,
        count: 0,
      };
      acc.count++;
      this.refused.set(key, acc);
      return;
    }
    if (rec.constraint === undefined) this.markLegacyUse(rec);
    const verdict = this.verdictFor(rec);
    for (const [policy, grant] of verdict.grants) this.usedGrants.add(`${policy}\0${grant}`);
    this.markBinding(rec);
    if (verdict.missing.length === 0) return;
    const key = `${rec.impersonator.username}\0${identityKey(rec.target)}\0${verdict.outsideWindow.join(',')}`;
    let acc = this.notAllowed.get(key);
    if (!acc) {
      acc = {
        impersonator: rec.impersonator.username,
        target: { ...rec.target, groups: [...rec.target.groups].sort() },
        missing: verdict.missing,
        outsideWindow: verdict.outsideWindow,
        requests: 0,
      };
      this.notAllowed.set(key, acc);
    }
    acc.requests++;
    if (rec.time !== undefined && rec.timestamp !== undefined) {
      if (!acc.first || rec.time < acc.first[0]) acc.first = [rec.time, rec.timestamp];
      if (!acc.last || rec.time >= acc.last[0]) acc.last = [rec.time, rec.timestamp];
    }
  }

  private verdictFor(rec: ImpersonatedRequest): Verdict {
    // The impersonator's groups matter (Group impersonators), so they are part of the key; so do the
    // constraint the API server recorded and which policies were in force at the time (their windows).
    const inForce = this.policies.filter((p) => inForceAt(p.window, rec.time));
    const key = `${identityKey(rec.impersonator)}\0${identityKey(rec.target)}\0${rec.constraint ?? ''}\0${inForce.map((p) => p.policy).join('\0')}`;
    let v = this.verdicts.get(key);
    if (!v) {
      v = { missing: [], grants: [], outsideWindow: [] };
      for (const check of impersonationChecks(rec.target, rec.constraint)) {
        const by = allowedBy(inForce, rec.impersonator, check);
        if (by.length === 0) v.missing.push(check);
        v.grants.push(...by);
      }
      if (v.missing.length > 0 && inForce.length < this.policies.length) {
        const outside = this.policies.filter((p) => !inForce.includes(p));
        v.outsideWindow = outside
          .filter((p) => v!.missing.every((check) => allowedBy([p], rec.impersonator, check).length > 0))
          .map((p) => p.policy)
          .sort(cmp);
      }
      this.verdicts.set(key, v);
    }
    return v;
  }

  /** Legacy impersonation by an impersonator of a constrained policy, as one of its targets. */
  private markLegacyUse(rec: ImpersonatedRequest): void {
    const first = legacyChecks(rec.target)[0];
    if (first === undefined) return;
    for (const p of this.policies) {
      if (p.constrainedTargets === undefined) continue;
      const target = grantKey(first.resource, first.namespace, first.name);
      const anyUser = first.resource === 'users' && p.constrainedTargets.has(grantKey('users', '', '*'));
      if (!anyUser && !p.constrainedTargets.has(target)) continue;
      if (!p.bindings.some((b) => b.subjects.some((sub) => subjectMatches(sub, rec.impersonator)))) continue;
      const key = `${p.policy}\0${rec.impersonator.username}\0${rec.target.username}`;
      const acc = this.legacyUse.get(key) ?? {
        policy: p.policy,
        impersonator: rec.impersonator.username,
        target: rec.target.username,
        requests: 0,
      };
      acc.requests++;
      this.legacyUse.set(key, acc);
    }
  }

  private markBinding(rec: ImpersonatedRequest): void {
    const m = rec.reason ? AUTHORIZED_BY.exec(rec.reason) : null;
    if (!m) return;
    const key = `${m[1]}\0${m[2]}`;
    for (const p of this.policies) if (p.groupBindings.has(key)) this.usedBindings.add(`${p.policy}\0${key}`);
  }

  report(): PolicyAudit {
    const unused: UnusedGrant[] = [];
    for (const p of this.policies) {
      for (const [key, g] of p.grants) {
        if (this.usedGrants.has(`${p.policy}\0${key}`)) continue;
        // The API server adds system:authenticated itself, so the log cannot show this grant's use.
        if (g.resource === 'groups' && g.name === AUTHENTICATED) continue;
        unused.push({
          policy: p.policy,
          kind: 'impersonate',
          resource: g.resource,
          name: g.name,
          ...(g.namespace === '' ? {} : { namespace: g.namespace }),
        });
      }
      for (const [key, b] of p.groupBindings) {
        if (this.usedBindings.has(`${p.policy}\0${key}`)) continue;
        const { namespace, ...rest } = b;
        unused.push({
          policy: p.policy,
          kind: 'binding',
          binding: { ...rest, ...(namespace === '' ? {} : { namespace }) },
        });
      }
    }
    const notAllowed = [...this.notAllowed.values()]
      .map((a): NotAllowedImpersonation => ({
        impersonator: a.impersonator,
        target: a.target,
        missing: a.missing,
        ...(a.outsideWindow.length > 0 ? { outsideWindow: a.outsideWindow } : {}),
        requests: a.requests,
        ...(a.first && a.last ? { timeRange: { first: a.first[1], last: a.last[1] } } : {}),
      }))
      .sort(
        (a, b) =>
          b.requests - a.requests ||
          cmp(a.impersonator, b.impersonator) ||
          cmp(identityKey(a.target), identityKey(b.target)),
      );
    const refusedButGranted = [...this.refused.values()].sort(
      (a, b) => b.count - a.count || cmp(JSON.stringify(a), JSON.stringify(b)),
    );
    const legacyUse = [...this.legacyUse.values()].sort(
      (a, b) => b.requests - a.requests || cmp(JSON.stringify(a), JSON.stringify(b)),
    );
    return {
      policies: this.policies.map((p) => p.policy),
      ...(legacyUse.length === 0 ? {} : { legacyUse }),
      notAllowed,
      refusedButGranted,
      unused,
    };
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
