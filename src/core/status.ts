// The status object written once per reconcile, from the plan and the outcome of acting on it.

import type { Condition, ImpersonationPolicyStatus, InventoryEntry } from '../api/index.js';
import { condition, policyConditions, toRfc3339 } from './conditions.js';
import { lifetimeMessage, type Lifetime } from './lifetime.js';
import type { Problem, StalledReason } from './conditions.js';
import { refOf } from './plan.js';
import { compareObjects } from './rbac.js';
import type { ActFailure, ObjectRef, PolicyPlan } from './types.js';

export interface StatusInput {
  /** metadata.generation of the policy that was planned. */
  generation: number;
  now: Date;
  /** The current status (from the cache), to keep lastTransitionTime stable. */
  previous?: ImpersonationPolicyStatus;
  /** The plan that was acted on (planPolicy, or planRemoval for an invalid spec). */
  plan: PolicyPlan;
  /** What failed while acting (transient: the controller requeues). Empty when all went well. */
  failures?: readonly ActFailure[];
  /** Set when the spec could not be parsed: the message (paths and reasons). */
  invalidSpec?: string;
  /** Set when the policy's author may not grant it (nothing is provisioned; see author-check.ts). */
  authorRefused?: Problem<'AuthorCheckFailed' | 'AuthorNotPermitted'>;
  /** Where the policy stands in its lifetime (policyLifetime); absent for an invalid spec. */
  lifetime?: Lifetime;
}

const MAX_LISTED = 10;

function listed(items: readonly string[]): string {
  const shown = items.slice(0, MAX_LISTED).join(', ');
  return items.length > MAX_LISTED ? `${shown} and ${items.length - MAX_LISTED} more` : shown;
}

const describe = (ref: ObjectRef): string =>
  ref.namespace === undefined ? `${ref.kind} ${ref.name}` : `${ref.kind} ${ref.namespace}/${ref.name}`;
const refKey = (ref: ObjectRef): string => `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;

function stalledProblems(input: StatusInput): Problem<StalledReason>[] {
  const { plan } = input;
  const problems: Problem<StalledReason>[] = [];
  if (input.invalidSpec !== undefined) {
    problems.push({
      reason: 'InvalidSpec',
      message: `The spec is invalid, so nothing is provisioned: ${input.invalidSpec}.`,
    });
  }
  if (input.authorRefused !== undefined) problems.push(input.authorRefused);
  const { collisions, denied } = plan.decisions;
  if (collisions.length > 0) {
    const groups = [...new Set(collisions.map((c) => c.group))];
    const details = collisions.map((c) =>
      c.scope === 'WithinPolicy'
        ? `${c.roles.map((r) => `'${r}'`).join(' and ')} -> ${c.group}`
        : `${c.roles.map((r) => `'${r}'`).join(' and ')} -> ${c.group}, as do ` +
          (c.otherPolicies ?? []).map((o) => `'${o.role}' in policy ${o.policy}`).join(', '),
    );
    problems.push({
      reason: 'Collision',
      message:
        `Held back ${groups.length === 1 ? 'group' : 'groups'} ${listed(groups)}: different role names map to ` +
        `the same group (${listed(details)}). Rename the roles so each group comes from one role name.`,
    });
  }
  const anyUser = denied.find((d) => d.reason === 'AnyUserNotEnabled');
  if (anyUser !== undefined) problems.push({ reason: 'AnyUserNotEnabled', message: `${anyUser.message}.` });
  const unavailable = denied.find((d) => d.reason === 'ConstrainedImpersonationUnavailable');
  if (unavailable !== undefined) {
    problems.push({ reason: 'ConstrainedImpersonationUnavailable', message: `${unavailable.message}.` });
  }
  const others = denied.filter((d) => d !== anyUser && d !== unavailable);
  if (others.length > 0) {
    problems.push({
      reason: 'Denied',
      message: `Refused ${others.length} ${others.length === 1 ? 'entry' : 'entries'} (see status.denied): ${listed(
        others.map((d) => `${d.kind} ${d.name}: ${d.message}`),
      )}.`,
    });
  }
  const refusals = (input.failures ?? []).filter((f) => f.refusal !== undefined);
  if (refusals.length > 0) {
    problems.push({
      reason: 'Refused',
      message:
        `The API server refused ${refusals.length} of the operator's changes; they are retried periodically ` +
        `and heal once the grant exists: ${listed(refusals.map((f) => `${f.operation} ${describe(f.ref)}: ${f.refusal!}`))}.`,
    });
  }
  if (plan.conflicts.length > 0) {
    const withheld =
      plan.withheld.length > 0
        ? ` Also held back, as they would bind to it: ${listed(plan.withheld.map(describe))}.`
        : '';
    problems.push({
      reason: 'NameConflict',
      message: `${listed(plan.conflicts.map((c) => c.message))}.${withheld}`,
    });
  }
  const terminating = plan.terminating ?? [];
  if (terminating.length > 0) {
    problems.push({
      reason: 'DeletionBlocked',
      message: `Still in force although no longer desired: deleting ${listed(
        terminating.map((t) => `${describe(t)} (held by finalizer ${t.finalizers.join(', ')})`),
      )} was accepted, but its finalizers keep it. Remove those finalizers.`,
    });
  }
  const unmanaged = plan.unmanaged ?? [];
  if (unmanaged.length > 0) {
    problems.push({
      reason: 'Unmanaged',
      message:
        `The operator created ${listed(unmanaged.map(describe))} for this policy, but ${
          unmanaged.length === 1 ? 'it has' : 'they have'
        } since lost the operator's labels or ownership record (annotation impersonation-operator.io/policy-uid) ` +
        'or been replaced by an object the operator did not create, so the operator may no longer change or ' +
        'delete it; it may still grant access. Delete it.',
    });
  }
  return problems;
}

/** Constrained policies: a legacy grant elsewhere bypasses the constraint; Ready says so. */
function bypassWarning(plan: PolicyPlan, message: string): string {
  const bypasses = plan.decisions.constraintBypasses ?? [];
  if (bypasses.length === 0) return message;
  return (
    `${message} WARNING: the constraint is bypassed for ${bypasses.length} impersonator/target ` +
    `${bypasses.length === 1 ? 'pair' : 'pairs'} by legacy impersonate grants (status.constraintBypasses): ${listed(
      bypasses.map((b) => `${b.impersonator} -> ${b.target} by ${b.grantedBy}`),
    )}.`
  );
}

function readyMessage(plan: PolicyPlan, inventory: number, anyUser: boolean): string {
  const groups = plan.decisions.roleGroups.length;
  const base = `Provisioned ${inventory} RBAC ${inventory === 1 ? 'object' : 'objects'} for ${groups} role ${
    groups === 1 ? 'group' : 'groups'
  }.`;
  return anyUser
    ? `${base} WARNING: the impersonators may become ANY user (spec.targets.allowAnyUser).`
    : base;
}

/** The any-user grant is in force when the ClusterRole carrying it exists. */
function anyUserInForce(plan: PolicyPlan, inventory: readonly InventoryEntry[]): boolean {
  const carrier = plan.desired.find(
    (o) =>
      o.kind === 'ClusterRole' &&
      o.rules.some((r) => r.resources.includes('users') && r.resourceNames === undefined),
  );
  return (
    carrier !== undefined &&
    inventory.some((e) => e.kind === carrier.kind && e.name === carrier.metadata.name)
  );
}

/** The complete status for one reconcile. Deterministic: same input, same output. */
export function policyStatus(input: StatusInput): ImpersonationPolicyStatus {
  const { plan, generation } = input;
  const failures = input.failures ?? [];
  const failed = new Set(failures.map((f) => refKey(f.ref)));
  // What exists and is ours: written (or left) as desired, plus what is still in force while it terminates.
  const refs = new Map<string, ObjectRef>();
  for (const ref of [
    ...plan.apply.map(refOf),
    ...(plan.narrow ?? []).map(refOf),
    ...plan.replace.map(refOf),
    ...plan.unchanged,
  ]) {
    if (!failed.has(refKey(ref))) refs.set(refKey(ref), ref);
  }
  for (const t of [...(plan.terminating ?? []), ...(plan.unmanaged ?? [])]) {
    const ref: ObjectRef =
      t.namespace === undefined
        ? { kind: t.kind, name: t.name }
        : { kind: t.kind, name: t.name, namespace: t.namespace };
    refs.set(refKey(ref), ref);
  }
  const inventory: InventoryEntry[] = [...refs.values()]
    .sort(compareObjects)
    .map((ref) => (ref.namespace === undefined ? { kind: ref.kind, name: ref.name } : { ...ref }));

  const transient = failures.filter((f) => f.refusal === undefined);
  const retrying: Problem | undefined =
    transient.length === 0
      ? undefined
      : {
          reason: 'ApplyFailed',
          message: `${transient.length} of the operator's changes failed and will be retried: ${listed(
            transient.map((f) => `${f.operation} ${describe(f.ref)}: ${f.message}`),
          )}.`,
        };

  const anyUser = anyUserInForce(plan, inventory);
  const { lifetime } = input;
  // Outside its lifetime the desired state is "nothing granted": Ready (in force), not a failure.
  const inactive = lifetime !== undefined && lifetime.state !== 'Active' ? lifetime : undefined;
  const conditionInput = {
    generation,
    now: input.now,
    ...(input.previous?.conditions === undefined ? {} : { previous: input.previous.conditions }),
  };
  const conditions: Condition[] = [
    ...(lifetime === undefined
      ? []
      : [
          condition(
            'Active',
            lifetime.state === 'Active' ? 'True' : 'False',
            lifetime.state,
            lifetimeMessage(lifetime),
            conditionInput,
          ),
        ]),
    ...policyConditions({
      ...conditionInput,
      stalled: stalledProblems(input),
      ...(retrying === undefined ? {} : { retrying }),
      readyMessage:
        inactive === undefined
          ? bypassWarning(plan, readyMessage(plan, inventory.length, anyUser))
          : lifetimeMessage(inactive),
      ...(inactive === undefined ? {} : { readyReason: inactive.state }),
    }),
  ];

  return {
    observedGeneration: generation,
    conditions,
    allowAnyUserInForce: anyUser,
    roleCount: plan.decisions.roleCount,
    groupCount: plan.decisions.roleGroups.length,
    collisionCount: new Set(plan.decisions.collisions.map((c) => c.group)).size,
    roleGroups: plan.decisions.roleGroups,
    collisions: plan.decisions.collisions,
    denied: plan.decisions.denied,
    inventory,
    ...(lifetime === undefined ? {} : { lifetime: lifetime.state }),
    ...(lifetime?.nextChange === undefined ? {} : { nextLifetimeChange: toRfc3339(lifetime.nextChange) }),
    ...(plan.decisions.constraintBypasses === undefined
      ? {}
      : { constraintBypasses: plan.decisions.constraintBypasses }),
  };
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Whether two statuses are the same (key order ignored), so the controller writes only on change. */
export function sameStatus(
  a: ImpersonationPolicyStatus | undefined,
  b: ImpersonationPolicyStatus | undefined,
): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b ?? null);
}
