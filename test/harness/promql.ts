// The metric names a PromQL expression reads, without a PromQL parser: enough for our rules and
// dashboard queries (the live test also runs each expression through a real Prometheus, which
// rejects what this would misread).

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
