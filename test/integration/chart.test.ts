// The Helm chart as files: lint, render with default and non-default values, strict schema
// validation of everything rendered (built-in kinds from the local API server's OpenAPI, our CRD
// from crds/), the values schema refusing typos and unsafe values, and manifests/install.yaml
// kept identical to the chart.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load, loadAll } from 'js-yaml';
import { ALERTS, RULES_FILE, type PrometheusAlertingRule } from '../../src/monitoring/alerts.js';
import { repoRoot } from '../harness/controlplane.js';
import { crdSchemas, ensureBuiltInSchemas, schemaLocation } from '../harness/kubeconform-schemas.js';
import {
  chartDir,
  ensureTools,
  helm,
  helmTemplate,
  helmTemplateOk,
  INSTALL_YAML,
  REGENERATE_INSTALL,
  renderInstallYaml,
  run,
} from '../harness/tools.js';

const CRD_FILE = 'impersonationpolicies.impersonation-operator.io.yaml';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}
interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface DeploymentSpec {
  replicas: number;
  template: {
    spec: {
      securityContext: Record<string, unknown>;
      containers: {
        image: string;
        args: string[];
        livenessProbe: { httpGet: { path: string } };
        readinessProbe: { httpGet: { path: string } };
        resources: { requests?: Record<string, string>; limits: Record<string, string> };
        securityContext: Record<string, unknown>;
      }[];
    };
  };
}

const docs = (text: string): K8sObject[] =>
  (loadAll(text) as (K8sObject | null)[]).filter((d): d is K8sObject => d !== null);
const find = (objs: K8sObject[], kind: string, nameSuffix = '') =>
  objs.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
const rulesOf = (objs: K8sObject[], kind: string) =>
  find(objs, kind).flatMap((o) => (o.rules ?? []) as Rule[]);

/** Non-default values touching every optional template. */
const fullValues = {
  image: { digest: `sha256:${'a'.repeat(64)}` },
  replicaCount: 3,
  nameOverride: 'impop',
  operator: {
    deniedClusterRoles: ['admin'],
    allowedSystemIdentities: ['system:authenticated', 'system:serviceaccounts'],
    workers: 8,
    logLevel: 'debug',
    extraArgs: ['--resync-period=5m'],
  },
  grants: {
    impersonate: {
      users: ['alice@example.com', 'bob@example.com'],
      groups: ['sre-on-call', 'dev'],
      serviceAccounts: [
        { namespace: 'ci', name: 'deployer' },
        { namespace: 'ci', name: 'releaser' },
        { namespace: 'web', name: 'deployer' },
      ],
      uids: ['1234'],
      userExtras: { scopes: ['read', 'write'] },
    },
    bindableClusterRoles: ['view', 'edit'],
  },
  admissionPolicy: {
    authorCheck: {
      enabled: true,
      exemptUsers: ['system:serviceaccount:argocd:argocd-application-controller'],
    },
  },
  serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
  prometheusRule: {
    enabled: true,
    labels: { release: 'prometheus' },
    alertLabels: { team: 'platform' },
    thresholds: { stalledFor: '30m' },
  },
  networkPolicy: {
    enabled: true,
    metricsFrom: [{ namespaceSelector: { matchLabels: { name: 'monitoring' } } }],
  },
  podAnnotations: { 'example.com/team': 'platform' },
  priorityClassName: 'system-cluster-critical',
  grafana: {
    dashboard: {
      enabled: true,
      namespace: 'monitoring',
      labels: { team: 'platform' },
      annotations: { 'example.com/owner': 'sre' },
      folder: 'Platform',
    },
  },
};

describe('Helm chart (files)', () => {
  let schemaArgs: string[];

  beforeAll(async () => {
    await ensureTools();
    const builtIn = await ensureBuiltInSchemas();
    const crds = await crdSchemas();
    schemaArgs = ['-schema-location', schemaLocation(builtIn), '-schema-location', schemaLocation(crds)];
  }, 30 * 60_000);

  async function kubeconform(manifests: string, extra: string[] = []) {
    const { kubeconform: bin } = await ensureTools();
    return run(bin, ['-strict', '-summary', '-output', 'text', ...schemaArgs, ...extra, '-'], {
      input: manifests,
    });
  }

  it('passes helm lint --strict with default and with non-default values', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'impop-lint-'));
    const valuesFile = join(dir, 'values.json');
    await writeFile(valuesFile, JSON.stringify(fullValues));
    for (const args of [[], ['--values', valuesFile]]) {
      const r = await helm(['lint', '--strict', chartDir, ...args]);
      expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({
        code: 0,
        out: expect.stringContaining('0 chart(s) failed'),
      });
    }
  });

  it("ships the repo's CRD byte for byte in the chart's crds/", async () => {
    const repoCrd = await readFile(join(repoRoot, 'crds', CRD_FILE), 'utf8');
    const chartCrd = await readFile(join(chartDir, 'crds', CRD_FILE), 'utf8');
    if (chartCrd !== repoCrd) {
      throw new Error(
        `charts/impersonation-operator/crds/${CRD_FILE} differs from crds/. Sync it: ${REGENERATE_INSTALL}`,
      );
    }
  });

  it('renders the defaults: 2 leader-elected replicas, probes, restricted securityContext, least-privilege RBAC', async () => {
    const objs = docs(await helmTemplateOk());
    expect(objs.map((o) => o.kind).sort()).toEqual(
      [
        'ClusterRole',
        'ClusterRole',
        'ClusterRoleBinding',
        'ClusterRoleBinding',
        'Deployment',
        'PodDisruptionBudget',
        'Role',
        'RoleBinding',
        'Service',
        'ServiceAccount',
        'ValidatingAdmissionPolicy',
        'ValidatingAdmissionPolicyBinding',
        'MutatingAdmissionPolicy',
        'MutatingAdmissionPolicyBinding',
      ].sort(),
    );
    const [deployment] = find(objs, 'Deployment') as [K8sObject & { spec: DeploymentSpec }];
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0]!;
    expect(container.args).toContain('--leader-elect');
    // The author check is on by default: the stamp (MutatingAdmissionPolicy) and the operator's reviews.
    expect(container.args).toContain('--author-check');
    expect(find(objs, 'MutatingAdmissionPolicy').map((o) => o.metadata.name)).toEqual([
      'impersonation-operator-author-stamp',
    ]);
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toEqual({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.image).toBe('ghcr.io/impersonation-operator/impersonation-operator:0.1.0');

    const rules = rulesOf(objs, 'ClusterRole');
    // Nothing about Secrets, nothing with '*', no escalate, and `bind` only on listed names.
    expect(rules.flatMap((r) => r.resources ?? [])).not.toContain('secrets');
    expect(rules.flatMap((r) => [...r.verbs, ...(r.resources ?? []), ...(r.apiGroups ?? [])])).not.toContain(
      '*',
    );
    expect(rules.flatMap((r) => r.verbs)).not.toContain('escalate');
    expect(rules.filter((r) => r.verbs.includes('bind'))).toEqual([
      {
        apiGroups: ['rbac.authorization.k8s.io'],
        resources: ['clusterroles'],
        verbs: ['bind'],
        resourceNames: ['view'],
      },
    ]);
    // With no grants, no impersonate rule at all (an empty resourceNames would mean "every name").
    expect(rules.filter((r) => r.verbs.includes('impersonate'))).toEqual([]);
    // Nothing is bound to cluster-admin.
    const bindings = [...find(objs, 'ClusterRoleBinding'), ...find(objs, 'RoleBinding')];
    expect(bindings.map((b) => (b.roleRef as { name: string }).name)).not.toContain('cluster-admin');
    // The chart's own objects never carry the label that marks the operator's objects.
    for (const o of objs) expect(o.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
  });

  it('renders non-default values: every grant has resourceNames, service accounts are granted per namespace', async () => {
    const objs = docs(await helmTemplateOk({ values: fullValues, release: 'rel', namespace: 'ops' }));
    const kinds = new Set(objs.map((o) => o.kind));
    for (const kind of [
      'ServiceMonitor',
      'PrometheusRule',
      'NetworkPolicy',
      'ValidatingAdmissionPolicy',
      'ConfigMap',
    ])
      expect(kinds).toContain(kind);
    expect(
      find(objs, 'ValidatingAdmissionPolicy')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['rel-impop-operator-guard']);
    expect(find(objs, 'MutatingAdmissionPolicy').map((o) => o.metadata.name)).toEqual([
      'rel-impop-author-stamp',
    ]);
    const [deployment] = find(objs, 'Deployment') as [K8sObject & { spec: DeploymentSpec }];
    expect(deployment.spec.replicas).toBe(3);
    const container = deployment.spec.template.spec.containers[0]!;
    expect(container.image).toBe(
      `ghcr.io/impersonation-operator/impersonation-operator@sha256:${'a'.repeat(64)}`,
    );
    expect(container.args).toEqual(
      expect.arrayContaining([
        '--workers=8',
        '--denied-cluster-roles=admin,cluster-admin',
        '--allowed-system-identities=system:authenticated,system:serviceaccounts',
        '--resync-period=5m',
        '--author-check',
        '--author-check-exempt-users=system:serviceaccount:argocd:argocd-application-controller',
        '--author-check-cache-ttl=5m',
      ]),
    );

    const impersonate = rulesOf(objs, 'ClusterRole').filter((r) => r.verbs.includes('impersonate'));
    expect(impersonate).toEqual([
      {
        apiGroups: [''],
        resources: ['users'],
        verbs: ['impersonate'],
        resourceNames: ['alice@example.com', 'bob@example.com'],
      },
      {
        apiGroups: [''],
        resources: ['groups'],
        verbs: ['impersonate'],
        resourceNames: ['dev', 'sre-on-call'],
      },
      {
        apiGroups: ['authentication.k8s.io'],
        resources: ['uids'],
        verbs: ['impersonate'],
        resourceNames: ['1234'],
      },
      {
        apiGroups: ['authentication.k8s.io'],
        resources: ['userextras/scopes'],
        verbs: ['impersonate'],
        resourceNames: ['read', 'write'],
      },
    ]);
    // Service-account impersonation is never cluster-wide: one Role per namespace, names listed.
    expect(impersonate.flatMap((r) => r.resources)).not.toContain('serviceaccounts');
    const saRoles = find(objs, 'Role', '-grants').map((r) => [
      r.metadata.namespace,
      (r.rules as Rule[])[0]!.resourceNames,
    ]);
    expect(saRoles.sort()).toEqual([
      ['ci', ['deployer', 'releaser']],
      ['web', ['deployer']],
    ]);
    expect(
      find(objs, 'RoleBinding', '-grants')
        .map((b) => b.metadata.namespace)
        .sort(),
    ).toEqual(['ci', 'web']);
  });

  it('renders the Grafana dashboard as a ConfigMap for the sidecar: its label, folder, namespace, and the JSON file as is', async () => {
    const file = await readFile(join(chartDir, 'dashboards', 'impersonation-operator.json'), 'utf8');
    const dashboardOf = async (values: unknown, namespace = 'ops') => {
      const objs = docs(await helmTemplateOk({ values, release: 'rel', namespace }));
      return find(objs, 'ConfigMap') as (K8sObject & {
        metadata: { annotations?: Record<string, string> };
        data: Record<string, string>;
      })[];
    };

    const [cm, ...more] = await dashboardOf(fullValues);
    expect(more).toEqual([]);
    expect(cm!.metadata).toMatchObject({
      name: 'rel-impop-dashboard',
      namespace: 'monitoring',
      labels: { grafana_dashboard: '1', team: 'platform', 'app.kubernetes.io/managed-by': 'Helm' },
      annotations: { grafana_folder: 'Platform', 'example.com/owner': 'sre' },
    });
    expect(Object.keys(cm!.data)).toEqual(['impersonation-operator.json']);
    const json = cm!.data['impersonation-operator.json']!;
    expect(JSON.parse(json)).toEqual(JSON.parse(file));
    expect(`${json}\n`).toBe(file);
    expect((JSON.parse(json) as { uid: string }).uid).toBe('impersonation-operator');

    // Defaults when enabled: the release namespace, only the sidecar label, no annotations; the
    // sidecar label can be replaced (null deletes a default in Helm).
    const [plain] = await dashboardOf({ grafana: { dashboard: { enabled: true } } });
    expect(plain!.metadata.namespace).toBe('ops');
    expect(plain!.metadata.labels?.grafana_dashboard).toBe('1');
    expect(plain!.metadata.annotations).toBeUndefined();
    const [relabelled] = await dashboardOf({
      grafana: { dashboard: { enabled: true, labels: { grafana_dashboard: null, my_dashboards: 'yes' } } },
    });
    expect(relabelled!.metadata.labels).toMatchObject({ my_dashboards: 'yes' });
    expect(relabelled!.metadata.labels).not.toHaveProperty('grafana_dashboard');
    // Off by default.
    expect(await dashboardOf({})).toEqual([]);
  });

  it('PrometheusRule: off by default; on, the rules of manifests/monitoring/prometheus-rules.yaml, exactly', async () => {
    expect(find(docs(await helmTemplateOk()), 'PrometheusRule')).toEqual([]);
    const [rule] = find(
      docs(await helmTemplateOk({ values: { prometheusRule: { enabled: true } } })),
      'PrometheusRule',
    );
    const file = load(await readFile(join(repoRoot, RULES_FILE), 'utf8')) as { groups: unknown };
    expect(rule?.spec).toEqual({ groups: file.groups });
  });

  it("PrometheusRule values: thresholds, selector (default: the release's metrics job), labels, disabled alerts", async () => {
    type Rules = { groups: { rules: PrometheusAlertingRule[] }[] };
    const rulesOfRelease = async (values: unknown, release = 'rel') => {
      const objs = docs(await helmTemplateOk({ values, release, namespace: 'ops' }));
      const [obj] = find(objs, 'PrometheusRule');
      const [service] = find(objs, 'Service', '-metrics');
      return { obj: obj!, rules: (obj!.spec as Rules).groups[0]!.rules, job: service?.metadata.name };
    };
    const { obj, rules, job } = await rulesOfRelease(fullValues);
    // The job the ServiceMonitor gives the series is the metrics Service's name.
    expect(job).toBe('rel-impop-metrics');
    expect(obj.metadata.labels?.release).toBe('prometheus');
    const stalled = rules.find((r) => r.alert === 'ImpersonationPolicyStalled')!;
    expect(stalled.for).toBe('30m');
    expect(stalled.annotations.description).toContain('for more than 30m');
    for (const r of rules) {
      expect(r.labels).toEqual({ severity: expect.any(String), team: 'platform' });
      expect(r.expr).toContain(`job="${job}"`);
    }
    const custom = await rulesOfRelease({
      prometheusRule: {
        enabled: true,
        selector: 'namespace="ops", service="op"',
        disabledAlerts: ['ImpersonationPolicyAnyUserInForce'],
        runbookBaseUrl: 'https://wiki.example.com/runbook',
        thresholds: { watchRestarts: 10, expiringWithinSeconds: 2592000 },
      },
    });
    expect(custom.rules.map((r) => r.alert)).toEqual(
      ALERTS.map((a) => a.alert).filter((a) => a !== 'ImpersonationPolicyAnyUserInForce'),
    );
    for (const r of custom.rules) {
      expect(r.expr).toContain('{namespace="ops", service="op"');
      expect(r.annotations.runbook_url).toBe(`https://wiki.example.com/runbook#${r.alert.toLowerCase()}`);
    }
    const byName = new Map(custom.rules.map((r) => [r.alert, r]));
    expect(byName.get('ImpersonationOperatorWatchRestarts')?.expr).toMatch(/\) > 10$/);
    expect(byName.get('ImpersonationPolicyGrantExpiringSoon')?.expr).toContain('< 2592000 unless');
  });

  it('renders escalate mode with escalate+bind and no impersonate rights; anyUser is the only grant without names', async () => {
    const escalate = docs(await helmTemplateOk({ values: { rbac: { mode: 'escalate' } } }));
    const rules = rulesOf(escalate, 'ClusterRole');
    expect(rules.filter((r) => r.verbs.includes('escalate'))).toEqual([
      {
        apiGroups: ['rbac.authorization.k8s.io'],
        resources: ['clusterroles', 'roles'],
        verbs: ['escalate', 'bind'],
      },
    ]);
    expect(rules.filter((r) => r.verbs.includes('impersonate'))).toEqual([]);

    const anyUser = docs(
      await helmTemplateOk({ values: { grants: { impersonate: { anyUser: true, users: ['x'] } } } }),
    );
    expect(rulesOf(anyUser, 'ClusterRole').filter((r) => r.verbs.includes('impersonate'))).toEqual([
      { apiGroups: [''], resources: ['users'], verbs: ['impersonate'] },
    ]);
  });

  it.each([
    ['a misspelled top-level key', { replicaCounts: 2 }, 'replicaCounts'],
    ['a misspelled nested key', { grants: { impersonate: { user: ['a'] } } }, 'user'],
    [
      'cluster-admin as a bindable ClusterRole',
      { grants: { bindableClusterRoles: ['cluster-admin'] } },
      '/grants/bindableClusterRoles/0',
    ],
    [
      'system:masters as a group grant',
      { grants: { impersonate: { groups: ['system:masters'] } } },
      'groups',
    ],
    [
      'a weakened securityContext',
      { securityContext: { allowPrivilegeEscalation: true } },
      'allowPrivilegeEscalation',
    ],
    ['running as root', { podSecurityContext: { runAsNonRoot: false } }, 'runAsNonRoot'],
    ['an unknown RBAC mode', { rbac: { mode: 'admin' } }, 'mode'],
    [
      'a dashboard namespace that is not a DNS label',
      { grafana: { dashboard: { enabled: true, namespace: 'Monitoring' } } },
      '/grafana/dashboard/namespace',
    ],
    ['a misspelled dashboard key', { grafana: { dashboard: { enable: true } } }, 'enable'],
    [
      'an alert threshold that is no duration',
      { prometheusRule: { thresholds: { stalledFor: '15 minutes' } } },
      'stalledFor',
    ],
    [
      'a misspelled alert threshold',
      { prometheusRule: { thresholds: { stalledAfter: '5m' } } },
      'stalledAfter',
    ],
  ])('refuses %s', async (_name, values, mention) => {
    const r = await helmTemplate({ values });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(mention);
  });

  it('refuses (template check) a bindable ClusterRole that the deny list denies', async () => {
    const r = await helmTemplate({
      values: { operator: { deniedClusterRoles: ['edit'] }, grants: { bindableClusterRoles: ['edit'] } },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('operator.deniedClusterRoles denies');
  });

  it('validates every rendered object, the CRD and the examples with kubeconform -strict', async () => {
    const defaults = await helmTemplateOk({ flags: ['--include-crds'] });
    const full = await helmTemplateOk({ values: fullValues, flags: ['--include-crds'] });
    const escalate = await helmTemplateOk({ values: { rbac: { mode: 'escalate' } } });
    const examples = await Promise.all(
      ['access-proxy.yaml', 'cicd-deployer.yaml', 'collision-demo.yaml', '00-prerequisites.yaml'].map((f) =>
        readFile(join(repoRoot, 'manifests', 'examples', f), 'utf8'),
      ),
    );
    for (const [name, manifests, extra] of [
      ['defaults', defaults, []],
      // The Prometheus Operator's CRDs are not in this cluster: named, not silently ignored (the
      // PrometheusRule's rules are checked by promtool in monitoring-rules.test.ts).
      ['non-default values', full, ['-skip', 'ServiceMonitor,PrometheusRule']],
      ['escalate mode', escalate, []],
      ['examples', examples.join('\n---\n'), []],
    ] as const) {
      const r = await kubeconform(manifests, [...extra]);
      expect({ name, code: r.code, out: r.stdout + r.stderr }).toEqual({
        name,
        code: 0,
        out: expect.stringMatching(/Invalid: 0, Errors: 0/),
      });
      expect(r.stdout).not.toMatch(/Valid: 0,/);
    }
  });

  it('kubeconform -strict really is strict here: a misspelled field and a bad policy fail', async () => {
    const defaults = await helmTemplateOk();
    const typo = defaults.replace('readOnlyRootFilesystem: true', 'readOnlyRootFileSystem: true');
    expect(typo).not.toBe(defaults);
    const r1 = await kubeconform(typo);
    expect(r1.code).not.toBe(0);
    expect(r1.stdout).toContain('readOnlyRootFileSystem');
    const badPolicy = [
      'apiVersion: impersonation-operator.io/v1alpha1',
      'kind: ImpersonationPolicy',
      'metadata: { name: bad }',
      'spec: { impersonators: [{ kind: User, name: proxy }], targets: { userz: [alice] } }',
    ].join('\n');
    const r2 = await kubeconform(badPolicy);
    expect(r2.code).not.toBe(0);
    expect(r2.stdout).toContain('userz');
  });

  it('keeps manifests/install.yaml identical to helm template with defaults', async () => {
    const expected = await renderInstallYaml();
    const actual = await readFile(INSTALL_YAML, 'utf8').catch(() => '(missing)');
    if (actual !== expected) {
      throw new Error(
        `manifests/install.yaml is out of date with the chart. Regenerate it: ${REGENERATE_INSTALL}`,
      );
    }
  });
});
