// The Grafana dashboard: the committed JSON files are exactly what scripts/dashboard.ts generates, and
// every panel is well formed (description, the ${datasource} variable, scoped and superficially valid
// PromQL naming only metrics the operator exports).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  buildDashboard,
  DASHBOARD_PATHS,
  DASHBOARD_UID,
  renderDashboard,
} from '../../../scripts/dashboard.js';
import { repoRoot } from '../api/fixtures.js';
import { concreteQuery, exportedSeriesNames } from '../../harness/promql.js';
import { promqlProblems } from './promql.js';

/** The variables a panel query may use: Grafana's rate interval and the dashboard's own. */
const EXPR_VARIABLES = ['$__rate_interval', '$job', '$namespace', '$policy'];

/** The per-policy gauges (src/metrics.ts): the dashboard must show each. */
const POLICY_METRICS = [
  'impersonation_operator_policy_state',
  'impersonation_operator_policy_stalled_reason',
  'impersonation_operator_policy_collisions',
  'impersonation_operator_policy_denied_entries',
  'impersonation_operator_policy_any_user',
  'impersonation_operator_policy_valid_until_timestamp_seconds',
];

interface Target {
  refId: string;
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  collapsed?: boolean;
  panels?: unknown[];
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}

const REGENERATE = 'regenerate it with `npm run gen:dashboard`';

describe('Grafana dashboard', () => {
  const json = buildDashboard() as unknown as {
    uid: string;
    panels: Panel[];
    templating: { list: unknown[] };
  };
  const panels = json.panels.filter((p) => p.type !== 'row');
  const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));
  let known: Set<string>;

  beforeAll(async () => {
    known = await exportedSeriesNames();
  });

  it.each(DASHBOARD_PATHS.map((p) => [p]))('%s is what the generator writes', (path) => {
    const committed = readFileSync(join(repoRoot, path), 'utf8');
    const stale = `${path} is stale: ${REGENERATE}`;
    // Parsed first, for a readable diff; then byte for byte (key order, indentation, final newline).
    expect({ [stale]: JSON.parse(committed) }).toEqual({ [stale]: JSON.parse(renderDashboard()) });
    expect({ [stale]: committed }).toEqual({ [stale]: renderDashboard() });
  });

  it('renders deterministically, with no timestamps or version counters', () => {
    const text = renderDashboard();
    expect(renderDashboard()).toBe(text);
    expect(text).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:/);
    expect(Object.keys(json)).not.toContain('version');
    expect(json.uid).toBe(DASHBOARD_UID);
  });

  it('keeps every panel at the top level (rows expanded), with unique ids and no overlaps', () => {
    for (const row of json.panels.filter((p) => p.type === 'row'))
      expect({ row: row.title, collapsed: row.collapsed, panels: row.panels }).toEqual({
        row: row.title,
        collapsed: false,
        panels: [],
      });
    const ids = json.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Map<string, string>();
    for (const p of json.panels) {
      const { x, y, w, h } = p.gridPos;
      expect({ panel: p.title, fits: x >= 0 && w > 0 && x + w <= 24 }).toEqual({
        panel: p.title,
        fits: true,
      });
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          const other = cells.get(`${i},${j}`);
          expect({ panel: p.title, overlaps: other }).toEqual({ panel: p.title, overlaps: undefined });
          cells.set(`${i},${j}`, p.title);
        }
    }
  });

  it('gives every panel a title, a description, queries, and the ${datasource} variable', () => {
    expect(panels.length).toBeGreaterThanOrEqual(20);
    for (const p of panels) {
      expect({ panel: p.title, description: (p.description ?? '').length > 40 }).toEqual({
        panel: p.title,
        description: true,
      });
      expect({ panel: p.title, datasource: p.datasource }).toEqual({
        panel: p.title,
        datasource: { type: 'prometheus', uid: '${datasource}' },
      });
      const refIds = (p.targets ?? []).map((t) => t.refId);
      expect({ panel: p.title, refIds: refIds.length > 0 && new Set(refIds).size === refIds.length }).toEqual(
        {
          panel: p.title,
          refIds: true,
        },
      );
    }
    for (const t of targets)
      expect({ ...t, datasource: t.datasource.uid }).toEqual({ ...t, datasource: '${datasource}' });
    const variables = (json.templating.list as { name: string }[]).map((v) => v.name);
    expect(variables).toEqual(['datasource', 'job', 'namespace', 'policy']);
  });

  it('names only metrics the operator exports, in superficially valid PromQL', () => {
    const found = targets.map((t) => ({
      panel: t.panel,
      refId: t.refId,
      problems: promqlProblems(t.expr, known),
    }));
    expect(found).toEqual(found.map((f) => ({ ...f, problems: [] })));
  });

  it('scopes every selector by $job and $namespace, and every range is $__rate_interval', () => {
    for (const t of targets) {
      const selectors = [...t.expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?/g)].filter((m) =>
        known.has(m[1]!),
      );
      expect(selectors.length).toBeGreaterThan(0);
      for (const m of selectors)
        expect({
          expr: t.expr,
          metric: m[1],
          scoped: (m[2] ?? '').startsWith('{job=~"$job",namespace=~"$namespace"'),
        }).toEqual({
          expr: t.expr,
          metric: m[1],
          scoped: true,
        });
      for (const m of t.expr.matchAll(/\[([^\]]*)\]/g))
        expect({ expr: t.expr, range: m[1] }).toEqual({ expr: t.expr, range: '$__rate_interval' });
      // Every variable is one the dashboard defines, so the live test can run the query without Grafana.
      for (const [v] of t.expr.matchAll(/\$[a-zA-Z_]+/g)) expect(EXPR_VARIABLES).toContain(v);
      expect(concreteQuery(t.expr)).not.toContain('$');
    }
  });

  it('covers what the issue asks for: states, findings, reconciles, queue, API, informers, leadership, memory, CPU', () => {
    const used = new Set(
      targets.flatMap((t) => [...t.expr.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0])),
    );
    const wanted = [
      ...POLICY_METRICS,
      'impersonation_operator_collisions',
      'impersonation_operator_denied_entries',
      'impersonation_operator_reconcile_total',
      'impersonation_operator_reconcile_duration_seconds_bucket',
      'impersonation_operator_workqueue_depth',
      'impersonation_operator_workqueue_queue_duration_seconds_bucket',
      'impersonation_operator_workqueue_work_duration_seconds_bucket',
      'impersonation_operator_workqueue_retries_total',
      'impersonation_operator_api_requests_total',
      'impersonation_operator_api_request_duration_seconds_bucket',
      'impersonation_operator_informer_lists_total',
      'impersonation_operator_informer_watch_restarts_total',
      'impersonation_operator_leader',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'process_cpu_seconds_total',
    ];
    expect(wanted.filter((m) => !used.has(m))).toEqual([]);
  });
});

describe('promqlProblems (the dashboard check can fail)', () => {
  const known = new Set(['up', 'x_total', 'y_bucket']);
  it.each([
    ['a valid expression', 'sum by (job) (rate(x_total{job=~"$job",code!~"2.."}[$__rate_interval])) > 0', []],
    ['a quantile', 'histogram_quantile(0.99, sum by (verb, le) (rate(y_bucket[5m])))', []],
    ['a misspelled metric', 'sum(rate(x_totl[1m]))', ["unknown metric 'x_totl'"]],
    ['an unknown function', 'summ(up)', ["unknown function 'summ'"]],
    ['an unbalanced parenthesis', 'sum(rate(x_total[1m])', ["unclosed '('"]],
    ['a mismatched bracket', 'sum(up]', ["unbalanced ']' at 6"]],
    ['an unterminated string', 'up{job="a}', ['unterminated string at 7']],
    ['a bad matcher', 'up{job=~$job}', ["bad label matcher 'job=~$job'"]],
    ['a bad range', 'rate(x_total[$__interval_rate])', ["bad range '[$__interval_rate]'"]],
    ['a bad grouping label', 'sum by (a-b) (up)', ["bad grouping label 'a-b'"]],
  ])('%s', (_name, expr, problems) => {
    expect(promqlProblems(expr, known)).toEqual(problems);
  });
});
