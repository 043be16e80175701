// A policy's lifetime: the window spec.validFrom .. spec.validUntil and the pause switch spec.suspend.
// Pure: the time is always passed in (`now`, the operator's clock; see README "Lifetime").
//
// The window is half-open, [validFrom, validUntil): at validFrom exactly the policy is Active, at
// validUntil exactly it is Expired. Outside Active the policy grants nothing (every object it owns is
// pruned) but is otherwise judged as usual: it still names its groups, so it still holds back a
// colliding peer's group (a naming problem does not come and go with the clock, and no peer has to
// be woken at another policy's boundary).

import type { ImpersonationPolicySpec, LifetimeState } from '../api/index.js';
import type { CoreConfig } from './config.js';
import { decidePolicy, nothingDecided, type ClusterFacts } from './decisions.js';
import type { PeerPolicy, PolicyDecisions, PolicyInput } from './types.js';

export type LifetimeSpec = Pick<ImpersonationPolicySpec, 'validFrom' | 'validUntil' | 'suspend'>;

export interface Lifetime {
  state: LifetimeState;
  /** When the state changes next by itself (a window boundary); absent when it never does. */
  nextChange?: Date;
  /** The boundary that the current state began at, when there is one (for messages). */
  since?: Date;
}

/** Longest timer the controller sets: Node's setTimeout overflows past 2^31-1 ms (about 24.8 days). */
export const MAX_LIFETIME_TIMER_MS = 6 * 60 * 60 * 1000;

const instant = (value: string | undefined): Date | undefined =>
  value === undefined ? undefined : new Date(Date.parse(value));

/** Where the policy stands at `now`. Suspended wins over the window; the window's ends are as above. */
export function policyLifetime(spec: LifetimeSpec, now: Date): Lifetime {
  if (spec.suspend) return { state: 'Suspended' };
  const from = instant(spec.validFrom);
  const until = instant(spec.validUntil);
  const t = now.getTime();
  if (from !== undefined && t < from.getTime()) return { state: 'NotYetValid', nextChange: from };
  if (until !== undefined && t >= until.getTime()) return { state: 'Expired', since: until };
  return {
    state: 'Active',
    ...(until === undefined ? {} : { nextChange: until }),
    ...(from === undefined ? {} : { since: from }),
  };
}

/**
 * Milliseconds until the controller must look at the policy again for its lifetime, or undefined.
 * Never 0 or less (a boundary already passed is for the current reconcile), never more than
 * MAX_LIFETIME_TIMER_MS (a far boundary is reached by re-arming the timer).
 */
export function lifetimeRequeueMs(lifetime: Lifetime, now: Date): number | undefined {
  if (lifetime.nextChange === undefined) return undefined;
  const ms = lifetime.nextChange.getTime() - now.getTime();
  return Math.min(MAX_LIFETIME_TIMER_MS, Math.max(1, ms));
}

/** What a policy outside its window (or suspended) provisions: nothing. */
export function inactiveDecisions(spec: Pick<ImpersonationPolicySpec, 'roles'>): PolicyDecisions {
  return nothingDecided(spec.roles.length);
}

/** decidePolicy, gated by the lifetime at `now`: outside Active, nothing. */
export function decidePolicyAt(
  now: Date,
  policy: PolicyInput,
  peers: readonly PeerPolicy[],
  config: CoreConfig,
  facts: ClusterFacts = {},
): PolicyDecisions {
  return policyLifetime(policy.spec, now).state === 'Active'
    ? decidePolicy(policy, peers, config, facts)
    : inactiveDecisions(policy.spec);
}

const at = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The sentence status and events use for a lifetime. */
export function lifetimeMessage(lifetime: Lifetime): string {
  switch (lifetime.state) {
    case 'Suspended':
      return 'Suspended (spec.suspend): nothing the policy grants exists; set spec.suspend to false to restore it.';
    case 'NotYetValid':
      return `Not yet valid: nothing the policy grants exists until ${at(lifetime.nextChange!)} (spec.validFrom).`;
    case 'Expired':
      return `Expired at ${at(lifetime.since!)} (spec.validUntil): nothing the policy grants exists any more.`;
    case 'Active':
      return lifetime.nextChange === undefined
        ? 'In force, without an end.'
        : `In force until ${at(lifetime.nextChange)} (spec.validUntil).`;
  }
}

/** The Event to record when the lifetime state changed since the previous status (undefined: none). */
export function lifetimeTransition(
  previous: LifetimeState | undefined,
  lifetime: Lifetime,
): { reason: string; note: string } | undefined {
  if (previous === lifetime.state) return undefined;
  if (previous === undefined && lifetime.state === 'Active') return undefined;
  const reason =
    lifetime.state === 'Active' ? (previous === 'Suspended' ? 'Resumed' : 'Activated') : lifetime.state;
  return { reason, note: lifetimeMessage(lifetime) };
}
