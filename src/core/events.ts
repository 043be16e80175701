// Which Events a reconcile records: one per transition a person would look for in `kubectl describe`,
// read off the previous and the new status, never one per write. The healthy path (a policy provisioned,
// edited or repaired as asked) records nothing: its status says so (Ready, observedGeneration).
//
//   Warning <Stalled reason>  the policy became Stalled, or its Stalled reason or message changed
//                             (Collision, Denied, NameConflict, Refused, AuthorNotPermitted, ...)
//   Warning ApplyFailed       it started failing with errors the operator retries
//   Normal  Recovered         it is Ready again after being Stalled or failing
//   Normal  <lifetime>        Activated, Expired, Suspended, Resumed, NotYetValid
//   Normal  Revoked           a reconcile removed RBAC that was in force, and nothing above explains it
import type { Condition, ImpersonationPolicyStatus } from '../api/index.js';
import { lifetimeTransition, type Lifetime } from './lifetime.js';

export interface PolicyEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  /** What the operator was doing: `Reconcile`, `Apply` or `Prune`. */
  action: string;
  note: string;
}

export interface PolicyEventInput {
  previous: ImpersonationPolicyStatus | undefined;
  status: ImpersonationPolicyStatus;
  lifetime?: Lifetime | undefined;
  /** RBAC objects this reconcile deleted. */
  pruned: number;
}

const conditionOf = (s: ImpersonationPolicyStatus | undefined, type: string): Condition | undefined =>
  s?.conditions?.find((c) => c.type === type);

const isTrue = (c: Condition | undefined): boolean => c?.status === 'True';

/** The Events for one reconcile, in the order they happened (usually none, at most a few). */
export function policyEvents(input: PolicyEventInput): PolicyEvent[] {
  const { previous, status } = input;
  const events: PolicyEvent[] = [];
  const transition = input.lifetime && lifetimeTransition(previous?.lifetime, input.lifetime);
  if (transition)
    events.push({ type: 'Normal', reason: transition.reason, action: 'Reconcile', note: transition.note });

  const stalled = conditionOf(status, 'Stalled');
  const wasStalled = conditionOf(previous, 'Stalled');
  if (
    isTrue(stalled) &&
    !(
      isTrue(wasStalled) &&
      wasStalled!.reason === stalled!.reason &&
      wasStalled!.message === stalled!.message
    )
  ) {
    events.push({ type: 'Warning', reason: stalled!.reason, action: 'Reconcile', note: stalled!.message });
  }

  const reconciling = conditionOf(status, 'Reconciling');
  const wasFailing =
    isTrue(conditionOf(previous, 'Reconciling')) &&
    conditionOf(previous, 'Reconciling')!.reason === 'ApplyFailed';
  if (isTrue(reconciling) && reconciling!.reason === 'ApplyFailed' && !wasFailing) {
    events.push({ type: 'Warning', reason: 'ApplyFailed', action: 'Apply', note: reconciling!.message });
  }

  const ready = conditionOf(status, 'Ready');
  if (isTrue(ready) && (isTrue(wasStalled) || wasFailing)) {
    events.push({ type: 'Normal', reason: 'Recovered', action: 'Reconcile', note: ready!.message });
  }

  if (events.length === 0 && input.pruned > 0) {
    events.push({
      type: 'Normal',
      reason: 'Revoked',
      action: 'Prune',
      note: `Removed ${input.pruned} RBAC ${input.pruned === 1 ? 'object' : 'objects'} the policy no longer grants.`,
    });
  }
  return events;
}
