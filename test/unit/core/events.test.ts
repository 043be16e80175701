import { describe, expect, it } from '@jest/globals';
import type { ImpersonationPolicyStatus } from '../../../src/api/index.js';
import { policyEvents, type Lifetime } from '../../../src/core/index.js';

type State =
  { ready: string; message?: string } | { stalled: string; message?: string } | { failing: string };

/** A status with kstatus conditions in one of the three states. */
function status(state: State, lifetime?: Lifetime['state']): ImpersonationPolicyStatus {
  const c = (type: string, s: 'True' | 'False', reason: string, message: string) => ({
    type,
    status: s,
    reason,
    message,
    observedGeneration: 1,
    lastTransitionTime: '2026-01-01T00:00:00Z',
  });
  const conditions =
    'ready' in state
      ? [
          c('Ready', 'True', state.ready, state.message ?? 'Provisioned 5 RBAC objects for 3 role groups.'),
          c('Reconciling', 'False', 'Reconciled', 'ok'),
          c('Stalled', 'False', 'Reconciled', 'ok'),
        ]
      : 'stalled' in state
        ? [
            c('Ready', 'False', state.stalled, state.message ?? `${state.stalled}!`),
            c('Reconciling', 'False', 'Stalled', 'stuck'),
            c('Stalled', 'True', state.stalled, state.message ?? `${state.stalled}!`),
          ]
        : [
            c('Ready', 'False', 'ApplyFailed', state.failing),
            c('Reconciling', 'True', 'ApplyFailed', state.failing),
            c('Stalled', 'False', 'Retrying', 'retrying'),
          ];
  return {
    observedGeneration: 1,
    conditions,
    ...(lifetime === undefined ? {} : { lifetime }),
  } as ImpersonationPolicyStatus;
}

const provisioned = status({ ready: 'Provisioned' });
const active: Lifetime = { state: 'Active' };

describe('policyEvents: one Event per transition a person would want, none per write', () => {
  it.each<{
    name: string;
    given: {
      previous?: ImpersonationPolicyStatus;
      status: ImpersonationPolicyStatus;
      lifetime?: Lifetime;
      pruned?: number;
    };
    expected: string[];
  }>([
    { name: 'first provisioning: nothing (status says Ready)', given: { status: provisioned }, expected: [] },
    {
      name: 'a spec edit that keeps it Ready: nothing',
      given: {
        previous: provisioned,
        status: status({ ready: 'Provisioned', message: 'Provisioned 7 RBAC objects.' }),
      },
      expected: [],
    },
    {
      name: 'a repeated reconcile: nothing',
      given: { previous: provisioned, status: provisioned },
      expected: [],
    },
    {
      name: 'a spec edit that removes grants: Revoked',
      given: { previous: provisioned, status: provisioned, pruned: 2 },
      expected: ['Normal Revoked: Removed 2 RBAC objects the policy no longer grants.'],
    },
    {
      name: 'became Stalled: a Warning with the reason',
      given: { previous: provisioned, status: status({ stalled: 'Collision', message: 'roles collide' }) },
      expected: ['Warning Collision: roles collide'],
    },
    {
      name: 'Stalled from the start',
      given: { status: status({ stalled: 'Denied', message: 'refused cluster-admin' }) },
      expected: ['Warning Denied: refused cluster-admin'],
    },
    {
      name: 'still Stalled for the same thing: nothing',
      given: { previous: status({ stalled: 'Denied' }), status: status({ stalled: 'Denied' }) },
      expected: [],
    },
    {
      name: 'a new problem while Stalled (the message changed): a Warning',
      given: {
        previous: status({ stalled: 'Denied', message: 'a' }),
        status: status({ stalled: 'Collision', message: 'b a' }),
      },
      expected: ['Warning Collision: b a'],
    },
    {
      name: 'grants revoked by becoming Stalled: the Stalled Warning alone, no Revoked besides',
      given: {
        previous: provisioned,
        status: status({ stalled: 'AuthorNotPermitted', message: 'no' }),
        pruned: 5,
      },
      expected: ['Warning AuthorNotPermitted: no'],
    },
    {
      name: 'started failing: ApplyFailed, once',
      given: { previous: provisioned, status: status({ failing: 'etcd timeout' }) },
      expected: ['Warning ApplyFailed: etcd timeout'],
    },
    {
      name: 'failing again with another error: nothing',
      given: {
        previous: status({ failing: 'etcd timeout' }),
        status: status({ failing: 'connection reset' }),
      },
      expected: [],
    },
    {
      name: 'Ready after failing: Recovered',
      given: { previous: status({ failing: 'x' }), status: provisioned },
      expected: ['Normal Recovered: Provisioned 5 RBAC objects for 3 role groups.'],
    },
    {
      name: 'Ready after Stalled: Recovered',
      given: { previous: status({ stalled: 'NameConflict' }), status: provisioned },
      expected: ['Normal Recovered: Provisioned 5 RBAC objects for 3 role groups.'],
    },
    {
      name: 'expired (grants revoked): Expired, no Revoked besides',
      given: {
        previous: status({ ready: 'Provisioned' }, 'Active'),
        status: status({ ready: 'Expired', message: 'gone' }, 'Expired'),
        lifetime: { state: 'Expired', since: new Date('2026-01-01T00:00:00Z') },
        pruned: 5,
      },
      expected: [
        'Normal Expired: Expired at 2026-01-01T00:00:00Z (spec.validUntil): nothing the policy grants exists any more.',
      ],
    },
    {
      name: 'first reconcile of an active policy: nothing',
      given: { status: status({ ready: 'Provisioned' }, 'Active'), lifetime: active },
      expected: [],
    },
  ])('$name', ({ given, expected }) => {
    const events = policyEvents({
      previous: given.previous,
      status: given.status,
      lifetime: given.lifetime,
      pruned: given.pruned ?? 0,
    });
    expect(events.map((e) => `${e.type} ${e.reason}: ${e.note}`)).toEqual(expected);
  });
});
