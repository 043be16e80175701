// Issue 15, cases 1, 5, 6 and 8, tried as an attacker would against the real API server: a policy
// that binds everyone, impersonators that stand for many clients, targets and ClusterRoles that are
// cluster-admin by another name, and a refused policy that holds back another tenant's group. The
// operator runs under the chart's scoped identity WITH grants for everything the attacks need, so
// only the operator's own judgement stands between the policy and the grant.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { kubeconfigFor } from '../harness/identities.js';
import { requestAs } from '../harness/http.js';
import { startOperator, type OperatorProcess } from '../harness/operator.js';
import { installOperatorRbac, type OperatorRbac } from '../harness/operator-rbac.js';
import {
  adminRequest,
  applyPolicy,
  condition,
  deletePolicy,
  ensureCrd,
  ensureNamespace,
  ensureServiceAccount,
  eventually,
  generatedObjects,
  isObserved,
  isReady,
  policy,
  waitForPolicy,
  type PolicyObject,
} from '../harness/policies.js';

const s = Date.now().toString(36).slice(-6);
const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const proxyUser = `hard-proxy-${s}`;
const ns = { app: `hard-app-${s}` };
const roles = {
  reader: `hard-reader-${s}`,
  adminCopy: `hard-admin-copy-${s}`,
  grow: `hard-grow-${s}`,
  shared: `hard-shared-${s}`,
};
const powerful = {
  group: `kubeadm:cluster-admins-${s}`,
  user: `root-${s}@example.com`,
  sa: { namespace: ns.app, name: `ci-admin-${s}` },
};
const users = { alice: `hard-alice-${s}@example.com`, bob: `hard-bob-${s}@example.com` };
const protectedSa = { namespace: 'kube-system', name: 'clusterrole-aggregation-controller' };
const names = {
  protectedSa: `hard-protected-sa-${s}`,
  powerfulTargets: `hard-powerful-targets-${s}`,
  lateTarget: `hard-late-target-${s}`,
  disguised: `hard-disguised-${s}`,
  powerfulRole: `hard-powerful-role-${s}`,
  grow: `hard-grow-${s}`,
  shareA: `hard-share-a-${s}`,
  shareB: `hard-share-b-${s}`,
  tenantA: `hard-tenant-a-${s}`,
  tenantB: `hard-tenant-b-${s}`,
  anyUser: `hard-any-user-${s}`,
};
const tenant = { a: `Tenant Role ${s}`, b: `tenant role ${s}`, group: `tenant-role-${s}` };
const READER_RULES = [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }];

const stalledReason = (p: PolicyObject | undefined) =>
  condition(p, 'Stalled')?.status === 'True' ? condition(p, 'Stalled')?.reason : undefined;
const deniedReasons = (p: PolicyObject | undefined) =>
  (p?.status?.denied ?? []).map((d) => `${d.kind} ${d.name}: ${d.reason}`).sort();
const boundSubjects = async (policyName: string) =>
  (await generatedObjects(policyName))
    .filter((o) => o.roleRef?.kind === 'ClusterRole' && !o.metadata.name.includes('impersonators'))
    .flatMap((o) => (o.subjects ?? []).map((x) => `${o.roleRef!.name}<-${x.kind}:${x.name}`));
const pods = (namespace: string) => `/api/v1/namespaces/${namespace}/pods`;

async function createClusterRole(name: string, rules: unknown[]): Promise<void> {
  const res = await adminRequest('POST', `${RBAC}/clusterroles`, { metadata: { name }, rules });
  expect(res.status).toBe(201);
}

describe('hardening (integration)', () => {
  let rbac: OperatorRbac;
  let operator: OperatorProcess;
  let proxy: string;

  beforeAll(async () => {
    await ensureCrd();
    await ensureNamespace(ns.app);
    await ensureServiceAccount(powerful.sa.namespace, powerful.sa.name);
    await createClusterRole(roles.reader, READER_RULES);
    await createClusterRole(roles.adminCopy, [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]);
    await createClusterRole(roles.grow, READER_RULES);
    await createClusterRole(roles.shared, READER_RULES);
    // Identities that already are cluster-admin: a kubeadm-style group, a user and a service account.
    for (const [i, subject] of [
      { kind: 'Group', name: powerful.group, apiGroup: 'rbac.authorization.k8s.io' },
      { kind: 'User', name: powerful.user, apiGroup: 'rbac.authorization.k8s.io' },
      { kind: 'ServiceAccount', name: powerful.sa.name, namespace: powerful.sa.namespace },
    ].entries()) {
      const res = await adminRequest('POST', `${RBAC}/clusterrolebindings`, {
        metadata: { name: `hard-cluster-admin-${i}-${s}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [subject],
      });
      expect(res.status).toBe(201);
    }
    // The operator may grant all of it: only its own checks refuse.
    rbac = await installOperatorRbac({
      impersonate: {
        users: [users.alice, users.bob, powerful.user],
        groups: [
          powerful.group,
          tenant.group,
          `reader-${s}`,
          `admins-${s}`,
          `editors-${s}`,
          `team-editors-${s}`,
          `growers-${s}`,
          `sharers-a-${s}`,
          `sharers-b-${s}`,
          `late-admins-${s}`,
        ],
        serviceAccounts: [protectedSa, powerful.sa, { namespace: ns.app, name: 'deployer' }],
      },
      bindableClusterRoles: [roles.reader, roles.adminCopy, roles.grow, roles.shared, 'edit'],
    });
    operator = await startOperator({
      kubeconfig: await rbac.kubeconfig(),
      args: ['--no-leader-elect', '--resync-period=5s', '--workers=4'],
    });
    await operator.waitReady();
    proxy = await kubeconfigFor(proxyUser);
  });

  afterAll(async () => {
    for (const n of Object.values(names)) await deletePolicy(n).catch(() => undefined);
    const code = operator ? await operator.stop() : 0;
    await rbac?.uninstall();
    for (const name of Object.values(roles)) await adminRequest('DELETE', `${RBAC}/clusterroles/${name}`);
    for (let i = 0; i < 3; i++)
      await adminRequest('DELETE', `${RBAC}/clusterrolebindings/hard-cluster-admin-${i}-${s}`);
    await adminRequest('DELETE', `/api/v1/namespaces/${ns.app}`);
    expect(code).toBe(0);
  });

  it('case 1: a role named System:Authenticated (any case, any normalization) is refused at admission', async () => {
    for (const [name, groupNameNormalization] of [
      ['System:Authenticated', 'AccessProxy'],
      ['system:authenticated', 'Verbatim'],
      ['SYSTEM:serviceaccounts', 'AccessProxy'],
    ] as const) {
      const err = await applyPolicy(
        policy(`hard-everyone-${s}`, {
          impersonators: [{ kind: 'User', name: proxyUser }],
          roles: [{ name, clusterRoles: ['view'] }],
          groupNameNormalization,
        }),
      ).then(
        () => 'accepted',
        (e: Error) => e.message,
      );
      expect(err).toContain('422');
      expect(err).toContain('roles[].name must not start with system:');
    }
    const everyone = await requestAs(
      proxy,
      'GET',
      `${RBAC}/clusterrolebindings?labelSelector=${encodeURIComponent('app.kubernetes.io/managed-by=impersonation-operator')}`,
    );
    expect(everyone.status).toBe(403); // the proxy itself holds nothing
    const bound = (
      (await adminRequest('GET', `${RBAC}/clusterrolebindings`)).json() as {
        items: {
          subjects?: { kind: string; name: string }[];
          metadata: { labels?: Record<string, string> };
        }[];
      }
    ).items.filter((b) => b.metadata.labels?.['app.kubernetes.io/managed-by'] === 'impersonation-operator');
    expect(
      bound.flatMap((b) => b.subjects ?? []).filter((x) => x.name.toLowerCase().startsWith('system:')),
    ).toEqual([]);
  });

  it.each([
    ['Group', 'system:serviceaccounts:kube-system'],
    ['Group', 'system:nodes'],
    ['Group', 'system:bootstrappers'],
    ['User', 'system:kube-controller-manager'],
    ['User', 'system:serviceaccount:kube-system:default'],
  ])('case 5: impersonator %s %s is refused at admission', async (kind, name) => {
    const err = await applyPolicy(
      policy(`hard-imp-${s}`, { impersonators: [{ kind, name }], targets: { users: [users.alice] } }),
    ).then(
      () => 'accepted',
      (e: Error) => e.message,
    );
    expect(err).toContain('422');
    expect(err).toContain('impersonators[].name must not be a system: user or group');
  });

  it('case 6: a service account in kube-system is never a target', async () => {
    await applyPolicy(
      policy(names.protectedSa, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { serviceAccounts: [protectedSa, { namespace: ns.app, name: 'deployer' }] },
      }),
    );
    const p = await waitForPolicy(names.protectedSa, (x) => isObserved(x) && stalledReason(x) === 'Denied');
    expect(deniedReasons(p)).toEqual([
      `ServiceAccount ${protectedSa.namespace}/${protectedSa.name}: ProtectedNamespace`,
    ]);
    const objects = await generatedObjects(names.protectedSa);
    expect(objects.filter((o) => o.metadata.namespace === 'kube-system')).toEqual([]);
    // The allowed one works, the protected one is refused by the API server.
    const asSa = (sa: { namespace: string; name: string }) =>
      requestAs(proxy, 'GET', pods(sa.namespace), {
        impersonate: { user: `system:serviceaccount:${sa.namespace}:${sa.name}` },
      });
    await eventually('impersonating the deployer is authorized', async () => {
      const r = await asSa({ namespace: ns.app, name: 'deployer' });
      return r.status !== 401 && !r.body.includes('cannot impersonate');
    });
    const refused = await asSa(protectedSa);
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('cannot impersonate');
  });

  it('case 6: targets that already hold cluster-admin are refused (user, group, service account)', async () => {
    await applyPolicy(
      policy(names.powerfulTargets, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: {
          users: [powerful.user, users.alice],
          groups: [powerful.group],
          serviceAccounts: [powerful.sa],
        },
        roles: [{ name: `Reader ${s}`, clusterRoles: [roles.reader] }],
      }),
    );
    const p = await waitForPolicy(
      names.powerfulTargets,
      (x) => isObserved(x) && stalledReason(x) === 'Denied',
    );
    expect(deniedReasons(p)).toEqual(
      [
        `Group ${powerful.group}: PowerfulTarget`,
        `ServiceAccount ${powerful.sa.namespace}/${powerful.sa.name}: PowerfulTarget`,
        `User ${powerful.user}: PowerfulTarget`,
      ].sort(),
    );
    expect(p.status?.denied?.find((d) => d.name === powerful.user)?.message).toContain(
      'every verb on every resource',
    );
    await eventually('alice with the reader group may list pods', async () => {
      const r = await requestAs(proxy, 'GET', pods(ns.app), {
        impersonate: { user: users.alice, groups: [`reader-${s}`] },
      });
      return r.status === 200;
    });
    for (const impersonate of [
      { user: powerful.user },
      { user: users.alice, groups: [powerful.group] },
      { user: `system:serviceaccount:${powerful.sa.namespace}:${powerful.sa.name}` },
    ]) {
      const r = await requestAs(proxy, 'GET', `/api/v1/namespaces/kube-system/secrets`, { impersonate });
      expect(r.status).toBe(403);
      expect(r.body).toContain('cannot impersonate');
    }
  });

  it('case 6: a target group that becomes cluster-admin later is revoked at once', async () => {
    const late = `late-admins-${s}`;
    await applyPolicy(
      policy(names.lateTarget, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { users: [users.alice], groups: [late] },
      }),
    );
    await waitForPolicy(names.lateTarget, isReady, 'Ready=True');
    const asLate = { user: users.alice, groups: [late] };
    await eventually('the proxy may assert the group', async () => {
      const r = await requestAs(proxy, 'GET', pods(ns.app), { impersonate: asLate });
      return !r.body.includes('cannot impersonate');
    });
    const res = await adminRequest('POST', `${RBAC}/clusterrolebindings`, {
      metadata: { name: `hard-late-${s}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'Group', name: late, apiGroup: 'rbac.authorization.k8s.io' }],
    });
    expect(res.status).toBe(201);
    try {
      const p = await waitForPolicy(
        names.lateTarget,
        (x) => stalledReason(x) === 'Denied',
        'Stalled=Denied',
        60_000,
      );
      expect(deniedReasons(p)).toEqual([`Group ${late}: PowerfulTarget`]);
      await eventually('the group grant is revoked', async () => {
        const r = await requestAs(proxy, 'GET', pods(ns.app), { impersonate: asLate });
        return r.status === 403 && r.body.includes('cannot impersonate');
      });
      const alice = await requestAs(proxy, 'GET', pods(ns.app), { impersonate: { user: users.alice } });
      expect(alice.body).not.toContain('cannot impersonate');
    } finally {
      await adminRequest('DELETE', `${RBAC}/clusterrolebindings/hard-late-${s}`);
    }
    // Gone again: the group is granted again, without an edit.
    await waitForPolicy(names.lateTarget, isReady, 'Ready=True again', 60_000);
  });

  it('case 6: a cluster-admin-like ClusterRole wearing our managed-by label still makes its binders powerful targets', async () => {
    // The operator caches ClusterRoles in two informers split by that label; a role that copies our
    // label must not fall between them and vanish from the target check.
    const role = `hard-disguised-admin-${s}`;
    const group = `disguised-admins-${s}`;
    const made = await adminRequest('POST', `${RBAC}/clusterroles`, {
      metadata: { name: role, labels: { 'app.kubernetes.io/managed-by': 'impersonation-operator' } },
      rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
    });
    expect(made.status).toBe(201);
    const bound = await adminRequest('POST', `${RBAC}/clusterrolebindings`, {
      metadata: { name: role },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'Group', name: group, apiGroup: 'rbac.authorization.k8s.io' }],
    });
    expect(bound.status).toBe(201);
    try {
      await applyPolicy(
        policy(names.disguised, {
          impersonators: [{ kind: 'User', name: proxyUser }],
          targets: { users: [users.alice], groups: [group] },
        }),
      );
      const p = await waitForPolicy(
        names.disguised,
        (x) => isObserved(x) && stalledReason(x) === 'Denied',
        'Stalled=Denied',
        60_000,
      );
      expect(deniedReasons(p)).toEqual([`Group ${group}: PowerfulTarget`]);
      const r = await requestAs(proxy, 'GET', pods(ns.app), {
        impersonate: { user: users.alice, groups: [group] },
      });
      expect(r.status).toBe(403);
      expect(r.body).toContain('cannot impersonate');
    } finally {
      await deletePolicy(names.disguised);
      await adminRequest('DELETE', `${RBAC}/clusterrolebindings/${role}`);
      await adminRequest('DELETE', `${RBAC}/clusterroles/${role}`);
    }
  });

  it('case 6: a copy of cluster-admin is refused like cluster-admin; edit only in a namespace', async () => {
    await applyPolicy(
      policy(names.powerfulRole, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { users: [users.bob] },
        roles: [
          { name: `Admins ${s}`, clusterRoles: [roles.adminCopy] },
          { name: `Editors ${s}`, clusterRoles: ['edit'] },
          { name: `Team Editors ${s}`, clusterRoles: ['edit'], namespaces: [ns.app] },
        ],
      }),
    );
    const p = await waitForPolicy(names.powerfulRole, (x) => isObserved(x) && stalledReason(x) === 'Denied');
    expect(deniedReasons(p)).toEqual([
      'ClusterRole edit: PowerfulClusterRole',
      `ClusterRole ${roles.adminCopy}: PowerfulClusterRole`,
      `Group admins-${s}: NoPermittedClusterRoles`,
      `Group editors-${s}: NoPermittedClusterRoles`,
    ]);
    expect(await boundSubjects(names.powerfulRole)).toEqual([`edit<-Group:team-editors-${s}`]);
    const admins = await requestAs(proxy, 'GET', '/api/v1/namespaces/kube-system/secrets', {
      impersonate: { user: users.bob, groups: [`admins-${s}`] },
    });
    expect(admins.status).toBe(403);
  });

  it('case 6: a bound ClusterRole that gains cluster-admin powers later loses its binding', async () => {
    await applyPolicy(
      policy(names.grow, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { users: [users.bob] },
        roles: [{ name: `Growers ${s}`, clusterRoles: [roles.grow] }],
      }),
    );
    await waitForPolicy(names.grow, isReady, 'Ready=True');
    expect(await boundSubjects(names.grow)).toEqual([`${roles.grow}<-Group:growers-${s}`]);
    const res = await adminRequest('PUT', `${RBAC}/clusterroles/${roles.grow}`, {
      metadata: { name: roles.grow },
      rules: [
        ...READER_RULES,
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['escalate'] },
      ],
    });
    expect(res.status).toBe(200);
    const p = await waitForPolicy(names.grow, (x) => stalledReason(x) === 'Denied', 'Stalled=Denied', 60_000);
    expect(deniedReasons(p)).toContain(`ClusterRole ${roles.grow}: PowerfulClusterRole`);
    expect(await boundSubjects(names.grow)).toEqual([]);
  });

  it('case 8: a refused policy cannot hold back another tenant’s group', async () => {
    await applyPolicy(
      policy(names.tenantA, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { users: [users.alice] },
        roles: [{ name: tenant.a, clusterRoles: [roles.reader] }],
      }),
    );
    await waitForPolicy(names.tenantA, isReady, 'Ready=True');
    // Tenant B names a colliding role whose every ClusterRole is refused.
    await applyPolicy(
      policy(names.tenantB, {
        impersonators: [{ kind: 'User', name: `hard-other-proxy-${s}` }],
        targets: { users: [users.bob] },
        roles: [{ name: tenant.b, clusterRoles: ['cluster-admin', roles.adminCopy] }],
      }),
    );
    // B is told its role collides (and provisions nothing for it) ...
    const b = await waitForPolicy(names.tenantB, (x) => isObserved(x) && stalledReason(x) !== undefined);
    expect(b.status?.roleGroups).toEqual([]);
    // A new generation of A is decided with B in the operator's cache (B's status came from it).
    const bumped = await applyPolicy(
      policy(names.tenantA, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { users: [users.alice, users.bob] },
        roles: [{ name: tenant.a, clusterRoles: [roles.reader] }],
      }),
    );
    const a = await waitForPolicy(
      names.tenantA,
      (x) => isObserved(x) && (x.status?.observedGeneration ?? 0) >= (bumped.metadata.generation ?? 2),
    );
    expect(a.status?.collisions ?? []).toEqual([]);
    expect(condition(a, 'Ready')?.status).toBe('True');
    const r = await requestAs(proxy, 'GET', pods(ns.app), {
      impersonate: { user: users.alice, groups: [tenant.group] },
    });
    expect(r.status).toBe(200);
    expect(await boundSubjects(names.tenantA)).toEqual([`${roles.reader}<-Group:${tenant.group}`]);
  });

  it('allowAnyUser without the operator opt-in is Stalled with reason AnyUserNotEnabled', async () => {
    await applyPolicy(
      policy(names.anyUser, {
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { allowAnyUser: true },
      }),
    );
    const p = await waitForPolicy(names.anyUser, (x) => isObserved(x) && stalledReason(x) !== undefined);
    expect(stalledReason(p)).toBe('AnyUserNotEnabled');
    expect(condition(p, 'Ready')?.message).toContain('--allow-any-user');
    expect(p.status?.allowAnyUserInForce).toBe(false);
    expect(await generatedObjects(names.anyUser)).toEqual([]);
    const anyone = await requestAs(proxy, 'GET', pods(ns.app), { impersonate: { user: `nobody-${s}` } });
    expect(anyone.status).toBe(403);
  });

  // The index from a target ClusterRole to the policies binding it holds a lone binder as itself and
  // two or more in a Set (kube/name-sets.ts). An author who adds and deletes a policy next to
  // another's moves that entry from one form to the other; the remaining binder must still be told
  // when the role grows. No periodic resync here, so only that index can trigger the revocation.
  it('case 6: of two policies binding one ClusterRole, one deleted: the other still loses its binding when the role gains powers', async () => {
    expect(await operator.stop()).toBe(0);
    operator = await startOperator({
      kubeconfig: await rbac.kubeconfig(),
      args: ['--no-leader-elect', '--resync-period=0', '--workers=4'],
    });
    await operator.waitReady();
    for (const [name, role] of [
      [names.shareA, `Sharers A ${s}`],
      [names.shareB, `Sharers B ${s}`],
    ] as const) {
      await applyPolicy(
        policy(name, {
          impersonators: [{ kind: 'User', name: proxyUser }],
          targets: { users: [users.bob] },
          roles: [{ name: role, clusterRoles: [roles.shared] }],
        }),
      );
    }
    await waitForPolicy(names.shareA, isReady, 'Ready=True');
    await waitForPolicy(names.shareB, isReady, 'Ready=True');
    await deletePolicy(names.shareA);
    await eventually(
      'policy A and its binding to be gone',
      async () => (await boundSubjects(names.shareA)).length === 0,
    );
    expect(await boundSubjects(names.shareB)).toEqual([`${roles.shared}<-Group:sharers-b-${s}`]);
    const res = await adminRequest('PUT', `${RBAC}/clusterroles/${roles.shared}`, {
      metadata: { name: roles.shared },
      rules: [
        ...READER_RULES,
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['escalate'] },
      ],
    });
    expect(res.status).toBe(200);
    const p = await waitForPolicy(
      names.shareB,
      (x) => stalledReason(x) === 'Denied',
      'Stalled=Denied',
      60_000,
    );
    expect(deniedReasons(p)).toContain(`ClusterRole ${roles.shared}: PowerfulClusterRole`);
    expect(await boundSubjects(names.shareB)).toEqual([]);
  });

  it('allowAnyUser with the operator opt-in (and the chart grant) is provisioned and says so', async () => {
    expect(await operator.stop()).toBe(0);
    const anyRbac = await installOperatorRbac({ impersonate: { anyUser: true } });
    try {
      operator = await startOperator({
        kubeconfig: await anyRbac.kubeconfig(),
        args: ['--no-leader-elect', '--resync-period=5s', '--workers=4', '--allow-any-user'],
      });
      await operator.waitReady();
      const p = await waitForPolicy(names.anyUser, isReady, 'Ready=True', 60_000);
      expect(p.status?.allowAnyUserInForce).toBe(true);
      expect(condition(p, 'Ready')?.message).toContain('ANY user');
      await eventually('the proxy may become any user', async () => {
        const r = await requestAs(proxy, 'GET', pods(ns.app), { impersonate: { user: `nobody-${s}` } });
        const message = (JSON.parse(r.body) as { message?: string }).message ?? '';
        if (r.status === 403 && message.includes(`User "nobody-${s}" cannot list`)) return true;
        throw new Error(`${r.status} ${r.body}`);
      });
    } finally {
      await deletePolicy(names.anyUser);
      await operator.stop();
      await anyRbac.uninstall();
    }
  });
});
