// Spec -> what may be provisioned: normalization, collisions and safety, decided once.

import type {
  AllowedAction,
  ConstraintBypass,
  Denial,
  DenialKind,
  ImpersonationPolicySpec,
  RoleGroup,
} from '../api/index.js';
import { collidedGroups, findCollisions } from './collisions.js';
import type { CoreConfig } from './config.js';
import { roleGroupName } from './normalize.js';
import { dangerousPowersOf, type BindingScope, type RuleLike } from './powers.js';
import {
  bindingSubjectVerdict,
  clusterRoleVerdict,
  identityVerdict,
  impersonatorVerdict,
  isForbiddenIdentity,
  serviceAccountNamespaceVerdict,
} from './safety.js';
import type { Verdict } from './safety.js';
import { RBAC_GROUP } from './types.js';
import type {
  GroupBinding,
  ImpersonationConstraint,
  PeerPolicy,
  PolicyDecisions,
  PolicyInput,
  ScopedAction,
  Subject,
} from './types.js';

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sortedUnique = (values: Iterable<string>): string[] => [...new Set(values)].sort(byString);

function denial(
  kind: DenialKind,
  name: string,
  verdict: Verdict & { allowed: false },
  role?: string,
): Denial {
  return {
    kind,
    name,
    ...(role === undefined ? {} : { role }),
    reason: verdict.reason,
    message: verdict.message,
  };
}

function subjectKey(s: Subject): string {
  return `${s.kind}\u0000${s.namespace ?? ''}\u0000${s.name}`;
}

/** Sorted, de-duplicated RBAC subjects. */
export function canonicalSubjects(subjects: Iterable<Subject>): Subject[] {
  const map = new Map<string, Subject>();
  for (const s of subjects) map.set(subjectKey(s), s);
  return [...map.entries()].sort(([a], [b]) => byString(a, b)).map(([, s]) => s);
}

/** A target identity whose powers the API server may be asked about. */
export type TargetIdentity =
  { kind: 'User' | 'Group'; name: string } | { kind: 'ServiceAccount'; namespace: string; name: string };

/**
 * What the cluster says, gathered by the controller before the core decides (the core stays pure).
 * Absent functions or undefined answers mean "not known here" (the offline CLI): the judgement is
 * then skipped and only the static rules apply. The controller always supplies both.
 */
export interface ClusterFacts {
  /** The rules of the ClusterRole: null when it does not exist, undefined when not known. */
  clusterRole?(name: string): readonly RuleLike[] | null | undefined;
  /** The dangerous powers the identity already holds (the cluster's bindings); undefined when not known. */
  targetPowers?(target: TargetIdentity): readonly string[] | undefined;
  /**
   * Whether the impersonator holds the legacy `impersonate` verb on the target anywhere in the
   * cluster: the authorizer's reason (naming the binding) when it does, null when not, undefined
   * when not reviewed.
   */
  legacyGrant?(impersonator: Subject, target: TargetIdentity): string | null | undefined;
  /** Whether the API server enforces constrained impersonation; undefined when not known (offline). */
  constrainedImpersonation?: ConstrainedSupport | undefined;
}

/** The API server's answer for constrained impersonation (see kube/constrained-probe.ts). */
export type ConstrainedSupport = { enforced: true } | { enforced: false; message: string };

/**
 * Every identity the impersonators could become or assert under this spec (users, literal and
 * role-derived groups with their final names, service accounts): the pairs whose legacy grants the
 * controller asks the API server about for a constrained policy.
 */
export function reviewTargets(spec: ImpersonationPolicySpec): TargetIdentity[] {
  const targets: TargetIdentity[] = [];
  if (!spec.targets.allowAnyUser) for (const name of spec.targets.users) targets.push({ kind: 'User', name });
  const groups = new Set([...spec.targets.groups, ...spec.roles.map((r) => roleGroupName(r.name, spec))]);
  for (const name of groups) targets.push({ kind: 'Group', name });
  for (const sa of spec.targets.serviceAccounts) {
    targets.push({ kind: 'ServiceAccount', namespace: sa.namespace, name: sa.name });
  }
  return targets;
}

const targetLabel = (t: TargetIdentity): string =>
  t.kind === 'ServiceAccount' ? `ServiceAccount ${t.namespace}/${t.name}` : `${t.kind} '${t.name}'`;

function targetPowerVerdict(target: TargetIdentity, facts: ClusterFacts): Verdict {
  const powers = facts.targetPowers?.(target) ?? [];
  if (powers.length === 0) return { allowed: true };
  return {
    allowed: false,
    reason: 'PowerfulTarget',
    message:
      `${targetLabel(target)} already holds ${powers.join(', ')} through the cluster's ClusterRoleBindings; becoming it ` +
      'would make the impersonators cluster-admin by another name; target a less powerful identity',
  };
}

function clusterRolePowerVerdict(
  name: string,
  namespace: string | undefined,
  config: CoreConfig,
  facts: ClusterFacts,
): Verdict {
  const rules = facts.clusterRole?.(name);
  if (rules === undefined) return { allowed: true };
  if (rules === null) {
    return {
      allowed: false,
      reason: 'UnknownClusterRole',
      message:
        `ClusterRole '${name}' does not exist, so what it grants cannot be judged; it is bound once it exists ` +
        'and carries no cluster-admin powers',
    };
  }
  const scope: BindingScope =
    namespace === undefined
      ? { cluster: true }
      : { cluster: false, namespace, protected: config.protectedNamespaces.includes(namespace) };
  const powers = dangerousPowersOf(rules, scope);
  if (powers.length === 0) return { allowed: true };
  const where = namespace === undefined ? 'cluster-wide' : `in namespace ${namespace}`;
  return {
    allowed: false,
    reason: 'PowerfulClusterRole',
    message:
      `ClusterRole '${name}' grants ${powers.join(', ')} ${where}: that is cluster-admin by another name and is ` +
      'refused like cluster-admin; bind a narrower ClusterRole' +
      (namespace === undefined ? ', or bind it in namespaces (spec.roles[].namespaces)' : ''),
  };
}

/** Roles of a peer that would be provisioned: only those may hold back another policy's group. */
function admissibleRoles(spec: ImpersonationPolicySpec, config: CoreConfig, facts: ClusterFacts) {
  const impersonates = spec.impersonators.some((i) => impersonatorVerdict(i.kind, i.name).allowed);
  if (!impersonates) return [];
  return spec.roles.filter((role) => {
    const group = roleGroupName(role.name, spec);
    if (!bindingSubjectVerdict(group).allowed) return false;
    if (!targetPowerVerdict({ kind: 'Group', name: group }, facts).allowed) return false;
    const scopes = role.namespaces.length === 0 ? [undefined] : role.namespaces;
    return role.clusterRoles.some(
      (cr) =>
        clusterRoleVerdict(cr, config).allowed &&
        scopes.some((ns) => clusterRolePowerVerdict(cr, ns, config, facts).allowed),
    );
  });
}

export function decidePolicy(
  policy: PolicyInput,
  peers: readonly PeerPolicy[],
  config: CoreConfig,
  facts: ClusterFacts = {},
): PolicyDecisions {
  const { spec } = policy;
  const unavailable = constrainedUnavailable(spec, facts);
  if (unavailable !== undefined) return unavailable;
  const denied: Denial[] = [];

  const impersonators = canonicalSubjects(
    spec.impersonators.flatMap((i): Subject[] => {
      const verdict = impersonatorVerdict(i.kind, i.name);
      if (!verdict.allowed) {
        denied.push(denial('Impersonator', i.name, verdict));
        return [];
      }
      return [
        i.kind === 'ServiceAccount'
          ? { kind: 'ServiceAccount', name: i.name, namespace: i.namespace ?? '' }
          : { kind: i.kind, apiGroup: RBAC_GROUP, name: i.name },
      ];
    }),
  );

  // A refused peer (nothing it names would be provisioned) cannot hold back this policy's groups.
  const admissiblePeers = peers.map((p) => ({
    metadata: p.metadata,
    spec: { ...p.spec, roles: admissibleRoles(p.spec, config, facts) },
  }));
  const collisions = findCollisions({ name: policy.metadata.name, spec }, admissiblePeers);
  const held = collidedGroups(collisions);

  // Roles: a group is provisioned when it is uncontested, may be a binding subject, is not already
  // powerful, and is bound to at least one permitted ClusterRole in at least one scope. Anything
  // refused is listed in `denied`, nothing is granted for it.
  const roleGroups: RoleGroup[] = [];
  const bindings: GroupBinding[] = [];
  const groups = new Set<string>();
  for (const role of spec.roles) {
    const group = roleGroupName(role.name, spec);
    if (held.has(group)) continue;
    const verdict = bindingSubjectVerdict(group);
    if (!verdict.allowed) {
      denied.push(denial('Group', group, verdict, role.name));
      continue;
    }
    const power = targetPowerVerdict({ kind: 'Group', name: group }, facts);
    if (!power.allowed) {
      denied.push(denial('Group', group, power, role.name));
      continue;
    }
    const namespaces = sortedUnique(role.namespaces);
    const scopes: (string | undefined)[] = namespaces.length === 0 ? [undefined] : namespaces;
    const clusterRoles: string[] = [];
    const roleBindings: GroupBinding[] = [];
    for (const clusterRole of sortedUnique(role.clusterRoles)) {
      const crVerdict = clusterRoleVerdict(clusterRole, config);
      if (!crVerdict.allowed) {
        denied.push(denial('ClusterRole', clusterRole, crVerdict, role.name));
        continue;
      }
      let bound = false;
      for (const namespace of scopes) {
        const powerVerdict = clusterRolePowerVerdict(clusterRole, namespace, config, facts);
        if (!powerVerdict.allowed) {
          denied.push(denial('ClusterRole', clusterRole, powerVerdict, role.name));
          continue;
        }
        bound = true;
        roleBindings.push(
          namespace === undefined
            ? { role: role.name, group, clusterRole }
            : { role: role.name, group, clusterRole, namespace },
        );
      }
      if (bound) clusterRoles.push(clusterRole);
    }
    if (clusterRoles.length === 0) {
      denied.push(
        denial(
          'Group',
          group,
          {
            allowed: false,
            reason: 'NoPermittedClusterRoles',
            message: `role '${role.name}' has no ClusterRole the operator permits, so its group is not provisioned`,
          },
          role.name,
        ),
      );
      continue;
    }
    groups.add(group);
    roleGroups.push({ role: role.name, group, clusterRoles });
    bindings.push(...roleBindings);
  }

  for (const group of sortedUnique(spec.targets.groups)) {
    if (held.has(group)) {
      denied.push({
        kind: 'Group',
        name: group,
        reason: 'CollidingGroup',
        message: `group '${group}' is also a colliding role group (see status.collisions); it is held back`,
      });
      continue;
    }
    const verdict = identityVerdict(group, config);
    const power = verdict.allowed ? targetPowerVerdict({ kind: 'Group', name: group }, facts) : verdict;
    if (power.allowed) groups.add(group);
    else denied.push(denial('Group', group, power));
  }

  let anyUser = spec.targets.allowAnyUser;
  if (anyUser && !config.allowAnyUser) {
    anyUser = false;
    denied.push({
      kind: 'User',
      name: '*',
      reason: 'AnyUserNotEnabled',
      message:
        'targets.allowAnyUser lets the impersonators become every user, system: users included; the operator ' +
        'grants it only when started with --allow-any-user (chart: grants.impersonate.anyUser: true); ' +
        "list the users instead, or ask the operator's admins",
    });
  }
  const users: string[] = [];
  if (!spec.targets.allowAnyUser) {
    for (const user of sortedUnique(spec.targets.users)) {
      const verdict = identityVerdict(user, config);
      const power = verdict.allowed ? targetPowerVerdict({ kind: 'User', name: user }, facts) : verdict;
      if (power.allowed) users.push(user);
      else denied.push(denial('User', user, power));
    }
  }

  const forbiddenValue = (kind: DenialKind, name: string): Denial => ({
    kind,
    name,
    reason: 'ForbiddenIdentity',
    message: `'*' is never granted; list literal values`,
  });
  const uids: string[] = [];
  for (const uid of sortedUnique(spec.targets.uids)) {
    if (isForbiddenIdentity(uid)) denied.push(forbiddenValue('UID', uid));
    else uids.push(uid);
  }
  const userExtras: { key: string; values: string[] }[] = [];
  const extraKeys = sortedUnique(spec.targets.userExtras.map((e) => e.key));
  for (const key of extraKeys) {
    const values: string[] = [];
    const all = spec.targets.userExtras.filter((e) => e.key === key).flatMap((e) => e.values);
    for (const value of sortedUnique(all)) {
      if (isForbiddenIdentity(value)) denied.push(forbiddenValue('UserExtra', `${key}=${value}`));
      else values.push(value);
    }
    if (values.length > 0) userExtras.push({ key, values });
  }

  const saByNamespace = new Map<string, Set<string>>();
  for (const sa of spec.targets.serviceAccounts) {
    const nsVerdict = serviceAccountNamespaceVerdict(sa.namespace, config);
    const verdict = nsVerdict.allowed
      ? targetPowerVerdict({ kind: 'ServiceAccount', namespace: sa.namespace, name: sa.name }, facts)
      : nsVerdict;
    if (!verdict.allowed) {
      denied.push(denial('ServiceAccount', `${sa.namespace}/${sa.name}`, verdict));
      continue;
    }
    const names = saByNamespace.get(sa.namespace) ?? new Set<string>();
    names.add(sa.name);
    saByNamespace.set(sa.namespace, names);
  }
  const serviceAccounts = [...saByNamespace.entries()]
    .sort(([a], [b]) => byString(a, b))
    .map(([namespace, names]) => ({ namespace, names: sortedUnique(names) }));

  const constrained = decideConstraint(spec.allowedActions, config);
  denied.push(...constrained.denied);

  const bypasses =
    constrained.constraint === undefined
      ? []
      : constraintBypasses(impersonators, users, sortedUnique(groups), serviceAccounts, facts);

  return {
    ...(bypasses.length === 0 ? {} : { constraintBypasses: bypasses }),
    grants: {
      impersonators,
      users,
      anyUser,
      groups: sortedUnique(groups),
      uids,
      userExtras,
      serviceAccounts,
      bindings: bindings.sort(
        (a, b) =>
          byString(a.group, b.group) ||
          byString(a.clusterRole, b.clusterRole) ||
          byString(a.namespace ?? '', b.namespace ?? ''),
      ),
      ...(constrained.constraint === undefined ? {} : { constraint: constrained.constraint }),
    },
    roleGroups: roleGroups.sort((a, b) => byString(a.role, b.role)),
    collisions,
    denied: denied.sort(
      (a, b) =>
        byString(a.kind, b.kind) ||
        byString(a.name, b.name) ||
        byString(a.role ?? '', b.role ?? '') ||
        byString(a.reason, b.reason),
    ),
    roleCount: spec.roles.length,
  };
}

// ---------------------------------------------------------------------------------------------
// Constrained impersonation (spec.allowedActions)

const compareLists = (a: readonly string[], b: readonly string[]): number =>
  byString(JSON.stringify(a), JSON.stringify(b));

function compareActions(a: ScopedAction, b: ScopedAction): number {
  return (
    byString(a.namespace ?? '', b.namespace ?? '') ||
    compareLists(a.apiGroups, b.apiGroups) ||
    compareLists(a.resources, b.resources) ||
    compareLists(a.resourceNames, b.resourceNames) ||
    compareLists(a.verbs, b.verbs)
  );
}

/**
 * The actions a constrained policy may grant, one per action and scope, canonical. An action that
 * would give the impersonators a dangerous power (powers.ts) in a scope is refused there, exactly
 * as a ClusterRole carrying it would be: acting as a powerful target for that request is the same
 * escalation. Undefined allowedActions: not a constrained policy.
 */
export function decideConstraint(
  allowedActions: readonly AllowedAction[] | undefined,
  config: CoreConfig,
): { constraint?: ImpersonationConstraint; denied: Denial[] } {
  if (allowedActions === undefined) return { denied: [] };
  const denied: Denial[] = [];
  const actions = new Map<string, ScopedAction>();
  allowedActions.forEach((action, index) => {
    const base = {
      verbs: sortedUnique(action.verbs),
      apiGroups: sortedUnique(action.apiGroups),
      resources: sortedUnique(action.resources),
      resourceNames: sortedUnique(action.resourceNames),
    };
    const namespaces = sortedUnique(action.namespaces);
    for (const namespace of namespaces.length === 0 ? [undefined] : namespaces) {
      const scope: BindingScope =
        namespace === undefined
          ? { cluster: true }
          : { cluster: false, namespace, protected: config.protectedNamespaces.includes(namespace) };
      const powers = dangerousPowersOf([base], scope);
      if (powers.length > 0) {
        const where = namespace === undefined ? 'cluster-wide' : `in namespace ${namespace}`;
        denied.push({
          kind: 'AllowedAction',
          name: `allowedActions[${index}]`,
          reason: 'PowerfulAction',
          message:
            `allowedActions[${index}] (${base.verbs.join(',')} on ${base.resources.join(',')}) ${where} covers ` +
            `${powers.join(', ')}: acting as a target for that is cluster-admin by another name; list narrower ` +
            'verbs and resources' +
            (namespace === undefined ? ', or limit it to namespaces (allowedActions[].namespaces)' : ''),
        });
        continue;
      }
      const scoped: ScopedAction = namespace === undefined ? base : { ...base, namespace };
      actions.set(JSON.stringify(scoped), scoped);
    }
  });
  return { constraint: { actions: [...actions.values()].sort(compareActions) }, denied };
}

/**
 * Decisions that grant nothing at all (an unparseable spec, a policy outside its lifetime, a
 * constrained policy the cluster cannot enforce): every list empty, `extra` for what is said why.
 */
export function nothingDecided(roleCount: number, extra: Partial<PolicyDecisions> = {}): PolicyDecisions {
  return {
    grants: {
      impersonators: [],
      users: [],
      anyUser: false,
      groups: [],
      uids: [],
      userExtras: [],
      serviceAccounts: [],
      bindings: [],
    },
    roleGroups: [],
    collisions: [],
    denied: [],
    roleCount,
    ...extra,
  };
}

/**
 * A constrained policy on a cluster that cannot enforce it grants nothing at all: its rules would
 * allow nothing there, and never does the operator fall back to the unconstrained verb.
 */
function constrainedUnavailable(
  spec: ImpersonationPolicySpec,
  facts: ClusterFacts,
): PolicyDecisions | undefined {
  const support = facts.constrainedImpersonation;
  if (spec.allowedActions === undefined || support === undefined || support.enforced) return undefined;
  const nothing = nothingDecided(spec.roles.length);
  return {
    ...nothing,
    grants: { ...nothing.grants, constraint: { actions: [] } },
    denied: [
      {
        kind: 'AllowedAction',
        name: 'allowedActions',
        reason: 'ConstrainedImpersonationUnavailable',
        message:
          `spec.allowedActions makes this a constrained policy, and ${support.message}; nothing is granted ` +
          '(never the unconstrained impersonate verb instead). Enable constrained impersonation on the API ' +
          'server, or remove spec.allowedActions to grant classic impersonation',
      },
    ],
  };
}

const subjectLabel = (s: Subject): string =>
  s.kind === 'ServiceAccount' ? `ServiceAccount ${s.namespace ?? ''}/${s.name}` : `${s.kind} ${s.name}`;

/** The targets a constrained policy's impersonators may become, as identities to review. */
export function constrainedTargets(
  users: readonly string[],
  groups: readonly string[],
  serviceAccounts: readonly { namespace: string; names: readonly string[] }[],
): TargetIdentity[] {
  return [
    ...users.map((name): TargetIdentity => ({ kind: 'User', name })),
    ...groups.map((name): TargetIdentity => ({ kind: 'Group', name })),
    ...serviceAccounts.flatMap(({ namespace, names }) =>
      names.map((name): TargetIdentity => ({ kind: 'ServiceAccount', namespace, name })),
    ),
  ];
}

/**
 * Legacy grants that defeat a constraint: the API server tries the constrained modes first and then
 * falls back to the `impersonate` verb, from ANY binding, so an impersonator that also holds it on a
 * target may act as that target for everything. Reported per pair, with what grants it.
 */
function constraintBypasses(
  impersonators: readonly Subject[],
  users: readonly string[],
  groups: readonly string[],
  serviceAccounts: readonly { namespace: string; names: readonly string[] }[],
  facts: ClusterFacts,
): ConstraintBypass[] {
  if (facts.legacyGrant === undefined) return [];
  const out: ConstraintBypass[] = [];
  for (const impersonator of impersonators) {
    for (const target of constrainedTargets(users, groups, serviceAccounts)) {
      const reason = facts.legacyGrant(impersonator, target);
      if (typeof reason !== 'string') continue;
      out.push({
        impersonator: subjectLabel(impersonator),
        target: targetLabel(target),
        grantedBy: reason.replace(/^RBAC: allowed by /, '') || 'the authorizer (no reason given)',
      });
    }
  }
  return out;
}
