// The alert rules have one source (src/monitoring/alerts.ts): the committed rules file and chart
// template are its output, the chart's default thresholds are its defaults, every metric a rule reads
// is one the operator exports, and every alert has its runbook section.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { load } from 'js-yaml';
import {
  ALERTS,
  alertingRule,
  CHART_TEMPLATE,
  DEFAULT_PARAMS,
  REGENERATE_ALERTS,
  renderChartTemplate,
  renderRulesFile,
  RULES_FILE,
  runbookAnchor,
  THRESHOLDS,
} from '../../../src/monitoring/alerts.js';
import { concreteQuery, dashboardQueries, exportedSeriesNames, metricNames } from '../../harness/promql.js';

const root = join(import.meta.dirname, '..', '..', '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');

describe('alert rules', () => {
  it.each([
    [RULES_FILE, renderRulesFile],
    [CHART_TEMPLATE, renderChartTemplate],
  ])('%s is the generator output', (file, render) => {
    const committed = (() => {
      try {
        return read(file);
      } catch {
        return '(missing)';
      }
    })();
    if (committed !== render()) throw new Error(`${file} is out of date. Regenerate: ${REGENERATE_ALERTS}`);
  });

  it('the rules file holds every alert, once, with the default thresholds', () => {
    const file = load(read(RULES_FILE)) as { groups: { name: string; rules: unknown[] }[] };
    expect(file.groups).toHaveLength(1);
    expect(file.groups[0]!.rules).toEqual(ALERTS.map((a) => alertingRule(a, DEFAULT_PARAMS)));
    expect(new Set(ALERTS.map((a) => a.alert)).size).toBe(ALERTS.length);
  });

  it("the chart's default thresholds are the generator's defaults", () => {
    const values = load(read('charts/impersonation-operator/values.yaml')) as {
      prometheusRule: { thresholds: Record<string, unknown>; runbookBaseUrl: string; selector: string };
    };
    const thresholds = values.prometheusRule.thresholds;
    expect(Object.keys(thresholds).sort()).toEqual([...THRESHOLDS].sort());
    for (const key of THRESHOLDS)
      expect({ key, value: String(thresholds[key]) }).toEqual({
        key,
        value: DEFAULT_PARAMS[key],
      });
    expect(values.prometheusRule.runbookBaseUrl).toBe(DEFAULT_PARAMS.runbookBaseUrl);
    // Empty: the chart computes job="<fullname>-metrics", which is the default for release impersonation-operator.
    expect(values.prometheusRule.selector).toBe('');
    expect(DEFAULT_PARAMS.selector).toBe('job="impersonation-operator-metrics"');
  });

  it("reads only metrics the operator exports (and Prometheus's own up)", async () => {
    const exported = await exportedSeriesNames();
    const used = [...new Set(ALERTS.flatMap((a) => metricNames(a.expr(DEFAULT_PARAMS))))].sort();
    expect(used).toContain('impersonation_operator_policy_stalled_reason');
    expect(used.filter((n) => n !== 'up' && !exported.has(n))).toEqual([]);
  });

  it('per-policy alerts name the policy in summary and description; every alert has a severity', () => {
    for (const a of ALERTS) {
      const rule = alertingRule(a, DEFAULT_PARAMS);
      expect(['critical', 'warning', 'info']).toContain(rule.labels.severity);
      expect(rule.annotations.summary).not.toBe('');
      if (/by \([^)]*\bpolicy\b/.test(rule.expr)) {
        expect({ alert: a.alert, text: rule.annotations.summary }).toEqual({
          alert: a.alert,
          text: expect.stringContaining('{{ $labels.policy }}'),
        });
        expect(rule.annotations.description).toContain('{{ $labels.policy }}');
      }
    }
    expect(ALERTS.find((a) => a.alert === 'ImpersonationPolicyAnyUserInForce')?.severity).toBe('info');
  });

  it('every alert links to its own runbook section, which says what it means, how to check and how to fix', () => {
    const runbook = read('docs/runbook.md');
    const sections = runbook.split(/^## /m).slice(1);
    const byTitle = new Map(sections.map((s) => [s.split('\n')[0]!.trim(), s]));
    for (const a of ALERTS) {
      const rule = alertingRule(a, DEFAULT_PARAMS);
      expect(rule.annotations.runbook_url).toBe(`${DEFAULT_PARAMS.runbookBaseUrl}#${runbookAnchor(a.alert)}`);
      const section = byTitle.get(a.alert);
      expect({ alert: a.alert, has: section !== undefined }).toEqual({ alert: a.alert, has: true });
      for (const part of ['**Meaning.**', '**Check.**', '**Fix.**']) expect(section).toContain(part);
    }
    expect([...byTitle.keys()].sort()).toEqual(ALERTS.map((a) => a.alert).sort());
  });
});

describe('metricNames', () => {
  it.each<[string, string[]]>([
    ['up', ['up']],
    ['sum by (instance, informer) (increase(x_total{job="j", reason!="closed"}[15m])) > 3', ['x_total']],
    [
      '(max by (policy) (a{j="x"}) - time() > 0) < 5 unless on (policy) max by (policy) (b{s="y"}) == 1',
      ['a', 'b'],
    ],
    ['histogram_quantile(0.99, sum by (le) (rate(d_bucket[1m])))', ['d_bucket']],
    ['sum(rate(c_total[5m])) by (code) / ignoring(code) group_left sum(rate(c_total[5m]))', ['c_total']],
    ['label_replace(m, "dst", "$1", "src", "(.*)") offset 5m', ['m']],
    ['rate(m:recorded[1m]) * 1e3', ['m:recorded']],
  ])('%s', (expr, expected) => {
    expect(metricNames(expr)).toEqual(expected);
  });
});

describe('dashboard queries', () => {
  it('finds the expressions of panels, of panels in rows and of collapsed rows', () => {
    const dashboard = {
      panels: [
        { title: 'a', targets: [{ expr: 'up' }, { expr: '' }] },
        { type: 'row', title: 'r', panels: [{ title: 'b', targets: [{ expr: 'x' }] }] },
      ],
      rows: [{ panels: [{ title: 'c', targets: [{ expr: 'y' }] }] }],
    };
    expect(dashboardQueries(dashboard)).toEqual([
      { panel: 'a', expr: 'up' },
      { panel: 'b', expr: 'x' },
      { panel: 'c', expr: 'y' },
    ]);
  });

  it.each([
    ['rate(m{job=~"$job"}[$__rate_interval])', 'rate(m{job=~".*"}[1m])'],
    ['m{job="$job", pod="${pod}"}', 'm{job=~".*", pod=~".*"}'],
    ['increase(m[${__range}]) / $__interval', 'increase(m[1m]) / 1m'],
  ])('%s', (expr, expected) => {
    expect(concreteQuery(expr)).toBe(expected);
  });
});
