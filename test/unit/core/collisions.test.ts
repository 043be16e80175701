import { describe, expect, it } from '@jest/globals';
import type { Collision, ImpersonationPolicySpecInput } from '../../../src/api/index.js';
import { derivedGroups, findCollisions } from '../../../src/core/index.js';
import { peer, proxy, spec } from './helpers.js';

const roles = (
  names: string[],
  groupNameNormalization?: 'AccessProxy' | 'Verbatim',
): ImpersonationPolicySpecInput => ({
  impersonators: [...proxy],
  roles: names.map((name) => ({ name, clusterRoles: ['view'] })),
  ...(groupNameNormalization === undefined ? {} : { groupNameNormalization }),
});

describe('findCollisions', () => {
  it.each<{
    name: string;
    given: { own: ImpersonationPolicySpecInput; peers?: [string, ImpersonationPolicySpecInput][] };
    expected: Collision[];
  }>([
    {
      name: "document example: 'MyRole' and 'myrole' -> myrole",
      given: { own: roles(['MyRole', 'myrole']) },
      expected: [{ group: 'myrole', scope: 'WithinPolicy', roles: ['MyRole', 'myrole'] }],
    },
    {
      name: "document example: 'My-Role' and 'My role' -> my-role",
      given: { own: roles(['My-Role', 'My role']) },
      expected: [{ group: 'my-role', scope: 'WithinPolicy', roles: ['My role', 'My-Role'] }],
    },
    {
      name: 'both document examples at once, plus an innocent role',
      given: { own: roles(['Readers', 'myrole', 'My role', 'MyRole', 'My-Role']) },
      expected: [
        { group: 'my-role', scope: 'WithinPolicy', roles: ['My role', 'My-Role'] },
        { group: 'myrole', scope: 'WithinPolicy', roles: ['MyRole', 'myrole'] },
      ],
    },
    {
      name: 'three names, one group',
      given: { own: roles(['A b', 'a b', 'A-B']) },
      expected: [{ group: 'a-b', scope: 'WithinPolicy', roles: ['A b', 'A-B', 'a b'] }],
    },
    {
      name: 'distinct groups do not collide',
      given: { own: roles(['SRE On Call', 'Developers']) },
      expected: [],
    },
    {
      name: 'Verbatim keeps case apart',
      given: { own: roles(['MyRole', 'myrole'], 'Verbatim') },
      expected: [],
    },
    {
      name: 'a different raw name in another policy collides',
      given: { own: roles(['My-Role']), peers: [['team-b', roles(['My role'])]] },
      expected: [
        {
          group: 'my-role',
          scope: 'AcrossPolicies',
          roles: ['My-Role'],
          otherPolicies: [{ policy: 'team-b', role: 'My role' }],
        },
      ],
    },
    {
      name: 'the same raw name in another policy is the same external role: no collision',
      given: { own: roles(['SRE On Call']), peers: [['team-b', roles(['SRE On Call'])]] },
      expected: [],
    },
    {
      name: 'different normalization modes producing one group collide',
      given: { own: roles(['sre on call']), peers: [['team-b', roles(['sre-on-call'], 'Verbatim')]] },
      expected: [
        {
          group: 'sre-on-call',
          scope: 'AcrossPolicies',
          roles: ['sre on call'],
          otherPolicies: [{ policy: 'team-b', role: 'sre-on-call' }],
        },
      ],
    },
    {
      name: 'a peer that shares the name but also has a colliding variant still collides',
      given: { own: roles(['MyRole']), peers: [['team-b', roles(['MyRole', 'myrole'])]] },
      expected: [
        {
          group: 'myrole',
          scope: 'AcrossPolicies',
          roles: ['MyRole'],
          otherPolicies: [
            { policy: 'team-b', role: 'MyRole' },
            { policy: 'team-b', role: 'myrole' },
          ],
        },
      ],
    },
    {
      name: 'within and across at once',
      given: { own: roles(['MyRole', 'myrole']), peers: [['team-b', roles(['MYROLE'])]] },
      expected: [
        {
          group: 'myrole',
          scope: 'AcrossPolicies',
          roles: ['MyRole', 'myrole'],
          otherPolicies: [{ policy: 'team-b', role: 'MYROLE' }],
        },
        { group: 'myrole', scope: 'WithinPolicy', roles: ['MyRole', 'myrole'] },
      ],
    },
    {
      name: 'a peer with the policy’s own name is ignored',
      given: { own: roles(['My-Role']), peers: [['self', roles(['My role'])]] },
      expected: [],
    },
    {
      name: 'unrelated peers do not matter',
      given: { own: roles(['Readers']), peers: [['team-b', roles(['Writers'])]] },
      expected: [],
    },
  ])('$name', ({ given, expected }) => {
    const peers = (given.peers ?? []).map(([name, input]) => peer(name, input));
    expect(findCollisions({ name: 'self', spec: spec(given.own) }, peers)).toEqual(expected);
  });

  it('is symmetric across policies', () => {
    const a = { name: 'a', spec: spec(roles(['My-Role', 'Readers'])) };
    const b = { name: 'b', spec: spec(roles(['My role'])) };
    expect(findCollisions(a, [{ metadata: { name: 'b' }, spec: b.spec }]).map((c) => c.group)).toEqual([
      'my-role',
    ]);
    expect(findCollisions(b, [{ metadata: { name: 'a' }, spec: a.spec }]).map((c) => c.group)).toEqual([
      'my-role',
    ]);
  });
});

describe('derivedGroups', () => {
  it('lists the role groups, sorted and de-duplicated', () => {
    expect(derivedGroups(spec(roles(['SRE On Call', 'MyRole', 'myrole'])))).toEqual([
      'myrole',
      'sre-on-call',
    ]);
  });
});
