import { describe, expect, it } from '@jest/globals';
import { ImpersonationPolicySpecSchema } from '../../../src/api/index.js';
import { AuthorCheck, authorEntries, parseAuthorStamp } from '../../../src/controller/author-check.js';

const spec = (raw: Record<string, unknown>) =>
  ImpersonationPolicySpecSchema.parse({ impersonators: [{ kind: 'User', name: 'proxy' }], ...raw });

describe('parseAuthorStamp', () => {
  it.each([
    {
      name: 'a full stamp',
      given:
        '{"username":"alice","uid":"u1","groups":["dev","system:authenticated"],"extra":{"scopes":["a","b"]}}',
      expected: {
        username: 'alice',
        uid: 'u1',
        groups: ['dev', 'system:authenticated'],
        extra: { scopes: ['a', 'b'] },
      },
    },
    {
      name: 'an empty uid, no groups, no extra',
      given: '{"username":"bob","uid":"","groups":[],"extra":{}}',
      expected: { username: 'bob', groups: [], extra: {} },
    },
    {
      // strings.quote escapes like Go: \a and \v are not JSON, raw control characters pass through.
      name: "CEL strings.quote's escapes",
      given: '{"username":"a\\\\b\\"c\\a\\v\u0001","groups":[],"extra":{}}',
      expected: { username: 'a\\b"c\u0007\u000b\u0001', groups: [], extra: {} },
    },
    { name: 'nothing', given: undefined, expected: undefined },
    { name: 'an empty string', given: '', expected: undefined },
    { name: 'not JSON', given: 'alice', expected: undefined },
    { name: 'no username', given: '{"groups":[]}', expected: undefined },
    { name: 'an empty username', given: '{"username":""}', expected: undefined },
    { name: 'groups that are not strings', given: '{"username":"a","groups":[1]}', expected: undefined },
    { name: 'extra that is a list', given: '{"username":"a","extra":[]}', expected: undefined },
  ])('reads $name', ({ given, expected }) => {
    expect(parseAuthorStamp(given)).toEqual(expected);
  });
});

describe('authorEntries', () => {
  it('asks impersonate for the FINAL group names (spec.groupPrefix after normalization)', () => {
    const labels = authorEntries(
      spec({ roles: [{ name: 'SRE On Call', clusterRoles: ['view'] }], groupPrefix: 'sdm:' }),
    ).map((e) => e.label);
    expect(labels).toContain('impersonate group sdm:sre-on-call');
    expect(labels).not.toContain('impersonate group sre-on-call');
  });

  it('asks impersonate for every target and bind for every ClusterRole where it is bound', () => {
    const entries = authorEntries(
      spec({
        targets: {
          users: ['alice'],
          allowAnyUser: true,
          groups: ['ops'],
          serviceAccounts: [{ namespace: 'ci', name: 'deployer' }],
          uids: ['42'],
          userExtras: [{ key: 'scopes', values: ['read', 'write'] }],
        },
        roles: [
          { name: 'SRE On Call', clusterRoles: ['view'] },
          { name: 'Developers', clusterRoles: ['edit'], namespaces: ['a', 'b'] },
          { name: 'ops', clusterRoles: ['view'] },
        ],
      }),
    );
    expect(entries).toEqual([
      { label: 'impersonate any user', attributes: { verb: 'impersonate', group: '', resource: 'users' } },
      {
        label: 'impersonate user alice',
        attributes: { verb: 'impersonate', group: '', resource: 'users', name: 'alice' },
      },
      {
        label: 'impersonate group ops',
        attributes: { verb: 'impersonate', group: '', resource: 'groups', name: 'ops' },
      },
      {
        label: 'impersonate group developers',
        attributes: { verb: 'impersonate', group: '', resource: 'groups', name: 'developers' },
      },
      {
        label: 'impersonate group sre-on-call',
        attributes: { verb: 'impersonate', group: '', resource: 'groups', name: 'sre-on-call' },
      },
      {
        label: 'impersonate serviceaccount ci/deployer',
        attributes: {
          verb: 'impersonate',
          group: '',
          resource: 'serviceaccounts',
          namespace: 'ci',
          name: 'deployer',
        },
      },
      {
        label: 'impersonate uid 42',
        attributes: { verb: 'impersonate', group: 'authentication.k8s.io', resource: 'uids', name: '42' },
      },
      {
        label: 'impersonate userextra scopes=read',
        attributes: {
          verb: 'impersonate',
          group: 'authentication.k8s.io',
          resource: 'userextras',
          subresource: 'scopes',
          name: 'read',
        },
      },
      {
        label: 'impersonate userextra scopes=write',
        attributes: {
          verb: 'impersonate',
          group: 'authentication.k8s.io',
          resource: 'userextras',
          subresource: 'scopes',
          name: 'write',
        },
      },
      {
        label: 'bind ClusterRole view',
        attributes: {
          verb: 'bind',
          group: 'rbac.authorization.k8s.io',
          resource: 'clusterroles',
          name: 'view',
        },
      },
      {
        label: 'bind ClusterRole edit in namespace a',
        attributes: {
          verb: 'bind',
          group: 'rbac.authorization.k8s.io',
          resource: 'clusterroles',
          name: 'edit',
          namespace: 'a',
        },
      },
      {
        label: 'bind ClusterRole edit in namespace b',
        attributes: {
          verb: 'bind',
          group: 'rbac.authorization.k8s.io',
          resource: 'clusterroles',
          name: 'edit',
          namespace: 'b',
        },
      },
    ]);
  });
});

// The reviews themselves are the API server's (integration tests); here only what the class adds:
// no stamp fails closed without asking, exemptions, and asking once per generation.
describe('AuthorCheck', () => {
  const policy = (annotations: Record<string, string>, generation = 1) => ({
    metadata: { name: 'p', uid: 'uid-1', generation, annotations },
  });
  const stamp = '{"username":"alice","uid":"","groups":[],"extra":{}}';
  const counting = (allowed: (body: unknown) => boolean) => {
    const calls: unknown[] = [];
    return {
      calls,
      client: {
        request: async <T>(args: { body?: unknown }): Promise<T> => {
          calls.push(args.body);
          return { status: { allowed: allowed(args.body) } } as T;
        },
      },
    };
  };
  const s = spec({ targets: { users: ['x', 'y'] } });

  it('fails closed without a stamp and sends no review', async () => {
    const fake = counting(() => true);
    const check = new AuthorCheck({ client: fake.client });
    expect((await check.judge(policy({}), s))?.reason).toBe('AuthorCheckFailed');
    expect(fake.calls).toHaveLength(0);
  });

  it('fails closed when the operator may not ask, and asks again next time', async () => {
    const { KubeApiError } = await import('../../../src/kube/errors.js');
    let calls = 0;
    const client = {
      request: async <T>(): Promise<T> => {
        calls++;
        throw new KubeApiError({
          code: 403,
          verb: 'create',
          path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        });
      },
    };
    const check = new AuthorCheck({ client, concurrency: 1 });
    const p = policy({ 'impersonation-operator.io/author': stamp });
    expect((await check.judge(p, s))?.message).toContain('may not create SubjectAccessReviews');
    expect((await check.judge(p, s))?.reason).toBe('AuthorCheckFailed');
    expect(calls).toBe(2);
  });

  it('skips exempt authors', async () => {
    const fake = counting(() => false);
    const check = new AuthorCheck({ client: fake.client, exemptUsers: ['alice'] });
    expect(await check.judge(policy({ 'impersonation-operator.io/author': stamp }), s)).toBeUndefined();
    expect(fake.calls).toHaveLength(0);
  });

  it('names the refused entries and asks only once per generation and stamp', async () => {
    const fake = counting((body) => JSON.stringify(body).includes('"name":"x"'));
    const check = new AuthorCheck({ client: fake.client, cacheTtlMs: 0 });
    const p = policy({ 'impersonation-operator.io/author': stamp });
    const first = await check.judge(p, s);
    expect(first?.reason).toBe('AuthorNotPermitted');
    expect(first?.message).toContain(
      "'alice' may not grant 1 of its 2 entries themselves: impersonate user y.",
    );
    expect(await check.judge(p, s)).toEqual(first);
    expect(fake.calls).toHaveLength(2);
    await check.judge(policy({ 'impersonation-operator.io/author': stamp }, 2), s);
    expect(fake.calls).toHaveLength(4);
  });

  it('reuses answers across policies by one author within the TTL', async () => {
    const fake = counting(() => true);
    let now = 0;
    const check = new AuthorCheck({ client: fake.client, cacheTtlMs: 1000, now: () => now });
    await check.judge(policy({ 'impersonation-operator.io/author': stamp }, 1), s);
    await check.judge(policy({ 'impersonation-operator.io/author': stamp }, 2), s);
    expect(fake.calls).toHaveLength(2);
    now = 2000;
    await check.judge(policy({ 'impersonation-operator.io/author': stamp }, 3), s);
    expect(fake.calls).toHaveLength(4);
  });
});

describe('authorEntries of a constrained policy', () => {
  it('asks the constrained verbs the operator will grant: impersonate:<mode> in authentication.k8s.io and impersonate-on per action', () => {
    const entries = authorEntries(
      spec({
        targets: { users: ['alice'], serviceAccounts: [{ namespace: 'ci', name: 'deployer' }] },
        allowedActions: [
          { verbs: ['get'], apiGroups: ['apps'], resources: ['deployments/scale'], namespaces: ['ci'] },
        ],
      }),
    );
    expect(entries.map((e) => e.attributes)).toEqual([
      { verb: 'impersonate:user-info', group: 'authentication.k8s.io', resource: 'users', name: 'alice' },
      {
        verb: 'impersonate:serviceaccount',
        group: 'authentication.k8s.io',
        resource: 'serviceaccounts',
        namespace: 'ci',
        name: 'deployer',
      },
      {
        verb: 'impersonate-on:user-info:get',
        group: 'apps',
        resource: 'deployments',
        subresource: 'scale',
        namespace: 'ci',
      },
      {
        verb: 'impersonate-on:serviceaccount:get',
        group: 'apps',
        resource: 'deployments',
        subresource: 'scale',
        namespace: 'ci',
      },
    ]);
    expect(entries.some((e) => e.attributes.verb === 'impersonate')).toBe(false);
  });
});
