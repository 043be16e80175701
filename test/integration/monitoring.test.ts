// A real Prometheus (built from the pinned module) scraping the operator, running as its own process
// against the local control plane, with the plain alert rules loaded: the collision alert's
// expression finds a colliding policy, every metric the rules and the dashboard read is in a real
// scrape, every dashboard query runs, and a real scrape passes promtool check metrics.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ALERTS, DEFAULT_JOB, DEFAULT_PARAMS, RULES_FILE } from '../../src/monitoring/alerts.js';
import { repoRoot } from '../harness/controlplane.js';
import { startOperator, type OperatorProcess } from '../harness/operator.js';
import { installOperatorRbac, type OperatorRbac } from '../harness/operator-rbac.js';
import {
  adminRequest,
  applyPolicy,
  deletePolicy,
  eventually,
  policy,
  waitForPolicy,
} from '../harness/policies.js';
import { promtool, startPrometheus, type PrometheusServer } from '../harness/prometheus.js';
import { concreteQuery, dashboardQueries, metricNames } from '../harness/promql.js';

const DASHBOARD = join(
  repoRoot,
  'charts',
  'impersonation-operator',
  'dashboards',
  'impersonation-operator.json',
);

const s = Date.now().toString(36).slice(-6);
const reader = `mon-reader-${s}`;
const user = `mon-bob-${s}@example.com`;
const names = { collide: `mon-collide-${s}`, clean: `mon-clean-${s}` };
let validUntil = '';
const rule = (alert: string) => ALERTS.find((a) => a.alert === alert)!;

describe('monitoring: a real Prometheus scraping the operator', () => {
  let rbac: OperatorRbac | undefined;
  let operator: OperatorProcess | undefined;
  let prom: PrometheusServer | undefined;

  beforeAll(async () => {
    const res = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: reader },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
    });
    expect(res.status).toBe(201);
    rbac = await installOperatorRbac({
      impersonate: { users: [user], groups: [`mon-clean-${s}`] },
      bindableClusterRoles: [reader],
    });
    // Leader election on, as deployed: the leader gauge and the per-policy series come from the leader.
    operator = await startOperator({
      kubeconfig: await rbac.kubeconfig(),
      args: [
        `--leader-election-namespace=${rbac.namespace}`,
        `--leader-election-lease-name=${rbac.release}`,
        '--resync-period=2s',
      ],
    });
    await operator.waitReady();
    prom = await startPrometheus({
      job: DEFAULT_JOB,
      targets: [`127.0.0.1:${operator.metricsPort}`],
      scrapeIntervalSeconds: 1,
      ruleFiles: [join(repoRoot, RULES_FILE)],
    });
    // A policy with collisions, a denied entry and an end; and a clean one.
    validUntil = new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    await applyPolicy(
      policy(names.collide, {
        impersonators: [{ kind: 'User', name: `mon-proxy-${s}` }],
        targets: { users: [user] },
        validUntil,
        roles: [
          // Both map to the group mon-role-<s>: a collision within the policy.
          { name: `Mon Role ${s}`, clusterRoles: [reader] },
          { name: `mon-role-${s}`, clusterRoles: [reader] },
          // Refused by the operator's deny list: a denied entry.
          { name: 'Mon Admin', clusterRoles: ['cluster-admin'] },
        ],
      }),
    );
    await applyPolicy(
      policy(names.clean, {
        impersonators: [{ kind: 'User', name: `mon-proxy-${s}` }],
        targets: { users: [user] },
        roles: [{ name: `Mon Clean ${s}`, clusterRoles: [reader] }],
      }),
    );
  }, 180_000);

  afterAll(async () => {
    for (const n of Object.values(names)) await deletePolicy(n).catch(() => undefined);
    await prom?.stop();
    const code = operator ? await operator.stop() : 0;
    await rbac?.uninstall();
    await adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${reader}`);
    expect(code).toBe(0);
  });

  it('the collision alert finds the colliding policy (and only it) through the HTTP API', async () => {
    await waitForPolicy(names.collide, (p) => (p.status?.collisions?.length ?? 0) > 0, 'a collision', 60_000);

    const policiesIn = async (expr: string) =>
      (await prom!.vector(expr)).map((r) => r.metric.policy).filter((p) => p?.endsWith(s));
    const collision = rule('ImpersonationPolicyCollision').expr(DEFAULT_PARAMS);
    expect(
      await eventually(
        'the collision alert expression to return the policy',
        async () => {
          const found = await policiesIn(collision);
          return found.length > 0 ? found : undefined;
        },
        90_000,
      ),
    ).toEqual([names.collide]);
    // The same series say Stalled (reason Collision), denied entries, and the validUntil.
    expect(
      await prom!.vector(`impersonation_operator_policy_stalled_reason{policy="${names.collide}"}`),
    ).toEqual([expect.objectContaining({ metric: expect.objectContaining({ reason: 'Collision' }) })]);
    expect(await policiesIn(rule('ImpersonationPolicyDeniedEntries').expr(DEFAULT_PARAMS))).toEqual([
      names.collide,
    ]);
    const [until] = await prom!.vector(
      `impersonation_operator_policy_valid_until_timestamp_seconds{policy="${names.collide}"}`,
    );
    expect(Number(until?.value[1])).toBe(Date.parse(validUntil) / 1000);
    // Its first reconcile may still be retrying (reconciling); then ready, and only ready.
    await waitForPolicy(
      names.clean,
      (p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      'Ready',
      60_000,
    );
    await eventually('the clean policy to be ready', async () => {
      const r = await prom!.vector(`impersonation_operator_policy_state{policy="${names.clean}"} == 1`);
      return r.length === 1 && r[0]!.metric.state === 'ready';
    });
    expect(
      (await prom!.vector(`impersonation_operator_policy_state{policy="${names.clean}"}`))
        .map((r) => [r.metric.state, r.value[1]])
        .sort(),
    ).toEqual([
      ['inactive', '0'],
      ['ready', '1'],
      ['reconciling', '0'],
      ['stalled', '0'],
      ['suspended', '0'],
    ]);

    // Prometheus evaluates the loaded rule file: the alert is pending (its `for` is minutes) or firing.
    const alerts = await eventually('the collision alert to be active', async () => {
      const r = await prom!.api<{ data: { alerts: { labels: Record<string, string>; state: string }[] } }>(
        'alerts',
      );
      const mine = r.data.alerts.filter(
        (a) => a.labels.alertname === 'ImpersonationPolicyCollision' && a.labels.policy === names.collide,
      );
      return mine.length > 0 ? mine : undefined;
    });
    expect(['pending', 'firing']).toContain(alerts[0]!.state);
    // A leader exists and the operator is up: those alerts' expressions are empty.
    for (const alert of ['ImpersonationOperatorNoLeader', 'ImpersonationOperatorDown']) {
      expect({ alert, result: await prom!.vector(rule(alert).expr(DEFAULT_PARAMS)) }).toEqual({
        alert,
        result: [],
      });
    }
  });

  it('every metric the rules and the dashboard read is in a real scrape; every dashboard query runs', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as unknown;
    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThan(0);
    const used = new Map<string, string>();
    for (const a of ALERTS)
      for (const n of metricNames(a.expr(DEFAULT_PARAMS))) used.set(n, `alert ${a.alert}`);
    for (const q of queries)
      for (const n of metricNames(concreteQuery(q.expr))) used.set(n, `panel ${q.panel}`);
    const missing = async () => {
      const have = new Set(await prom!.metricNames());
      return [...used].filter(([n]) => !have.has(n)).map(([n, by]) => `${n} (${by})`);
    };
    // Series appear with the first reconcile and request of their kind: wait, then say what is missing.
    await eventually(
      'every used metric to be scraped',
      async () => (await missing()).length === 0,
      60_000,
    ).catch(() => undefined);
    expect(await missing()).toEqual([]);

    for (const q of queries) {
      const r = await prom!.api('query', { query: concreteQuery(q.expr) });
      expect({ panel: q.panel, expr: q.expr, status: r.status, error: r.error }).toEqual({
        panel: q.panel,
        expr: q.expr,
        status: 'success',
        error: undefined,
      });
    }
  });

  it('a real scrape follows the Prometheus naming conventions (promtool check metrics)', async () => {
    const scrape = await operator!.metrics();
    expect(scrape).toContain('impersonation_operator_policy_state{');
    const r = await promtool(['check', 'metrics'], { input: scrape });
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: '' });
  });

  it('a deleted policy vanishes from every series', async () => {
    await deletePolicy(names.collide);
    await eventually(
      'no series of the deleted policy',
      async () => (await prom!.vector(`{policy="${names.collide}"}`)).length === 0,
      60_000,
    );
    expect(await prom!.vector(`{policy="${names.clean}"}`)).not.toEqual([]);
  });
});
