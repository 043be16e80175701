// No confused deputy, against the real API server with the chart installed as a user installs it
// (`helm install`): its MutatingAdmissionPolicy stamps each policy's author, and the operator, run as
// the chart's ServiceAccount with the flags of the chart's Deployment, provisions a policy only if
// that author may impersonate every target and bind every target ClusterRole (SubjectAccessReviews).
// In both RBAC modes; in escalate mode also what a stolen operator token can no longer do.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { load, loadAll } from 'js-yaml';
import { AUTHOR_ANNOTATION } from '../../src/api/index.js';
import { clusterInfo } from '../harness/cluster-info.js';
import { repoRoot } from '../harness/controlplane.js';
import { requestAs, type RawResponse } from '../harness/http.js';
import { kubeconfigFor, serviceAccountKubeconfig } from '../harness/identities.js';
import { kubectl, kubectlOk } from '../harness/kubectl.js';
import { startOperator, type OperatorProcess } from '../harness/operator.js';
import {
  adminRequest,
  condition,
  deletePolicy,
  ensureNamespace,
  ensureServiceAccount,
  eventually,
  generatedObjects,
  getPolicy,
  isReady,
  waitForPolicy,
  type PolicyObject,
} from '../harness/policies.js';
import { chartDir, ensureTools, helm, helmOk } from '../harness/tools.js';

const POLICIES = '/apis/impersonation-operator.io/v1alpha1/impersonationpolicies';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const LONG = 120_000;

interface Stamp {
  username: string;
  groups: string[];
}
const stampOf = (p: unknown): Stamp =>
  JSON.parse(
    (p as { metadata?: { annotations?: Record<string, string> } } | undefined)?.metadata?.annotations?.[
      AUTHOR_ANNOTATION
    ] ?? '{}',
  ) as Stamp;

function describeResponse(r: RawResponse): string {
  try {
    const body = r.json() as { message?: string };
    return `${r.status} ${body.message ?? r.body.slice(0, 300)}`;
  } catch {
    return `${r.status} ${r.body.slice(0, 300)}`;
  }
}

/** The README's `access-proxy` example, as written there. */
async function readmeExample(): Promise<{ spec: Record<string, unknown> }> {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const block = /## The API\s+```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no ```yaml block under "## The API"');
  return load(block) as { spec: Record<string, unknown> };
}

describe.each(['scoped', 'escalate'] as const)('author check (rbac.mode=%s)', (mode) => {
  const s = `${mode.slice(0, 3)}-${randomBytes(3).toString('hex')}`;
  const ns = `impop-ac-${s}`;
  const saNs = `impop-ac-sa-${s}`;
  const release = `ac-${s}`;
  const proxy = `proxy-${s}`;
  const users = Array.from({ length: 200 }, (_, i) => `user-${i}-${s}@example.com`);
  const roleNames = Array.from({ length: 50 }, (_, i) => `Team ${i} ${s}`);
  const roleGroups = roleNames.map((r) => r.toLowerCase().replaceAll(' ', '-'));
  const clusterRoles = Array.from({ length: 20 }, (_, i) => `impop-ac-${i}-${s}`);
  // The limited author may grant these, and not the "missing" ones.
  const okUser = users[0]!;
  const missingUser = users[1]!;
  const okRole = roleNames[0]!;
  const okClusterRole = clusterRoles[0]!;
  const missingClusterRole = clusterRoles[1]!;
  const limited = `limited-${s}`;
  const writer = `writer-${s}`;
  const exempt = `exempt-${s}`;
  // What the writer asks for: grantable by the operator (in scoped mode too), not by the writer.
  const writerTarget = `writer-target-${s}@example.com`;
  const writerRole = `Writer Role ${s}`;
  const victim = `victim-${s}@example.com`;
  // Two raw role names, one group: a collision (fail closed in every policy involved).
  const sharedRole = `Shared ${s}`;
  const sharedGroup = `shared-${s}`;
  const argoNs = `argocd-${s}`;
  const fluxController = `kustomize-controller-${s}`;
  const tenantNs = `tenant-${s}`;
  let readme: { spec: Record<string, unknown> };
  let operator: OperatorProcess | undefined;
  let operatorUser = '';
  let saKubeconfig = '';
  const cleanup: string[] = [];

  const policyName = (n: string) => `${n}-${s}`;
  const body = (name: string, spec: Record<string, unknown>, annotations?: Record<string, string>) => ({
    apiVersion: 'impersonation-operator.io/v1alpha1',
    kind: 'ImpersonationPolicy',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec: { impersonators: [{ kind: 'User', name: proxy }], ...spec },
  });
  /** Server-side apply as `kubeconfig` (what kubectl, Argo CD and Flux do). */
  const applyAs = async (
    kubeconfig: string,
    name: string,
    spec: Record<string, unknown>,
    opts: { impersonate?: string; annotations?: Record<string, string> } = {},
  ): Promise<PolicyObject> => {
    cleanup.push(name);
    const r = await requestAs(kubeconfig, 'PATCH', `${POLICIES}/${name}?fieldManager=ac-test&force=true`, {
      body: JSON.stringify(body(name, spec, opts.annotations)),
      contentType: 'application/apply-patch+yaml',
      ...(opts.impersonate ? { impersonate: { user: opts.impersonate } } : {}),
    });
    if (r.status >= 300) throw new Error(`applying ${name}: ${describeResponse(r)}`);
    return r.json() as PolicyObject;
  };
  const stalled = (p: PolicyObject) =>
    p.status?.observedGeneration === p.metadata.generation && condition(p, 'Stalled')?.status === 'True';
  const expectRefused = async (name: string, entry: string) => {
    const p = await waitForPolicy(name, stalled, 'Stalled', LONG);
    expect(condition(p, 'Stalled')?.reason).toBe('AuthorNotPermitted');
    expect(condition(p, 'Ready')?.status).toBe('False');
    expect(condition(p, 'Stalled')?.message).toContain(entry);
    expect(await generatedObjects(name)).toEqual([]);
    return p;
  };
  /** What the proxy may really do: an impersonated request. */
  const proxyMay = async (impersonate: { user: string; groups?: string[] }) => {
    const r = await requestAs(await kubeconfigFor(proxy), 'GET', `/api/v1/namespaces/${saNs}/configmaps`, {
      impersonate,
    });
    return r.status !== 403 || !/cannot impersonate/.test(r.body);
  };

  beforeAll(async () => {
    await ensureTools();
    readme = await readmeExample();
    const admin = clusterInfo().adminKubeconfig;
    for (const n of [ns, saNs, argoNs, tenantNs, 'team-a']) await ensureNamespace(n);
    await ensureServiceAccount(saNs, 'deployer');
    await ensureServiceAccount(saNs, 'other');
    // The target ClusterRoles: harmless rights the test can observe.
    await kubectlOk(['apply', '--server-side', '-f', '-'], {
      input: clusterRoles
        .map((name) =>
          JSON.stringify({
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'ClusterRole',
            metadata: { name },
            rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
          }),
        )
        .join('\n---\n'),
    });
    const readmeTargets = readme.spec.targets as { users: string[]; groups: string[] };
    const values = {
      rbac: { mode },
      grants: {
        impersonate: {
          users: [...users, ...readmeTargets.users, writerTarget, victim],
          groups: [
            ...roleGroups,
            ...readmeTargets.groups,
            'sre-on-call',
            'developers',
            writerRole.toLowerCase().replaceAll(' ', '-'),
            sharedGroup,
          ],
          serviceAccounts: [
            { namespace: saNs, name: 'deployer' },
            { namespace: saNs, name: 'other' },
          ],
        },
        bindableClusterRoles: [...clusterRoles, 'view', 'edit'],
      },
      admissionPolicy: { authorCheck: { exemptUsers: [exempt] } },
    };
    const valuesFile = join(clusterInfo().workDir, `ac-values-${s}.json`);
    await writeFile(valuesFile, JSON.stringify(values));
    // A policy written before the chart (no MutatingAdmissionPolicy yet, e.g. a previous release's
    // is still being removed): wait until nothing stamps, then write it.
    await eventually(
      'no author stamp on a dry run before the install',
      async () => {
        const r = await adminRequest('POST', `${POLICIES}?dryRun=All`, body(policyName('probe'), {}));
        return r.status === 201 && stampOf(r.json() as PolicyObject).username === undefined;
      },
      60_000,
    );
    const unstamped = await applyAs(admin, policyName('unstamped'), { targets: { users: [okUser] } });
    expect(stampOf(unstamped).username).toBeUndefined();
    await helmOk(['install', release, chartDir, '-n', ns, '--kubeconfig', admin, '--values', valuesFile]);

    // Run the operator as the chart's ServiceAccount with the flags of the chart's Deployment.
    const manifest = await helmOk(['get', 'manifest', release, '-n', ns, '--kubeconfig', admin]);
    const deployment = (loadAll(manifest) as { kind?: string; spec?: unknown }[]).find(
      (d) => d?.kind === 'Deployment',
    ) as {
      spec: {
        template: { spec: { serviceAccountName: string; containers: { args: string[] }[] } };
      };
    };
    const sa = deployment.spec.template.spec.serviceAccountName;
    const args = deployment.spec.template.spec.containers[0]!.args.filter(
      (a) => !/^--(no-)?(leader-elect|leader-election|metrics-bind|health-probe)/.test(a),
    );
    expect(args).toContain('--author-check');
    operatorUser = `system:serviceaccount:${ns}:${sa}`;
    saKubeconfig = await serviceAccountKubeconfig(ns, sa);
    // RBAC and the admission policies take effect a moment after they are written.
    await eventually(
      'the author stamp on a dry run',
      async () => {
        const r = await adminRequest('POST', `${POLICIES}?dryRun=All`, body(policyName('probe'), {}));
        return r.status === 201 && stampOf(r.json() as PolicyObject).username !== undefined;
      },
      30_000,
    );
    operator = await startOperator({ kubeconfig: saKubeconfig, args });
    await operator.waitReady(60_000);

    // Authors. `limited` may grant okUser, the group of okRole, okClusterRole and saNs/deployer.
    const authorRules = [
      {
        apiGroups: ['impersonation-operator.io'],
        resources: ['impersonationpolicies'],
        verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'],
      },
      { apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: [okUser] },
      {
        apiGroups: [''],
        resources: ['groups'],
        verbs: ['impersonate'],
        resourceNames: [roleGroups[0]!],
      },
      {
        apiGroups: ['rbac.authorization.k8s.io'],
        resources: ['clusterroles'],
        verbs: ['bind'],
        resourceNames: [okClusterRole],
      },
    ];
    const subjects = [
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: limited },
      { kind: 'ServiceAccount', name: 'argocd-application-controller', namespace: argoNs },
      { kind: 'ServiceAccount', name: 'flux-tenant', namespace: tenantNs },
    ];
    await ensureServiceAccount(argoNs, 'argocd-application-controller');
    await ensureServiceAccount(tenantNs, 'flux-tenant');
    await ensureServiceAccount(tenantNs, 'flux-tenant-unprivileged');
    const rbac = [
      { kind: 'ClusterRole', metadata: { name: `ac-author-${s}` }, rules: authorRules },
      {
        kind: 'ClusterRoleBinding',
        metadata: { name: `ac-author-${s}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `ac-author-${s}` },
        subjects,
      },
      {
        kind: 'Role',
        metadata: { name: `ac-author-${s}`, namespace: saNs },
        rules: [
          {
            apiGroups: [''],
            resources: ['serviceaccounts'],
            verbs: ['impersonate'],
            resourceNames: ['deployer'],
          },
        ],
      },
      {
        kind: 'RoleBinding',
        metadata: { name: `ac-author-${s}`, namespace: saNs },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `ac-author-${s}` },
        subjects,
      },
      // May write policies and nothing else: the writer, and a Flux tenant without rights.
      {
        kind: 'ClusterRole',
        metadata: { name: `ac-writer-${s}` },
        rules: [authorRules[0]],
      },
      {
        kind: 'ClusterRoleBinding',
        metadata: { name: `ac-writer-${s}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `ac-writer-${s}` },
        subjects: [
          { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: writer },
          { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: exempt },
          { kind: 'ServiceAccount', name: 'flux-tenant-unprivileged', namespace: tenantNs },
        ],
      },
      // Flux's kustomize-controller: cluster-admin, applying as the tenant's serviceAccountName.
      {
        kind: 'ClusterRoleBinding',
        metadata: { name: `ac-flux-${s}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: fluxController }],
      },
    ].map((o) => JSON.stringify({ apiVersion: 'rbac.authorization.k8s.io/v1', ...o }));
    await kubectlOk(['apply', '--server-side', '-f', '-'], { input: rbac.join('\n---\n') });
    // RBAC reaches the authorizer's cache a moment later.
    await eventually('the RBAC of the limited author', async () => {
      const r = await kubectl(
        ['auth', 'can-i', 'impersonate', 'serviceaccounts/deployer', '-n', saNs, '--as', limited],
        {},
      );
      return r.stdout.trim() === 'yes';
    });
  }, 30 * 60_000);

  afterAll(async () => {
    await operator?.stop();
    for (const name of cleanup) await deletePolicy(name).catch(() => undefined);
    const admin = clusterInfo().adminKubeconfig;
    await helm(['uninstall', release, '-n', ns, '--kubeconfig', admin, '--wait=false']).catch(
      () => undefined,
    );
    await kubectl([
      'delete',
      'clusterrole,clusterrolebinding',
      `ac-author-${s}`,
      `ac-writer-${s}`,
      ...clusterRoles,
      '--ignore-not-found',
    ]);
    await kubectl(['delete', 'clusterrolebinding', `ac-flux-${s}`, '--ignore-not-found']);
    await kubectl(['delete', 'namespace', ns, saNs, argoNs, tenantNs, '--wait=false']);
  }, LONG);

  it(
    'provisions nothing for a policy without an author stamp, until its next write stamps it (the upgrade path)',
    async () => {
      const name = policyName('unstamped');
      const p = await waitForPolicy(name, stalled, 'Stalled', LONG);
      expect(condition(p, 'Stalled')?.reason).toBe('AuthorCheckFailed');
      expect(condition(p, 'Stalled')?.message).toContain('no author stamp');
      expect(await generatedObjects(name)).toEqual([]);
      expect(await proxyMay({ user: okUser })).toBe(false);
      // The upgrade path (chart README): a metadata-only write stamps a policy that has no stamp yet.
      await kubectlOk(['annotate', 'imppol', name, 'example.com/restamped=yes']);
      expect(stampOf(await getPolicy(name)).username).toBe('impop-admin');
      await waitForPolicy(name, isReady, 'Ready', LONG);
      await deletePolicy(name);
    },
    LONG,
  );

  it(
    'provisions a cluster-admin author’s policy with 200 users, 50 role groups and 20 ClusterRoles',
    async () => {
      const name = policyName('big');
      const started = Date.now();
      await applyAs(clusterInfo().adminKubeconfig, name, {
        targets: { users },
        roles: roleNames.map((r, i) => ({ name: r, clusterRoles: [clusterRoles[i % 20]!] })),
      });
      const p = await waitForPolicy(name, isReady, 'Ready', LONG);
      process.stdout.write(`author check (${mode}): 270 entries provisioned in ${Date.now() - started} ms\n`);
      expect(stampOf(p).username).toBe('impop-admin');
      expect(stampOf(p).groups).toContain('system:masters');
      expect(await proxyMay({ user: users[199]! })).toBe(true);
      expect(await proxyMay({ user: 'someone-else@example.com' })).toBe(false);
      // A role group really holds its ClusterRole.
      const r = await requestAs(
        clusterInfo().adminKubeconfig,
        'GET',
        `/api/v1/namespaces/${saNs}/configmaps`,
        { impersonate: { user: 'member', groups: [roleGroups[49]!] } },
      );
      expect(r.status).toBe(200);
    },
    LONG,
  );

  it(
    'refuses allowAnyUser without the operator opt-in (the chart default), in this mode too',
    async () => {
      const name = policyName('any-user');
      await applyAs(clusterInfo().adminKubeconfig, name, { targets: { allowAnyUser: true } });
      const p = await waitForPolicy(name, stalled, 'Stalled', LONG);
      expect(condition(p, 'Stalled')?.reason).toBe('AnyUserNotEnabled');
      expect(condition(p, 'Stalled')?.message).toContain('--allow-any-user');
      expect(p.status?.allowAnyUserInForce).toBe(false);
      expect(await generatedObjects(name)).toEqual([]);
      expect(await proxyMay({ user: `anyone-${s}` })).toBe(false);
      await deletePolicy(name);
    },
    LONG,
  );

  it(
    'provisions the README example written by a cluster-admin',
    async () => {
      const name = policyName('readme');
      await applyAs(clusterInfo().adminKubeconfig, name, readme.spec);
      await waitForPolicy(name, isReady, 'Ready', LONG);
    },
    LONG,
  );

  it.each([
    [
      'impersonate on one user',
      'user',
      { targets: { users: [okUser, missingUser] } },
      `impersonate user ${missingUser}`,
    ],
    [
      'bind on one ClusterRole',
      'bind',
      { roles: [{ name: okRole, clusterRoles: [okClusterRole, missingClusterRole] }] },
      `bind ClusterRole ${missingClusterRole}`,
    ],
    [
      'impersonate on one service account',
      'sa',
      {
        targets: {
          serviceAccounts: [
            { namespace: saNs, name: 'deployer' },
            { namespace: saNs, name: 'other' },
          ],
        },
      },
      `impersonate serviceaccount ${saNs}/other`,
    ],
    [
      'impersonate on the prefixed group (spec.groupPrefix)',
      'prefix',
      { groupPrefix: 'x:' },
      `impersonate group x:${roleGroups[0]}`,
    ],
    [
      'the constrained action (spec.allowedActions)',
      'actions',
      { allowedActions: [{ verbs: ['get'], apiGroups: [''], resources: ['configmaps'] }] },
      'impersonate-on:user-info:get configmaps',
    ],
  ])(
    'provisions nothing for an author holding everything but %s, naming it',
    async (_what, id, missing, entry) => {
      const base = {
        targets: { users: [okUser], serviceAccounts: [{ namespace: saNs, name: 'deployer' }] },
        roles: [{ name: okRole, clusterRoles: [okClusterRole] }],
      };
      const name = policyName(`lim-${id}`);
      await applyAs(await kubeconfigFor(limited), name, { ...base, ...missing });
      await expectRefused(name, entry);
      // The same author's policy without that entry is provisioned: the check is per entry.
      const control = `${name}-ok`;
      await applyAs(await kubeconfigFor(limited), control, base);
      await waitForPolicy(control, isReady, 'Ready', LONG);
    },
    LONG,
  );

  it(
    'gives an author who may write policies but nothing else nothing, and the stamp cannot be forged or swapped',
    async () => {
      const writerKc = await kubeconfigFor(writer);
      const target = victim;
      const adminPolicy = (await getPolicy(policyName('readme')))!;
      const adminStamp = adminPolicy.metadata as unknown as { annotations: Record<string, string> };
      // Forged at create: overwritten with the writer's own userInfo.
      const name = policyName('writer');
      const created = await applyAs(
        writerKc,
        name,
        { targets: { users: [writerTarget] }, roles: [{ name: writerRole, clusterRoles: ['edit'] }] },
        { annotations: { [AUTHOR_ANNOTATION]: adminStamp.annotations[AUTHOR_ANNOTATION]! } },
      );
      expect(stampOf(created).username).toBe(writer);
      await expectRefused(name, `impersonate user ${writerTarget}`);
      // Forged later without a spec change: put back.
      const patched = await requestAs(writerKc, 'PATCH', `${POLICIES}/${name}`, {
        body: {
          metadata: { annotations: { [AUTHOR_ANNOTATION]: adminStamp.annotations[AUTHOR_ANNOTATION] } },
        },
        contentType: 'application/merge-patch+json',
      });
      expect(patched.status).toBe(200);
      expect(stampOf(patched.json() as PolicyObject).username).toBe(writer);
      // Dropped without a spec change: put back too.
      const dropped = await requestAs(writerKc, 'PATCH', `${POLICIES}/${name}`, {
        body: { metadata: { annotations: { [AUTHOR_ANNOTATION]: null } } },
        contentType: 'application/merge-patch+json',
      });
      expect(stampOf(dropped.json() as PolicyObject).username).toBe(writer);

      // Swapped: the writer changes the spec of the admin's provisioned policy -> it is now the writer's.
      const readmeName = policyName('readme');
      const swapped = await requestAs(writerKc, 'PATCH', `${POLICIES}/${readmeName}`, {
        body: { spec: { targets: { users: [target] } } },
        contentType: 'application/merge-patch+json',
      });
      expect(swapped.status).toBe(200);
      await expectRefused(readmeName, `impersonate user ${target}`);

      // Nothing gained, by real requests: the proxy cannot become the target, the role group has no edit.
      expect(await proxyMay({ user: target })).toBe(false);
      expect(await proxyMay({ user: writerTarget })).toBe(false);
      const can = await kubectl(['auth', 'can-i', 'impersonate', `users/${target}`, '--as', proxy]);
      expect(can.stdout.trim()).toBe('no');
      const edit = await kubectl([
        'auth',
        'can-i',
        'create',
        'configmaps',
        '-n',
        saNs,
        '--as',
        'member',
        '--as-group',
        roleGroups[5]!,
      ]);
      expect(edit.stdout.trim()).toBe('no');
    },
    LONG,
  );

  it(
    'understands Argo CD (its application controller applies) and Flux (applies as serviceAccountName)',
    async () => {
      const spec = {
        targets: { users: [okUser], serviceAccounts: [{ namespace: saNs, name: 'deployer' }] },
        roles: [{ name: okRole, clusterRoles: [okClusterRole] }],
      };
      const argo = await serviceAccountKubeconfig(argoNs, 'argocd-application-controller');
      const argoPolicy = await applyAs(argo, policyName('argo'), spec);
      expect(stampOf(argoPolicy).username).toBe(
        `system:serviceaccount:${argoNs}:argocd-application-controller`,
      );
      await waitForPolicy(policyName('argo'), isReady, 'Ready', LONG);

      // Flux: the cluster-admin kustomize-controller impersonates the tenant's ServiceAccount, and the
      // tenant is the author that is judged.
      const flux = await kubeconfigFor(fluxController);
      const fluxPolicy = await applyAs(flux, policyName('flux'), spec, {
        impersonate: `system:serviceaccount:${tenantNs}:flux-tenant`,
      });
      expect(stampOf(fluxPolicy).username).toBe(`system:serviceaccount:${tenantNs}:flux-tenant`);
      await waitForPolicy(policyName('flux'), isReady, 'Ready', LONG);
      await applyAs(flux, policyName('flux-unpriv'), spec, {
        impersonate: `system:serviceaccount:${tenantNs}:flux-tenant-unprivileged`,
      });
      await expectRefused(policyName('flux-unpriv'), `impersonate user ${okUser}`);
    },
    LONG,
  );

  it(
    'lets a refused policy hold back no other policy’s group (a collision needs a policy that has effect)',
    async () => {
      const a = policyName('shared-a');
      await applyAs(clusterInfo().adminKubeconfig, a, {
        roles: [{ name: sharedRole, clusterRoles: ['view'] }],
      });
      await waitForPolicy(a, isReady, 'Ready', LONG);
      // The writer's policy names the same group under another role name: refused, and A keeps its group.
      const b = policyName('shared-b');
      await applyAs(await kubeconfigFor(writer), b, {
        roles: [{ name: sharedRole.toUpperCase(), clusterRoles: ['view'] }],
      });
      await expectRefused(b, `impersonate group ${sharedGroup}`);
      const stillA = await waitForPolicy(a, isReady, 'Ready', LONG);
      expect(stillA.status?.collisions ?? []).toEqual([]);
      // The same policy by an author who may grant it does collide: A holds the group back.
      await applyAs(clusterInfo().adminKubeconfig, b, {
        roles: [{ name: sharedRole.toUpperCase(), clusterRoles: ['view'] }],
        targets: { users: [okUser] },
      });
      const collided = await waitForPolicy(
        a,
        (p) => condition(p, 'Stalled')?.reason === 'Collision',
        'a Collision',
        LONG,
      );
      expect(collided.status?.collisions?.[0]?.group).toBe(sharedGroup);
      await deletePolicy(b);
      await deletePolicy(a);
    },
    LONG,
  );

  it(
    'provisions an exempt author’s policy without the check (an explicit chart value)',
    async () => {
      const name = policyName('exempt');
      const p = await applyAs(await kubeconfigFor(exempt), name, { targets: { users: [writerTarget] } });
      expect(stampOf(p).username).toBe(exempt);
      await waitForPolicy(name, isReady, 'Ready', LONG);
      expect(await proxyMay({ user: writerTarget })).toBe(true);
      await deletePolicy(name);
      await eventually('its grant to be gone', async () => !(await proxyMay({ user: writerTarget })), LONG);
    },
    LONG,
  );

  it(
    'lets deletion, foreground deletion and garbage collection complete with the check on',
    async () => {
      const fg = policyName('big');
      expect((await generatedObjects(fg)).length).toBeGreaterThan(0);
      const r = await adminRequest('DELETE', `${POLICIES}/${fg}`, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        propagationPolicy: 'Foreground',
      });
      expect([200, 202]).toContain(r.status);
      await eventually(
        'the foreground-deleted policy to be gone',
        async () => (await getPolicy(fg)) === undefined,
        LONG,
      );
      await eventually(
        'its children to be gone',
        async () => (await generatedObjects(fg)).length === 0,
        LONG,
      );

      const bg = `${policyName('lim-user')}-ok`;
      expect((await generatedObjects(bg)).length).toBeGreaterThan(0);
      await deletePolicy(bg);
      await eventually('the garbage collector', async () => (await generatedObjects(bg)).length === 0, LONG);
    },
    LONG,
  );

  if (mode === 'escalate') {
    it('refuses a stolen operator token what no policy could produce', async () => {
      const labels = {
        'app.kubernetes.io/managed-by': 'impersonation-operator',
        'impersonation-operator.io/policy': `stolen-${s}`,
      };
      const post = (plural: string, obj: Record<string, unknown>) =>
        requestAs(saKubeconfig, 'POST', `${RBAC}/${plural}?dryRun=All`, { body: obj });
      const role = (name: string, rules: unknown[], extraLabels: Record<string, string> = {}) =>
        post('clusterroles', { metadata: { name, labels: { ...labels, ...extraLabels } }, rules });
      const binding = (name: string, roleRef: string, subjects: unknown[]) =>
        post('clusterrolebindings', {
          metadata: { name, labels },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleRef },
          subjects,
        });
      const refused = async (r: Promise<RawResponse>, message: RegExp) => {
        const res = await r;
        expect(describeResponse(res)).toMatch(/^403 /);
        expect(describeResponse(res)).toMatch(message);
      };
      // The guard is what stops these: RBAC (escalate + bind) alone would allow every one.
      await refused(
        role(`imppol-stolen-groups-${s}`, [
          { apiGroups: [''], resources: ['groups'], verbs: ['impersonate'] },
        ]),
        /must name their identities/,
      );
      await refused(
        role(`imppol-stolen-masters-${s}`, [
          {
            apiGroups: [''],
            resources: ['groups'],
            verbs: ['impersonate'],
            resourceNames: ['system:masters'],
          },
        ]),
        /system:masters/,
      );
      await refused(
        role(
          `imppol-stolen-agg-${s}`,
          [{ apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: ['x'] }],
          { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' },
        ),
        /aggregation/,
      );
      const group = (name: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name });
      await refused(
        binding(`imppol-stolen-b1-${s}`, 'view', [group('system:masters')]),
        /system: users or groups/,
      );
      await refused(
        binding(`imppol-stolen-b2-${s}`, 'view', [group('system:nodes')]),
        /system: users or groups/,
      );
      await refused(
        binding(`imppol-stolen-b3-${s}`, 'system:controller:clusterrole-aggregation-controller', [
          group('x'),
        ]),
        /system: ClusterRole/,
      );
      await refused(binding(`imppol-stolen-b4-${s}`, 'cluster-admin', [group('x')]), /denied ClusterRole/);
      // edit/admin cluster-wide impersonate every service account (kube-system's included).
      await refused(binding(`imppol-stolen-b5-${s}`, 'edit', [group('x')]), /admin or edit cluster-wide/);
      const kubeSystemBinding = await requestAs(
        saKubeconfig,
        'POST',
        `${RBAC}/namespaces/kube-system/rolebindings?dryRun=All`,
        {
          body: {
            metadata: { name: `imppol-stolen-b6-${s}`, labels },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
            subjects: [group('x')],
          },
        },
      );
      expect(describeResponse(kubeSystemBinding)).toMatch(
        /^403 .*admin or edit cluster-wide or in a protected/,
      );
      // An unlabelled RBAC object: neither created nor touched.
      await refused(
        post('clusterroles', {
          metadata: { name: `stolen-unlabelled-${s}` },
          rules: [{ apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: ['x'] }],
        }),
        /labelled/,
      );
      await refused(
        requestAs(saKubeconfig, 'PATCH', `${RBAC}/clusterroles/${clusterRoles[0]}?dryRun=All`, {
          body: { metadata: { labels } },
          contentType: 'application/merge-patch+json',
        }),
        /labelled/,
      );
      // What a policy could produce is still allowed.
      const ok = await role(`imppol-stolen-ok-${s}`, [
        { apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: ['x'] },
      ]);
      expect(describeResponse(ok)).toMatch(/^201 /);
      expect(operatorUser).toContain(ns);
    });
  }
});
