// The status object written once per reconcile, from the plan and the outcome of acting on it.

import type { Condition, ImpersonationPolicyStatus, InventoryEntry } from '../api/index.js';
import { policyConditions } from './conditions.js';
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
  if (denied.length > 0) {
    problems.push({
      reason: 'Denied',
      message: `Refused ${denied.length} ${denied.length === 1 ? 'entry' : 'entries'} (see status.denied): ${listed(
        denied.map((d) => `${d.kind} ${d.name}: ${d.message}`),
      )}.`,
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
  return problems;
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
  const inventory: InventoryEntry[] = [
    ...plan.apply.map(refOf),
    ...plan.replace.map(refOf),
    ...plan.unchanged,
  ]
    .filter((ref) => !failed.has(refKey(ref)))
    .sort(compareObjects)
    .map((ref) => (ref.namespace === undefined ? { kind: ref.kind, name: ref.name } : { ...ref }));

  const retrying: Problem | undefined =
    failures.length === 0
      ? undefined
      : {
          reason: 'ApplyFailed',
          message: `${failures.length} of the operator's changes failed and will be retried: ${listed(
            failures.map((f) => `${f.operation} ${describe(f.ref)}: ${f.message}`),
          )}.`,
        };

  const anyUser = anyUserInForce(plan, inventory);
  const conditions: Condition[] = policyConditions({
    generation,
    now: input.now,
    ...(input.previous?.conditions === undefined ? {} : { previous: input.previous.conditions }),
    stalled: stalledProblems(input),
    ...(retrying === undefined ? {} : { retrying }),
    readyMessage: readyMessage(plan, inventory.length, anyUser),
  });

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
