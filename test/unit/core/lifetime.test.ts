// Lifetime (spec.validFrom, validUntil, suspend) and group mapping (spec.groupPrefix, Lowercase): the
// window arithmetic at its boundaries, the timer, the transitions, and what an inactive or prefixed
// policy provisions. Time is always passed in: the operator's clock rules (see README "Lifetime").

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { ImpersonationPolicySpecInput, LifetimeState } from '../../../src/api/index.js';
import {
  DEFAULT_CORE_CONFIG,
  MAX_LIFETIME_TIMER_MS,
  decidePolicy,
  derivedGroups,
  findCollisions,
  lifetimeRequeueMs,
  lifetimeTransition,
  planPolicy,
  policyLifetime,
  policyStatus,
  roleGroupName,
  type Lifetime,
} from '../../../src/core/index.js';
import { NOTHING_OBSERVED, observedAfterApply, peer, policy, proxy, spec } from './helpers.js';

const FROM = '2026-12-24T08:00:00Z';
const UNTIL = '2026-12-24T18:00:00Z';
const ms = (iso: string, delta = 0) => new Date(Date.parse(iso) + delta);

const windowed = (extra: Partial<ImpersonationPolicySpecInput>): ImpersonationPolicySpecInput => ({
  impersonators: [...proxy],
  targets: { users: ['alice@example.com'] },
  roles: [{ name: 'SRE On Call', clusterRoles: ['view'] }],
  ...extra,
});

describe('policyLifetime', () => {
  it.each<{ name: string; given: Partial<ImpersonationPolicySpecInput>; now: Date; expected: Lifetime }>([
    { name: 'no window: Active for ever', given: {}, now: ms(FROM), expected: { state: 'Active' } },
    {
      name: '1 ms before validFrom: NotYetValid, next change at validFrom',
      given: { validFrom: FROM, validUntil: UNTIL },
      now: ms(FROM, -1),
      expected: { state: 'NotYetValid', nextChange: ms(FROM) },
    },
    {
      name: 'at validFrom exactly: Active (the window is closed at its start)',
      given: { validFrom: FROM, validUntil: UNTIL },
      now: ms(FROM),
      expected: { state: 'Active', nextChange: ms(UNTIL), since: ms(FROM) },
    },
    {
      name: '1 ms before validUntil: still Active',
      given: { validFrom: FROM, validUntil: UNTIL },
      now: ms(UNTIL, -1),
      expected: { state: 'Active', nextChange: ms(UNTIL), since: ms(FROM) },
    },
    {
      name: 'at validUntil exactly: Expired (the window is open at its end)',
      given: { validFrom: FROM, validUntil: UNTIL },
      now: ms(UNTIL),
      expected: { state: 'Expired', since: ms(UNTIL) },
    },
    {
      name: 'created long after validUntil: Expired, no timer',
      given: { validUntil: UNTIL },
      now: ms(UNTIL, 365 * 86_400_000),
      expected: { state: 'Expired', since: ms(UNTIL) },
    },
    {
      name: 'only validFrom, after it: Active without an end',
      given: { validFrom: FROM },
      now: ms(FROM, 1),
      expected: { state: 'Active', since: ms(FROM) },
    },
    {
      name: 'offsets are applied: 10:00+02:00 is 08:00Z',
      given: { validFrom: '2026-12-24T10:00:00+02:00' },
      now: ms(FROM, -1),
      expected: { state: 'NotYetValid', nextChange: ms(FROM) },
    },
    {
      name: 'suspend wins inside the window',
      given: { validFrom: FROM, validUntil: UNTIL, suspend: true },
      now: ms(FROM, 1),
      expected: { state: 'Suspended' },
    },
    {
      name: 'suspend wins after the window too',
      given: { validUntil: UNTIL, suspend: true },
      now: ms(UNTIL, 1),
      expected: { state: 'Suspended' },
    },
    {
      // The operator's clock rules: an operator 2 s behind the API server keeps the grant 2 s longer
      // by the server's clock; nothing on the server enforces the window (README "Lifetime").
      name: "operator clock 2 s behind the API server's: Active until the operator's clock reaches validUntil",
      given: { validUntil: UNTIL },
      now: ms(UNTIL, -2000),
      expected: { state: 'Active', nextChange: ms(UNTIL) },
    },
  ])('$name', ({ given, now, expected }) => {
    expect(policyLifetime(spec(windowed(given)), now)).toEqual(expected);
  });
});

describe('lifetimeRequeueMs', () => {
  it.each<{ name: string; lifetime: Lifetime; now: Date; expected: number | undefined }>([
    { name: 'no boundary: no timer', lifetime: { state: 'Active' }, now: ms(FROM), expected: undefined },
    {
      name: 'the time to the boundary',
      lifetime: { state: 'Active', nextChange: ms(UNTIL) },
      now: ms(UNTIL, -5000),
      expected: 5000,
    },
    {
      name: 'a boundary already due: 1 ms, never 0 (0 means "no requeue")',
      lifetime: { state: 'Active', nextChange: ms(UNTIL) },
      now: ms(UNTIL, 10),
      expected: 1,
    },
    {
      name: "a far boundary: capped (Node's setTimeout overflows past 2^31-1 ms)",
      lifetime: { state: 'NotYetValid', nextChange: ms(FROM) },
      now: ms(FROM, -60 * 86_400_000),
      expected: MAX_LIFETIME_TIMER_MS,
    },
  ])('$name', ({ lifetime, now, expected }) => {
    expect(lifetimeRequeueMs(lifetime, now)).toBe(expected);
  });

  it('wakes at the first millisecond the state differs, never before (property)', () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3_600_000 }),
        fc.integer({ min: 1, max: 3_600_000 }),
        fc.integer({ min: -7_200_000, max: 7_200_000 }),
        (fromOffset, length, nowOffset) => {
          const from = new Date(t0 + fromOffset * 1000);
          const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
          const until = new Date(from.getTime() + length * 1000);
          const s = spec(windowed({ validFrom: iso(from), validUntil: iso(until) }));
          const now = new Date(from.getTime() + nowOffset);
          const here = policyLifetime(s, now);
          const wait = lifetimeRequeueMs(here, now);
          if (wait === undefined) return here.state === 'Expired';
          if (wait === MAX_LIFETIME_TIMER_MS) return true;
          const later = policyLifetime(s, new Date(now.getTime() + wait));
          const justBefore = policyLifetime(s, new Date(now.getTime() + wait - 1));
          return later.state !== here.state && (wait === 1 || justBefore.state === here.state);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('lifetimeTransition', () => {
  it.each<{ previous: LifetimeState | undefined; now: LifetimeState; expected: string | undefined }>([
    { previous: undefined, now: 'Active', expected: undefined },
    { previous: undefined, now: 'Expired', expected: 'Expired' },
    { previous: undefined, now: 'NotYetValid', expected: 'NotYetValid' },
    { previous: 'NotYetValid', now: 'Active', expected: 'Activated' },
    { previous: 'Active', now: 'Expired', expected: 'Expired' },
    { previous: 'Active', now: 'Suspended', expected: 'Suspended' },
    { previous: 'Suspended', now: 'Active', expected: 'Resumed' },
    { previous: 'Expired', now: 'Expired', expected: undefined },
  ])('$previous -> $now: event $expected', ({ previous, now, expected }) => {
    const lifetime: Lifetime =
      now === 'Expired'
        ? { state: now, since: ms(UNTIL) }
        : now === 'NotYetValid'
          ? { state: now, nextChange: ms(FROM) }
          : { state: now };
    expect(lifetimeTransition(previous, lifetime)?.reason).toBe(expected);
  });
});

describe('a policy outside its lifetime', () => {
  const inForce = policy('break-glass', windowed({ validFrom: FROM, validUntil: UNTIL }));
  const active = planPolicy({
    policy: inForce,
    peers: [],
    config: DEFAULT_CORE_CONFIG,
    observed: NOTHING_OBSERVED,
    now: ms(FROM),
  });
  const afterApply = observedAfterApply(active.desired);

  it.each<{ name: string; given: Partial<ImpersonationPolicySpecInput>; now: Date; state: LifetimeState }>([
    { name: 'expired', given: { validFrom: FROM, validUntil: UNTIL }, now: ms(UNTIL), state: 'Expired' },
    {
      name: 'not yet valid',
      given: { validFrom: FROM, validUntil: UNTIL },
      now: ms(FROM, -1),
      state: 'NotYetValid',
    },
    {
      name: 'suspended',
      given: { validFrom: FROM, validUntil: UNTIL, suspend: true },
      now: ms(FROM),
      state: 'Suspended',
    },
  ])('$name: desires nothing, prunes all it owns, and is Ready (not a failure)', ({ given, now, state }) => {
    expect(active.desired.length).toBeGreaterThan(0);
    const p = { ...inForce, spec: spec(windowed(given)) };
    const plan = planPolicy({ policy: p, peers: [], config: DEFAULT_CORE_CONFIG, observed: afterApply, now });
    expect(plan.desired).toEqual([]);
    expect(plan.prune.map((t) => t.name).sort()).toEqual(active.desired.map((o) => o.metadata.name).sort());
    const status = policyStatus({ generation: 1, now, plan, lifetime: policyLifetime(p.spec, now) });
    expect(status.lifetime).toBe(state);
    const byType = Object.fromEntries((status.conditions ?? []).map((c) => [c.type, [c.status, c.reason]]));
    expect(byType).toEqual({
      Active: ['False', state],
      Ready: ['True', state],
      Reconciling: ['False', 'Reconciled'],
      Stalled: ['False', 'Reconciled'],
    });
    expect(status.roleCount).toBe(1);
    expect(status.groupCount).toBe(0);
  });

  it('reports the next change: validFrom while not yet valid, validUntil while active', () => {
    const s = spec(windowed({ validFrom: FROM, validUntil: UNTIL }));
    const status = (now: Date) =>
      policyStatus({
        generation: 1,
        now,
        plan: planPolicy({
          policy: { ...inForce, spec: s },
          peers: [],
          config: DEFAULT_CORE_CONFIG,
          observed: NOTHING_OBSERVED,
          now,
        }),
        lifetime: policyLifetime(s, now),
      });
    expect(status(ms(FROM, -1)).nextLifetimeChange).toBe(FROM);
    expect(status(ms(FROM)).nextLifetimeChange).toBe(UNTIL);
    expect(status(ms(UNTIL)).nextLifetimeChange).toBeUndefined();
    expect(status(ms(FROM)).conditions?.find((c) => c.type === 'Active')).toMatchObject({
      status: 'True',
      reason: 'Active',
      message: `In force until ${UNTIL} (spec.validUntil).`,
    });
  });

  it('inactive at every time outside the window, for any window (property)', () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: -200_000, max: 200_000 }),
        (len, off) => {
          const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
          const s = spec(windowed({ validFrom: iso(t0), validUntil: iso(t0 + len * 1000) }));
          const now = new Date(t0 + off * 1000);
          const plan = planPolicy({
            policy: { ...inForce, spec: s },
            peers: [],
            config: DEFAULT_CORE_CONFIG,
            observed: NOTHING_OBSERVED,
            now,
          });
          const inside = off >= 0 && off < len;
          return inside === plan.desired.length > 0;
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('spec.groupPrefix and Lowercase', () => {
  it.each<{ name: string; given: Partial<ImpersonationPolicySpecInput>; role: string; expected: string }>([
    {
      name: 'AccessProxy, then the prefix',
      given: { groupPrefix: 'sdm:' },
      role: 'SRE On Call',
      expected: 'sdm:sre-on-call',
    },
    {
      name: 'the prefix is literal (not lower-cased)',
      given: { groupPrefix: 'SSO/' },
      role: 'Dev',
      expected: 'SSO/dev',
    },
    {
      name: 'Lowercase keeps spaces',
      given: { groupNameNormalization: 'Lowercase' },
      role: 'SRE On Call',
      expected: 'sre on call',
    },
    {
      name: "Lowercase is Go's (İ -> i)",
      given: { groupNameNormalization: 'Lowercase', groupPrefix: 'oidc:' },
      role: 'İnfra Team',
      expected: 'oidc:infra team',
    },
    {
      name: 'Verbatim plus prefix',
      given: { groupNameNormalization: 'Verbatim', groupPrefix: 'idp_' },
      role: 'Ops',
      expected: 'idp_Ops',
    },
  ])('$name: $role -> $expected', ({ given, role, expected }) => {
    expect(roleGroupName(role, spec(windowed(given)))).toBe(expected);
  });

  it('binds and grants the prefixed group, and the status maps the role to it', () => {
    const d = decidePolicy(policy('p', windowed({ groupPrefix: 'sdm:' })), [], DEFAULT_CORE_CONFIG);
    expect(d.grants.groups).toEqual(['sdm:sre-on-call']);
    expect(d.grants.bindings).toEqual([
      { role: 'SRE On Call', group: 'sdm:sre-on-call', clusterRole: 'view' },
    ]);
    expect(d.roleGroups).toEqual([{ role: 'SRE On Call', group: 'sdm:sre-on-call', clusterRoles: ['view'] }]);
  });

  it.each([
    ['s', 'ystem:authenticated', 'AccessProxy'],
    ['s', 'YSTEM:Nodes', 'Verbatim'],
    ['sys', 'TEM:masters', 'Lowercase'],
  ] as const)(
    'judges the FINAL name as a binding subject: prefix %j + role %j is a system: group, refused',
    (groupPrefix, role, groupNameNormalization) => {
      const d = decidePolicy(
        policy('p', {
          impersonators: [...proxy],
          roles: [{ name: role, clusterRoles: ['view'] }],
          groupPrefix,
          groupNameNormalization,
        }),
        [],
        DEFAULT_CORE_CONFIG,
      );
      expect(d.grants.bindings).toEqual([]);
      expect(d.grants.groups).toEqual([]);
      expect(d.denied).toEqual([
        expect.objectContaining({ kind: 'Group', role, reason: 'SystemBindingSubject' }),
      ]);
    },
  );

  const roles = (names: string[], extra: Partial<ImpersonationPolicySpecInput> = {}) =>
    windowed({ targets: {}, roles: names.map((name) => ({ name, clusterRoles: ['view'] })), ...extra });

  it.each<{
    name: string;
    own: ImpersonationPolicySpecInput;
    other: ImpersonationPolicySpecInput;
    groups: string[];
  }>([
    {
      name: 'different prefixes, same role: no collision',
      own: roles(['SRE'], { groupPrefix: 'sdm:' }),
      other: roles(['SRE'], { groupPrefix: 'oidc:' }),
      groups: [],
    },
    {
      name: 'prefix vs. no prefix, same role: no collision',
      own: roles(['SRE'], { groupPrefix: 'sdm:' }),
      other: roles(['SRE']),
      groups: [],
    },
    {
      name: 'the same prefixed role in both: the same external role, no collision',
      own: roles(['SRE'], { groupPrefix: 'sdm:' }),
      other: roles(['SRE'], { groupPrefix: 'sdm:' }),
      groups: [],
    },
    {
      name: 'a prefixed role and a role spelling the same final name collide',
      own: roles(['SRE'], { groupPrefix: 'sdm:' }),
      other: roles(['sdm:sre']),
      groups: ['sdm:sre'],
    },
    {
      name: 'prefixes that overlap into one final name collide',
      own: roles(['bc'], { groupPrefix: 'a' }),
      other: roles(['c'], { groupPrefix: 'ab' }),
      groups: ['abc'],
    },
  ])('$name', ({ own, other, groups }) => {
    const collisions = findCollisions({ name: 'self', spec: spec(own) }, [peer('other', other)]);
    expect(collisions.map((c) => c.group)).toEqual(groups);
    expect(collisions.every((c) => c.scope === 'AcrossPolicies')).toBe(true);
  });

  it('collides exactly on shared final names with different role names (property)', () => {
    const prefix = fc.constantFrom(undefined, 'a', 'ab', 'sdm:', 'oidc:');
    const name = fc.constantFrom('bc', 'c', 'SRE', 'sre', 'sdm:sre', 'abc', 'B C');
    const side = fc.record({
      groupPrefix: prefix,
      groupNameNormalization: fc.constantFrom(
        'AccessProxy' as const,
        'Lowercase' as const,
        'Verbatim' as const,
      ),
      names: fc.uniqueArray(name, { minLength: 1, maxLength: 3 }),
    });
    fc.assert(
      fc.property(side, side, (a, b) => {
        const sa = spec(
          roles(a.names, {
            groupNameNormalization: a.groupNameNormalization,
            ...(a.groupPrefix ? { groupPrefix: a.groupPrefix } : {}),
          }),
        );
        const sb = spec(
          roles(b.names, {
            groupNameNormalization: b.groupNameNormalization,
            ...(b.groupPrefix ? { groupPrefix: b.groupPrefix } : {}),
          }),
        );
        const across = findCollisions(
          { name: 'a', spec: sa },
          [peer('b', roles([]))].map(() => ({ metadata: { name: 'b' }, spec: sb })),
        )
          .filter((c) => c.scope === 'AcrossPolicies')
          .map((c) => c.group);
        const finalOf = (s: typeof sa) => s.roles.map((r) => [r.name, roleGroupName(r.name, s)] as const);
        const expected = derivedGroups(sa).filter((g) => {
          const mine = finalOf(sa)
            .filter(([, f]) => f === g)
            .map(([r]) => r);
          const theirs = finalOf(sb)
            .filter(([, f]) => f === g)
            .map(([r]) => r);
          return theirs.some((t) => mine.some((m) => m !== t));
        });
        expect(across).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
