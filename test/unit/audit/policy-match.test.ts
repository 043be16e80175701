import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import type { AuditRecord, Identity } from '../../../src/audit/event.js';
import { impersonationChecks, PolicyUsage, type PolicyAudit } from '../../../src/audit/policy-match.js';
import { loadPolicies } from '../../../src/cli/policy-files.js';
import { decideAll } from '../../../src/cli/policy-set.js';
import { DEFAULT_CORE_CONFIG, groupBindingName } from '../../../src/core/index.js';

const proxy: Identity = { username: 'proxy', groups: ['system:authenticated'] };
const cicd: Identity = {
  username: 'system:serviceaccount:kube-system:cicd-agent',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
};

function imp(by: Identity, as: Identity, reason?: string): AuditRecord {
  return {
    kind: 'impersonated',
    auditID: '',
    stage: 'ResponseComplete',
    time: 1,
    timestamp: '2026-01-05T10:00:00.000000Z',
    impersonator: by,
    target: as,
    action: { verb: 'get', resource: 'pods', namespace: 'default' },
    code: 200,
    outcome: 'allowed',
    ...(reason ? { reason } : {}),
  };
}

function refused(by: Identity, resource: string, name: string, namespace = ''): AuditRecord {
  return {
    kind: 'refused',
    auditID: '',
    stage: 'ResponseComplete',
    time: 1,
    timestamp: '2026-01-05T10:00:00.000000Z',
    impersonator: by,
    action: { verb: 'get', resource: 'pods', namespace: 'default' },
    code: 403,
    attempted: { resource, name, namespace },
  };
}

async function audit(records: AuditRecord[]): Promise<PolicyAudit> {
  const set = await loadPolicies([join(import.meta.dirname, '../cli/fixtures/proxy.yaml')]);
  const usage = new PolicyUsage(
    decideAll(set.policies, DEFAULT_CORE_CONFIG).map((d) => ({ policy: d.name, objects: d.objects })),
  );
  for (const r of records) usage.add(r);
  return usage.report();
}

describe('impersonationChecks', () => {
  it.each([
    {
      name: 'a user with groups (system:authenticated is added by the API server)',
      target: { username: 'alice', groups: ['sre', 'system:authenticated'] },
      expected: ['users//alice', 'groups//sre'],
    },
    {
      name: 'a service account with only the groups the API server adds',
      target: {
        username: 'system:serviceaccount:ns:sa',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:ns', 'system:authenticated'],
      },
      expected: ['serviceaccounts/ns/sa'],
    },
    {
      name: 'a service account with an explicit group (then every group was asked for)',
      target: {
        username: 'system:serviceaccount:ns:sa',
        groups: ['system:serviceaccounts', 'system:authenticated'],
      },
      expected: ['serviceaccounts/ns/sa', 'groups//system:serviceaccounts'],
    },
    {
      name: 'uid and extras',
      target: { username: 'u', groups: [], uid: 'u-1', extra: { scopes: ['a', 'b'] } },
      expected: ['users//u', 'uids//u-1', 'userextras/scopes//a', 'userextras/scopes//b'],
    },
  ])('$name', ({ target, expected }) => {
    expect(impersonationChecks(target).map((c) => `${c.resource}/${c.namespace}/${c.name}`)).toEqual(
      expected,
    );
  });
});

describe('PolicyUsage (policies from the core)', () => {
  it('allows what the policies grant and reports what they do not', async () => {
    const r = await audit([
      imp(proxy, { username: 'alice@example.com', groups: ['sre-on-call', 'system:authenticated'] }),
      imp(proxy, { username: 'alice@example.com', groups: ['ops', 'system:authenticated'] }),
      imp(proxy, { username: 'alice@example.com', groups: ['ops', 'system:authenticated'] }),
      imp(
        { username: 'intruder', groups: ['system:authenticated'] },
        { username: 'bob@example.com', groups: [] },
      ),
      imp(cicd, {
        username: 'system:serviceaccount:my-namespace:deployer',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:my-namespace', 'system:authenticated'],
      }),
      imp(cicd, { username: 'system:serviceaccount:other:deployer', groups: [] }),
    ]);
    expect(
      r.notAllowed.map((n) => [n.impersonator, n.target.username, n.requests, n.missing.map((m) => m.name)]),
    ).toEqual([
      ['proxy', 'alice@example.com', 2, ['ops']],
      ['intruder', 'bob@example.com', 1, ['bob@example.com']],
      [
        'system:serviceaccount:kube-system:cicd-agent',
        'system:serviceaccount:other:deployer',
        1,
        ['deployer'],
      ],
    ]);
  });

  it('lists grants never used, and marks role-group bindings used from the authorizer reason', async () => {
    const sreBinding = groupBindingName('access-proxy', 'sre-on-call', 'view');
    const r = await audit([
      imp(
        proxy,
        { username: 'alice@example.com', groups: ['sre-on-call'] },
        `RBAC: allowed by ClusterRoleBinding "${sreBinding}" of ClusterRole "view" to Group "sre-on-call"`,
      ),
    ]);
    expect(
      r.unused.map((u) =>
        u.kind === 'impersonate'
          ? `${u.policy} ${u.resource} ${u.namespace ?? ''}/${u.name}`
          : `${u.policy} ${u.binding?.kind} ${u.binding?.namespace ?? ''}/${u.binding?.group}->${u.binding?.clusterRole}`,
      ),
    ).toEqual([
      'access-proxy groups /developers',
      'access-proxy users /bob@example.com',
      'access-proxy RoleBinding dev/developers->edit',
      'access-proxy RoleBinding staging/developers->edit',
      'cicd serviceaccounts my-namespace/deployer',
    ]);
  });

  it('flags refused impersonations that a policy grants', async () => {
    const r = await audit([
      refused(proxy, 'users', 'bob@example.com'),
      refused(proxy, 'groups', 'ops'),
      refused(cicd, 'serviceaccounts', 'deployer', 'my-namespace'),
    ]);
    expect(r.refusedButGranted.map((x) => [x.attempted.name, x.policies])).toEqual([
      ['bob@example.com', ['access-proxy']],
      ['deployer', ['cicd']],
    ]);
  });

  it('only lets a Group impersonator act for its members', async () => {
    const set = await loadPolicies(
      ['-'],
      (await import('node:stream')).Readable.from([
        Buffer.from(`apiVersion: impersonation-operator.io/v1alpha1
kind: ImpersonationPolicy
metadata: { name: g }
spec:
  impersonators: [{ kind: Group, name: proxies }]
  targets: { users: [alice] }
`),
      ]),
    );
    const usage = new PolicyUsage(
      decideAll(set.policies, DEFAULT_CORE_CONFIG).map((d) => ({ policy: d.name, objects: d.objects })),
    );
    usage.add(imp({ username: 'p1', groups: ['proxies'] }, { username: 'alice', groups: [] }));
    usage.add(imp({ username: 'p2', groups: ['others'] }, { username: 'alice', groups: [] }));
    expect(usage.report().notAllowed.map((n) => n.impersonator)).toEqual(['p2']);
  });
});

describe('PolicyUsage with constrained policies', () => {
  const policyRbac = async () => {
    const { ImpersonationPolicySpecSchema } = await import('../../../src/api/index.js');
    const { decidePolicy, desiredRbac } = await import('../../../src/core/index.js');
    const spec = ImpersonationPolicySpecSchema.parse({
      impersonators: [{ kind: 'User', name: 'proxy' }],
      targets: { users: ['alice'], serviceAccounts: [{ namespace: 'my', name: 'deployer' }] },
      allowedActions: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }],
    });
    const identity = { name: 'read-only', uid: 'u' };
    const decisions = decidePolicy({ metadata: identity, spec }, [], DEFAULT_CORE_CONFIG);
    return { policy: 'read-only', objects: desiredRbac(identity, decisions.grants) };
  };
  const alice: Identity = { username: 'alice', groups: ['system:authenticated'] };
  const deployer: Identity = {
    username: 'system:serviceaccount:my:deployer',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:my', 'system:authenticated'],
  };

  it('a request allowed by the constrained grant is allowed by the policy; legacy use of its targets is flagged', async () => {
    const usage = new PolicyUsage([await policyRbac()]);
    usage.add({ ...imp(proxy, alice), constraint: 'impersonate:user-info' } as AuditRecord);
    usage.add({ ...imp(proxy, deployer), constraint: 'impersonate:serviceaccount' } as AuditRecord);
    let report = usage.report();
    expect(report.notAllowed).toEqual([]);
    expect(report.legacyUse).toBeUndefined();
    expect(report.unused).toEqual([]);

    usage.add(imp(proxy, alice));
    report = usage.report();
    expect(report.legacyUse).toEqual([
      { policy: 'read-only', impersonator: 'proxy', target: 'alice', requests: 1 },
    ]);
    expect(report.notAllowed.map((n) => n.target.username)).toEqual(['alice']);
  });

  it('constrained checks are made with the constraint verb in authentication.k8s.io', () => {
    expect(impersonationChecks(alice, 'impersonate:user-info')).toEqual([
      {
        resource: 'users',
        apiGroup: 'authentication.k8s.io',
        name: 'alice',
        namespace: '',
        verb: 'impersonate:user-info',
      },
    ]);
  });
});
