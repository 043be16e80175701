// The chart in a real API server: server-side dry run, Pod Security "restricted" admission of the
// pod template, `helm install`, and then real requests as the chart's ServiceAccount (a
// TokenRequest token) proving what that identity may and may not do. scripts/kind-e2e.sh runs the
// same steps against a kind cluster.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { clusterInfo } from '../harness/cluster-info.js';
import { repoRoot } from '../harness/controlplane.js';
import { requestAs, type RawResponse } from '../harness/http.js';
import { kubeconfigFor, serviceAccountKubeconfig } from '../harness/identities.js';
import { kubectl, kubectlOk } from '../harness/kubectl.js';
import { waitUntilEffective } from '../harness/operator-rbac.js';
import { chartDir, ensureTools, helm, helmTemplateOk, run } from '../harness/tools.js';

const suffix = randomBytes(3).toString('hex');
const ns = `impop-chart-${suffix}`;
const saNs = `impop-chart-ci-${suffix}`;
const release = `chart-${suffix}`;
const fullname = `${release}-impersonation-operator`;
const alice = `alice-${suffix}@example.com`;
const group = `dev-${suffix}`;
const proxy = `proxy-${suffix}`;
const testLabel = `impop-chart-test-${suffix}`;
const values = {
  grants: {
    impersonate: {
      users: [alice],
      groups: [group],
      serviceAccounts: [{ namespace: saNs, name: 'deployer' }],
    },
    bindableClusterRoles: ['view'],
  },
  // The dashboard ConfigMap (57 kB of JSON) goes through the real API server too.
  grafana: { dashboard: { enabled: true } },
};

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
/** Labels of an object the operator generates (the guard requires the first). */
const operatorLabels = {
  'app.kubernetes.io/managed-by': 'impersonation-operator',
  'impersonation-operator.io/policy': testLabel,
};
const meta = (name: string, extra: Record<string, unknown> = {}) => ({
  name: `${name}-${suffix}`,
  labels: operatorLabels,
  ...extra,
});

function describeResponse(r: RawResponse): string {
  try {
    const body = r.json() as { message?: string };
    return `${r.status} ${body.message ?? r.body.slice(0, 300)}`;
  } catch {
    return `${r.status} ${r.body.slice(0, 300)}`;
  }
}

function expectStatus(r: RawResponse, status: number, message?: RegExp): void {
  const text = describeResponse(r);
  expect(text).toMatch(new RegExp(`^${status} `));
  if (message) expect(text).toMatch(message);
}

interface Deployment {
  spec: { template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } } };
}

describe('Helm chart installed in the local control plane', () => {
  let admin: string;

  beforeAll(async () => {
    await ensureTools();
    admin = clusterInfo().adminKubeconfig;
    await kubectlOk(['create', 'namespace', ns]);
    await kubectlOk(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
    await kubectlOk(['create', 'namespace', saNs]);
  }, 30 * 60_000);

  afterAll(async () => {
    for (const kind of ['clusterrolebindings', 'clusterroles']) {
      await kubectl(['delete', kind, '-l', `impersonation-operator.io/policy=${testLabel}`, '--wait=false']);
    }
    await helm(['uninstall', release, '--namespace', ns, '--kubeconfig', admin, '--wait=false']).catch(
      () => undefined,
    );
    await kubectl(['delete', 'namespace', ns, saNs, '--wait=false']);
  });

  it('passes a server-side dry-run apply of everything rendered, CRD included', async () => {
    const rendered = await helmTemplateOk({ release, namespace: ns, values, flags: ['--include-crds'] });
    const r = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '--field-manager=helm', '-f', '-'],
      {
        input: rendered,
      },
    );
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`deployment.apps/${fullname} serverside-applied (server dry run)`);
    expect(r.stdout).toContain(
      `validatingadmissionpolicy.admissionregistration.k8s.io/${fullname}-operator-guard`,
    );
  });

  it('installs with helm install', async () => {
    const valuesFile = join(clusterInfo().workDir, `values-${suffix}.json`);
    await import('node:fs/promises').then((fs) => fs.writeFile(valuesFile, JSON.stringify(values)));
    const r = await helm([
      'install',
      release,
      chartDir,
      '--namespace',
      ns,
      '--kubeconfig',
      admin,
      '--values',
      valuesFile,
    ]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain('STATUS: deployed');
    expect(r.stdout).toContain('bindable ClusterRoles: view');
    const objects = await kubectlOk([
      'get',
      'deployment,serviceaccount,service,poddisruptionbudget,role,rolebinding,configmap',
      '-n',
      ns,
      '-l',
      `app.kubernetes.io/instance=${release}`,
      '-o',
      'name',
    ]);
    expect(objects.split('\n').filter(Boolean).sort()).toEqual(
      [
        `deployment.apps/${fullname}`,
        `poddisruptionbudget.policy/${fullname}`,
        `role.rbac.authorization.k8s.io/${fullname}-leader-election`,
        `rolebinding.rbac.authorization.k8s.io/${fullname}-leader-election`,
        `service/${fullname}-metrics`,
        `serviceaccount/${fullname}`,
        `configmap/${fullname}-dashboard`,
      ].sort(),
    );
    const dashboard = JSON.parse(
      await kubectlOk(['get', 'configmap', `${fullname}-dashboard`, '-n', ns, '-o', 'json']),
    ) as { metadata: { labels: Record<string, string> }; data: Record<string, string> };
    expect(dashboard.metadata.labels.grafana_dashboard).toBe('1');
    expect(JSON.parse(dashboard.data['impersonation-operator.json']!)).toEqual(
      JSON.parse(await readFile(join(chartDir, 'dashboards', 'impersonation-operator.json'), 'utf8')),
    );
    await kubectlOk(['get', 'crd', 'impersonationpolicies.impersonation-operator.io']);
  });

  it('runs its pod template under Pod Security "restricted" (and the check is real)', async () => {
    const rendered = await helmTemplateOk({
      release,
      namespace: ns,
      values,
      flags: ['--show-only', 'templates/deployment.yaml'],
    });
    const [deployment] = loadAll(rendered) as [Deployment];
    const podSpec = deployment.spec.template.spec;
    const pod = (spec: unknown) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pss-${suffix}` },
      spec,
    });
    const ok = await requestAs(admin, 'POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, {
      body: pod(podSpec),
    });
    expectStatus(ok, 201);
    // Negative control: the same pod allowing privilege escalation is refused by the same admission.
    const weakened = structuredClone(podSpec);
    (weakened.containers[0]!.securityContext as Record<string, unknown>).allowPrivilegeEscalation = true;
    const bad = await requestAs(admin, 'POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, {
      body: pod(weakened),
    });
    expectStatus(bad, 403, /violates PodSecurity "restricted/);
  });

  describe("as the chart's ServiceAccount (TokenRequest token)", () => {
    let sa: string;
    let proxyKc: string;

    beforeAll(async () => {
      await waitUntilEffective(ns, fullname, true);
      sa = await serviceAccountKubeconfig(ns, fullname);
      proxyKc = await kubeconfigFor(proxy);
    });

    it('is refused updating system:basic-user, even when adding our label', async () => {
      const current = (await requestAs(admin, 'GET', `${RBAC}/clusterroles/system:basic-user`)).json() as {
        metadata: Record<string, unknown>;
      };
      const relabelled = { ...current, metadata: { ...current.metadata, labels: operatorLabels } };
      const put = await requestAs(sa, 'PUT', `${RBAC}/clusterroles/system:basic-user`, { body: relabelled });
      expectStatus(put, 403, /may change or delete only RBAC objects labelled/);
      const patch = await requestAs(sa, 'PATCH', `${RBAC}/clusterroles/system:basic-user`, {
        body: { metadata: { annotations: { touched: 'yes' } } },
        contentType: 'application/merge-patch+json',
      });
      expectStatus(patch, 403);
      const del = await requestAs(sa, 'DELETE', `${RBAC}/clusterroles/system:basic-user?dryRun=All`);
      expectStatus(del, 403);
    });

    it('is refused binding cluster-admin (ClusterRoleBinding and RoleBinding)', async () => {
      const crb = await requestAs(sa, 'POST', `${RBAC}/clusterrolebindings`, {
        body: {
          metadata: meta('cluster-admin'),
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
        },
      });
      expectStatus(crb, 403);
      const rb = await requestAs(sa, 'POST', `${RBAC}/namespaces/${saNs}/rolebindings`, {
        body: {
          metadata: meta('cluster-admin'),
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
        },
      });
      expectStatus(rb, 403);
    });

    it('is refused reading Secrets, cluster-wide and in its own namespace', async () => {
      await kubectlOk(['create', 'secret', 'generic', `s-${suffix}`, '-n', ns, '--from-literal=k=v']);
      expectStatus(await requestAs(sa, 'GET', '/api/v1/secrets'), 403, /cannot list resource "secrets"/);
      expectStatus(await requestAs(sa, 'GET', `/api/v1/namespaces/${ns}/secrets/s-${suffix}`), 403);
      const canI = await kubectl([
        'auth',
        'can-i',
        'get',
        'secrets',
        '-A',
        `--as=system:serviceaccount:${ns}:${fullname}`,
      ]);
      expect(canI.stdout.trim()).toBe('no');
    });

    it('may create a labelled ClusterRole impersonating a granted user, bind it, and the grant works', async () => {
      const role = await requestAs(sa, 'POST', `${RBAC}/clusterroles`, {
        body: {
          metadata: meta('impersonator'),
          rules: [{ apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: [alice] }],
        },
      });
      expectStatus(role, 201);
      const binding = await requestAs(sa, 'POST', `${RBAC}/clusterrolebindings`, {
        body: {
          metadata: meta('impersonator'),
          roleRef: {
            apiGroup: 'rbac.authorization.k8s.io',
            kind: 'ClusterRole',
            name: `impersonator-${suffix}`,
          },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: proxy }],
        },
      });
      expectStatus(binding, 201);
      // The proxy now really becomes alice (403 as alice, not an impersonation failure) and nobody else.
      let asAlice: RawResponse | undefined;
      for (let i = 0; i < 40; i++) {
        asAlice = await requestAs(proxyKc, 'GET', `/api/v1/namespaces/${ns}/configmaps`, {
          impersonate: { user: alice },
        });
        if (!/cannot impersonate/.test(asAlice.body)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expectStatus(asAlice!, 403, new RegExp(`User "${alice.replace(/[.]/g, '\\.')}" cannot list`));
      const asBob = await requestAs(proxyKc, 'GET', `/api/v1/namespaces/${ns}/configmaps`, {
        impersonate: { user: `bob-${suffix}@example.com` },
      });
      expectStatus(asBob, 403, /cannot impersonate/);
    });

    it('may bind view to a group', async () => {
      const r = await requestAs(sa, 'POST', `${RBAC}/clusterrolebindings`, {
        body: {
          metadata: meta('view'),
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
        },
      });
      expectStatus(r, 201);
    });

    it('may grant service-account impersonation only in the granted namespace', async () => {
      const role = () => ({
        metadata: meta('sa'),
        rules: [
          {
            apiGroups: [''],
            resources: ['serviceaccounts'],
            verbs: ['impersonate'],
            resourceNames: ['deployer'],
          },
        ],
      });
      expectStatus(
        await requestAs(sa, 'POST', `${RBAC}/namespaces/${saNs}/roles?dryRun=All`, { body: role() }),
        201,
      );
      expectStatus(
        await requestAs(sa, 'POST', `${RBAC}/namespaces/${ns}/roles?dryRun=All`, { body: role() }),
        403,
        /attempting to grant RBAC permissions not currently held/,
      );
    });

    it('is refused granting what values.grants does not list', async () => {
      const mallory = await requestAs(sa, 'POST', `${RBAC}/clusterroles?dryRun=All`, {
        body: {
          metadata: meta('mallory'),
          rules: [
            { apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: ['mallory'] },
          ],
        },
      });
      expectStatus(mallory, 403, /attempting to grant RBAC permissions not currently held/);
      const anyUser = await requestAs(sa, 'POST', `${RBAC}/clusterroles?dryRun=All`, {
        body: {
          metadata: meta('any'),
          rules: [{ apiGroups: [''], resources: ['users'], verbs: ['impersonate'] }],
        },
      });
      expectStatus(anyUser, 403);
      const edit = await requestAs(sa, 'POST', `${RBAC}/clusterrolebindings?dryRun=All`, {
        body: {
          metadata: meta('edit'),
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
        },
      });
      expectStatus(edit, 403);
    });

    it('the operator guard refuses unlabelled objects, non-impersonate roles and self-grants that RBAC would allow', async () => {
      const unlabelled = await requestAs(sa, 'POST', `${RBAC}/clusterroles?dryRun=All`, {
        body: { metadata: { name: `unlabelled-${suffix}` }, rules: [] },
      });
      expectStatus(unlabelled, 403, /may write only RBAC objects labelled/);
      // The operator holds `list impersonationpolicies`, so RBAC lets it hand that on; the guard does not.
      const otherVerb = await requestAs(sa, 'POST', `${RBAC}/clusterroles?dryRun=All`, {
        body: {
          metadata: meta('list'),
          rules: [
            {
              apiGroups: ['impersonation-operator.io'],
              resources: ['impersonationpolicies'],
              verbs: ['list'],
            },
          ],
        },
      });
      expectStatus(otherVerb, 403, /only the impersonate verb/);
      const self = await requestAs(sa, 'POST', `${RBAC}/clusterrolebindings?dryRun=All`, {
        body: {
          metadata: meta('self'),
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
          subjects: [{ kind: 'ServiceAccount', name: fullname, namespace: ns }],
        },
      });
      expectStatus(self, 403, /must not bind roles to itself/);
      const everyone = await requestAs(sa, 'POST', `${RBAC}/clusterrolebindings?dryRun=All`, {
        body: {
          metadata: meta('everyone'),
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }],
        },
      });
      expectStatus(everyone, 403, /groups that include everyone/);
      const deleteView = await requestAs(sa, 'DELETE', `${RBAC}/clusterroles/view?dryRun=All`);
      expectStatus(deleteView, 403, /may change or delete only RBAC objects labelled/);
    });

    it('may update and delete what it labelled', async () => {
      const path = `${RBAC}/clusterrolebindings/view-${suffix}`;
      const patch = await requestAs(sa, 'PATCH', path, {
        body: { metadata: { annotations: { reconciled: 'yes' } } },
        contentType: 'application/merge-patch+json',
      });
      expectStatus(patch, 200);
      expectStatus(await requestAs(sa, 'DELETE', path), 200);
    });

    it('holds its Lease rights in its own namespace only', async () => {
      const lease = { metadata: { name: `lease-${suffix}` }, spec: { holderIdentity: 'x' } };
      const own = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
      expectStatus(await requestAs(sa, 'POST', own, { body: lease }), 201);
      expectStatus(await requestAs(sa, 'GET', `${own}/lease-${suffix}`), 200);
      expectStatus(
        await requestAs(sa, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${saNs}/leases`, {
          body: lease,
        }),
        403,
      );
    });
  });
});

describe('scripts/kind-e2e.sh', () => {
  const e2eNs = `impop-e2e-${suffix}`;
  const e2eRelease = `e2e-${suffix}`;

  afterAll(async () => {
    const admin = clusterInfo().adminKubeconfig;
    await helm(['uninstall', e2eRelease, '--namespace', e2eNs, '--kubeconfig', admin, '--wait=false']).catch(
      () => undefined,
    );
    await kubectl(['delete', 'namespace', e2eNs, '--wait=false']);
  });

  it('passes its chart and identity steps against the local control plane (LOCAL_CLUSTER=1)', async () => {
    const tools = await ensureTools();
    const info = clusterInfo();
    const r = await run('bash', [join(repoRoot, 'scripts', 'kind-e2e.sh')], {
      env: {
        ...process.env,
        LOCAL_CLUSTER: '1',
        NS: e2eNs,
        RELEASE: e2eRelease,
        KUBECONFIG: info.adminKubeconfig,
        PATH: `${info.binDir}:${tools.dir}:${process.env.PATH ?? ''}`,
        HELM_CONFIG_HOME: join(info.workDir, 'helm-config'),
        HELM_CACHE_HOME: join(info.workDir, 'helm-cache'),
        HELM_DATA_HOME: join(info.workDir, 'helm-data'),
      },
    });
    expect({ code: r.code, tail: (r.stdout + r.stderr).slice(-3000) }).toEqual({
      code: 0,
      tail: expect.stringContaining('done: chart and identity steps passed'),
    });
    for (const check of ['updating system:basic-user', 'binding cluster-admin', 'reading Secrets']) {
      expect(r.stdout).toContain(`ok: refused: ${check}`);
    }
  }, 180_000);
});

describe('rbac.mode=escalate (with the operator guard)', () => {
  it('can grant anyone but is still refused cluster-admin, unlabelled writes and Secrets', async () => {
    const { installOperatorRbac } = await import('../harness/operator-rbac.js');
    const install = await installOperatorRbac({}, { rbacMode: 'escalate' });
    try {
      const sa = await install.kubeconfig();
      const anyone = await requestAs(sa, 'POST', `${RBAC}/clusterroles?dryRun=All`, {
        body: {
          metadata: meta('esc-any'),
          rules: [
            { apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: ['mallory'] },
          ],
        },
      });
      expectStatus(anyone, 201);
      const clusterAdmin = await requestAs(sa, 'POST', `${RBAC}/clusterrolebindings?dryRun=All`, {
        body: {
          metadata: meta('esc-ca'),
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
        },
      });
      expectStatus(clusterAdmin, 403, /must not bind a denied ClusterRole/);
      const basicUser = await requestAs(sa, 'PATCH', `${RBAC}/clusterroles/system:basic-user?dryRun=All`, {
        body: { metadata: { annotations: { touched: 'yes' } } },
        contentType: 'application/merge-patch+json',
      });
      expectStatus(basicUser, 403, /labelled/);
      expectStatus(await requestAs(sa, 'GET', '/api/v1/secrets'), 403);
    } finally {
      await install.uninstall();
    }
  });
});

// The author check (MutatingAdmissionPolicy stamp + the operator's SubjectAccessReviews), installed
// with helm and run as the chart's ServiceAccount: test/integration/author-check.test.ts.
