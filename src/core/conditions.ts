// Ready / Reconciling / Stalled with kstatus semantics: Reconciling and Stalled are never both True,
// and Ready is False whenever either is. lastTransitionTime moves only when a status flips.

import type { Condition, ConditionType } from '../api/index.js';

/** Why a policy cannot (fully) be provisioned until someone changes something. Order = priority. */
export const STALLED_REASONS = [
  'InvalidSpec',
  'AuthorCheckFailed',
  'AuthorNotPermitted',
  'AnyUserNotEnabled',
  // A constrained policy (spec.allowedActions) on an API server that cannot enforce it.
  'ConstrainedImpersonationUnavailable',
  'Collision',
  'Denied',
  // The API server refused a write for good (RBAC escalation check, admission): the operator lacks a grant.
  'Refused',
  'NameConflict',
  // A grant this generation removes is held by a foreign finalizer: still in force.
  'DeletionBlocked',
  // Something the operator created lost its labels or record: out of its reach, possibly in force.
  'Unmanaged',
] as const;
export type StalledReason = (typeof STALLED_REASONS)[number];

export interface Problem<R extends string = string> {
  reason: R;
  message: string;
}

export interface ConditionsInput {
  generation: number;
  now: Date;
  previous?: readonly Condition[];
  /** Permanent problems: a human must act. */
  stalled: readonly Problem<StalledReason>[];
  /** A transient failure the work queue will retry (e.g. reason ApplyFailed). */
  retrying?: Problem;
  /** Message for Ready=True. */
  readyMessage: string;
  /** Reason for Ready=True (default Provisioned; a policy outside its lifetime says which state). */
  readyReason?: string;
}

const MAX_MESSAGE = 32768;

function clip(message: string): string {
  return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE - 3)}...`;
}

/** Builds one condition, keeping the previous lastTransitionTime when the status did not change. */
export function condition(
  type: ConditionType,
  status: 'True' | 'False',
  reason: string,
  message: string,
  input: Pick<ConditionsInput, 'generation' | 'now' | 'previous'>,
): Condition {
  const before = input.previous?.find((c) => c.type === type);
  return {
    type,
    status,
    observedGeneration: input.generation,
    lastTransitionTime:
      before !== undefined && before.status === status ? before.lastTransitionTime : toRfc3339(input.now),
    reason,
    message: clip(message),
  };
}

/** RFC 3339 with second precision, the form the API server stores for metav1.Time. */
export function toRfc3339(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The three conditions, sorted by type. */
export function policyConditions(input: ConditionsInput): Condition[] {
  const stalled = [...input.stalled].sort(
    (a, b) => STALLED_REASONS.indexOf(a.reason) - STALLED_REASONS.indexOf(b.reason),
  );
  const stalledMessage = stalled.map((p) => p.message).join(' ');
  let ready: Condition;
  let reconciling: Condition;
  let stalledCondition: Condition;
  if (input.retrying !== undefined) {
    const message = [input.retrying.message, stalledMessage].filter((m) => m !== '').join(' ');
    ready = condition('Ready', 'False', input.retrying.reason, message, input);
    reconciling = condition('Reconciling', 'True', input.retrying.reason, input.retrying.message, input);
    stalledCondition = condition('Stalled', 'False', 'Retrying', 'The operator is retrying.', input);
  } else if (stalled[0] !== undefined) {
    const reason = stalled[0].reason;
    ready = condition('Ready', 'False', reason, stalledMessage, input);
    reconciling = condition(
      'Reconciling',
      'False',
      'Stalled',
      'Nothing more can be done until the policy or the cluster changes.',
      input,
    );
    stalledCondition = condition('Stalled', 'True', reason, stalledMessage, input);
  } else {
    ready = condition('Ready', 'True', input.readyReason ?? 'Provisioned', input.readyMessage, input);
    reconciling = condition(
      'Reconciling',
      'False',
      'Reconciled',
      'The generated RBAC matches the policy.',
      input,
    );
    stalledCondition = condition(
      'Stalled',
      'False',
      'Reconciled',
      'The generated RBAC matches the policy.',
      input,
    );
  }
  return [ready, reconciling, stalledCondition];
}
