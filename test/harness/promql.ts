// The metric names a PromQL expression reads, without a PromQL parser: enough for our rules and
// dashboard queries (the live test also runs each expression through a real Prometheus, which
// rejects what this would misread).
import { Metrics } from '../../src/metrics.js';

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'atan2',
  'inf',
  'nan',
]);

/** Metric names in `expr`, sorted and unique. `{__name__=...}` selectors are not resolved. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    // String literals (label values, label_replace arguments).
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    // Label matchers and range/subquery brackets.
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    // Grouping clauses with their label lists, so `sum by (a) (` reads as the call `sum (`.
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call !== undefined || KEYWORDS.has(name!.toLowerCase())) continue; // a function or an operator
    names.add(name!);
  }
  return [...names].sort();
}

/** Every `expr` of a Grafana dashboard's panel targets, rows and nested panels included. */
export function dashboardQueries(dashboard: unknown): { panel: string; expr: string }[] {
  const found: { panel: string; expr: string }[] = [];
  const visit = (node: unknown, panel: string) => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item, panel);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const obj = node as Record<string, unknown>;
    const title = typeof obj.title === 'string' ? obj.title : panel;
    for (const t of Array.isArray(obj.targets) ? obj.targets : []) {
      const expr = (t as { expr?: unknown }).expr;
      if (typeof expr === 'string' && expr.trim() !== '') found.push({ panel: title, expr });
    }
    for (const key of ['panels', 'rows']) if (key in obj) visit(obj[key], title);
  };
  visit(dashboard, '(dashboard)');
  return found;
}

/**
 * A dashboard query with Grafana's variables filled in for a plain Prometheus: interval variables
 * become 1m, every template variable matches anything (an `=` matcher on one becomes `=~`).
 */
export function concreteQuery(expr: string): string {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g, '1m')
    .replace(/(\w+)\s*=\s*"\$(\{\w+(?::\w+)?\}|\w+)"/g, '$1=~".*"')
    .replace(/\$\{\w+(?::\w+)?\}|\$\w+/g, '.*');
}

/**
 * Sample names the operator exposes (histograms as _bucket/_sum/_count, summaries with _sum/_count),
 * read from the TYPE lines of a fresh Metrics' exposition.
 */
export async function exportedSeriesNames(): Promise<Set<string>> {
  const { body } = await new Metrics().exposition();
  const names = new Set<string>();
  for (const [, name, type] of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name! + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(name! + s);
    else names.add(name!);
  }
  return names;
}
