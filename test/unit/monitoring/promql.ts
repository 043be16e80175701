// A superficial PromQL check for the dashboard's expressions: balanced brackets, well-formed label
// matchers, ranges and grouping clauses, known functions, and every bare identifier a known metric
// name. Not a parser: the live Prometheus test runs the queries for real.

const FUNCTIONS = new Set([
  'sum',
  'max',
  'min',
  'avg',
  'count',
  'rate',
  'increase',
  'histogram_quantile',
  'time',
  'label_replace',
  'clamp_min',
  'abs',
]);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset']);
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)/g;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const MATCHER = /^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*""\s*$/;
const RANGE = /^(\$__rate_interval|\d+(ms|s|m|h|d))$/;

/** The problems found in one expression (empty when it passes). */
export function promqlProblems(expr: string, knownMetrics: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  // Strings become "" (their content cannot unbalance anything); an unterminated one is a problem.
  let text = '';
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < expr.length && expr[j] !== '"') j += expr[j] === '\\' ? 2 : 1;
      if (j >= expr.length) return [...problems, `unterminated string at ${i}`];
      text += '""';
      i = j;
      continue;
    }
    if ('([{'.includes(c)) stack.push(c);
    if (c in pairs && stack.pop() !== pairs[c]) return [...problems, `unbalanced '${c}' at ${i}`];
    text += c;
  }
  if (stack.length > 0) return [...problems, `unclosed '${stack.join('')}'`];

  text = text.replace(/\{([^{}]*)\}/g, (_m, body: string) => {
    for (const m of body.split(',')) if (!MATCHER.test(m)) problems.push(`bad label matcher '${m}'`);
    return ' ';
  });
  text = text.replace(/\[([^[\]]*)\]/g, (_m, body: string) => {
    if (!RANGE.test(body)) problems.push(`bad range '[${body}]'`);
    return ' ';
  });
  text = text.replace(GROUPING, (_m, _kw: string, body: string) => {
    for (const l of body.split(',').map((s) => s.trim()))
      if (!LABEL.test(l)) problems.push(`bad grouping label '${l}'`);
    return ' ';
  });
  for (const m of text.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const before = text[m.index - 1] ?? ' ';
    if (/[0-9.]/.test(before)) continue; // part of a number such as 1e3
    const isCall = /^\s*\(/.test(text.slice(m.index + word.length));
    if (isCall) {
      if (!FUNCTIONS.has(word)) problems.push(`unknown function '${word}'`);
    } else if (!KEYWORDS.has(word) && !knownMetrics.has(word)) {
      problems.push(`unknown metric '${word}'`);
    }
  }
  return problems;
}
