// The operator's Prometheus alert rules, written once: rendered as a plain rules file
// (manifests/monitoring/prometheus-rules.yaml) and as the chart's optional PrometheusRule template,
// whose thresholds, selector, runbook address and extra labels are chart values.
// Regenerate both: npm run build && node dist/scripts/gen-alerts.js

/** The knobs of the rules: chart values under `prometheusRule`, defaults in the plain file. */
export interface AlertParams {
  /** PromQL label matchers that select the operator's own series (and its `up`). */
  selector: string;
  /** Base address of docs/runbook.md; each alert appends `#<its name in lower case>`. */
  runbookBaseUrl: string;
  stalledFor: string;
  collisionsFor: string;
  deniedEntriesFor: string;
  reconcileErrorsFor: string;
  leaderlessFor: string;
  downFor: string;
  watchRestartsWindow: string;
  watchRestarts: string;
  anyUserFor: string;
  /** Seconds before spec.validUntil from which the expiry is announced. */
  expiringWithinSeconds: string;
}

/** The threshold knobs (chart values `prometheusRule.thresholds.*`). */
export const THRESHOLDS = [
  'stalledFor',
  'collisionsFor',
  'deniedEntriesFor',
  'reconcileErrorsFor',
  'leaderlessFor',
  'downFor',
  'watchRestartsWindow',
  'watchRestarts',
  'anyUserFor',
  'expiringWithinSeconds',
] as const satisfies readonly (keyof AlertParams)[];
export type Threshold = (typeof THRESHOLDS)[number];

/** The Service the chart's ServiceMonitor scrapes is `<fullname>-metrics`: its name is the job. */
export const DEFAULT_JOB = 'impersonation-operator-metrics';
export const DEFAULT_RUNBOOK_BASE_URL =
  'https://github.com/impersonation-operator/impersonation-operator/blob/main/docs/runbook.md';

export const DEFAULT_PARAMS: AlertParams = {
  selector: `job="${DEFAULT_JOB}"`,
  runbookBaseUrl: DEFAULT_RUNBOOK_BASE_URL,
  stalledFor: '15m',
  collisionsFor: '5m',
  deniedEntriesFor: '10m',
  reconcileErrorsFor: '15m',
  leaderlessFor: '5m',
  downFor: '5m',
  watchRestartsWindow: '15m',
  watchRestarts: '3',
  anyUserFor: '1m',
  expiringWithinSeconds: String(3 * 24 * 3600),
};

export type Severity = 'critical' | 'warning' | 'info';

export interface AlertRule {
  alert: string;
  severity: Severity;
  /** How long the condition must hold; absent: fires at once (the expression has its own window). */
  for?: (p: AlertParams) => string;
  expr: (p: AlertParams) => string;
  /** Prometheus alert templates: `{{ $labels.policy }}` names the policy. */
  summary: string;
  description: (p: AlertParams) => string;
}

export const RULE_GROUP = 'impersonation-operator';

export const ALERTS: readonly AlertRule[] = [
  {
    alert: 'ImpersonationPolicyStalled',
    severity: 'warning',
    for: (p) => p.stalledFor,
    expr: (p) => `max by (policy, reason) (impersonation_operator_policy_stalled_reason{${p.selector}}) == 1`,
    summary: 'ImpersonationPolicy {{ $labels.policy }} is Stalled ({{ $labels.reason }}).',
    description: (p) =>
      `ImpersonationPolicy {{ $labels.policy }} has been Stalled with reason {{ $labels.reason }} for more ` +
      `than ${p.stalledFor}: part of it is not provisioned until someone changes the policy or the ` +
      'cluster. kubectl describe impersonationpolicy {{ $labels.policy }} says what to change.',
  },
  {
    alert: 'ImpersonationPolicyCollision',
    severity: 'warning',
    for: (p) => p.collisionsFor,
    expr: (p) => `max by (policy) (impersonation_operator_policy_collisions{${p.selector}}) > 0`,
    summary: 'ImpersonationPolicy {{ $labels.policy }} has role names that collide.',
    description: (p) =>
      'ImpersonationPolicy {{ $labels.policy }} has had role names for more than ' +
      `${p.collisionsFor} that map to the same group after normalization; the operator holds those ` +
      'groups back. status.collisions lists the names.',
  },
  {
    alert: 'ImpersonationPolicyDeniedEntries',
    severity: 'warning',
    for: (p) => p.deniedEntriesFor,
    expr: (p) => `max by (policy) (impersonation_operator_policy_denied_entries{${p.selector}}) > 0`,
    summary: 'ImpersonationPolicy {{ $labels.policy }} has entries the operator refuses.',
    description: (p) =>
      `For more than ${p.deniedEntriesFor} ImpersonationPolicy {{ $labels.policy }} has asked for ` +
      'entries that the operator configuration refuses (deny list, system: identities, any-user); ' +
      'they are not granted. status.denied lists them.',
  },
  {
    alert: 'ImpersonationOperatorReconcileErrors',
    severity: 'warning',
    for: (p) => p.reconcileErrorsFor,
    expr: (p) =>
      `sum by (instance) (rate(impersonation_operator_reconcile_total{${p.selector}, result="error"}[5m])) > 0`,
    summary: 'The impersonation operator keeps failing reconciles.',
    description: (p) =>
      `The impersonation operator at {{ $labels.instance }} has failed reconciles for more than ` +
      `${p.reconcileErrorsFor} (transient errors: API server unreachable, conflicts, throttling). ` +
      'Policies show Reconciling=True with reason ApplyFailed; the operator log names the failing request.',
  },
  {
    alert: 'ImpersonationOperatorNoLeader',
    severity: 'critical',
    for: (p) => p.leaderlessFor,
    expr: (p) => `max(impersonation_operator_leader{${p.selector}}) == 0`,
    summary: 'No impersonation operator replica is leading.',
    description: (p) =>
      `For more than ${p.leaderlessFor} no replica of the impersonation operator has held its leader ` +
      'Lease, so no policy change is applied and no revocation happens.',
  },
  {
    alert: 'ImpersonationOperatorDown',
    severity: 'critical',
    for: (p) => p.downFor,
    expr: (p) => `absent(up{${p.selector}} == 1)`,
    summary: 'The impersonation operator is down or not scraped.',
    description: (p) =>
      `For more than ${p.downFor} Prometheus has had no impersonation operator target that is up: ` +
      'the operator is down, or Prometheus does not scrape it (or not under the job these rules ' +
      'select), so none of its other alerts can fire.',
  },
  {
    alert: 'ImpersonationOperatorWatchRestarts',
    severity: 'warning',
    expr: (p) =>
      `sum by (instance, informer) (increase(impersonation_operator_informer_watch_restarts_total{${p.selector}, reason!="closed"}[${p.watchRestartsWindow}])) > ${p.watchRestarts}`,
    summary: 'The impersonation operator keeps restarting its {{ $labels.informer }} watch.',
    description: (p) =>
      `The impersonation operator at {{ $labels.instance }} restarted its {{ $labels.informer }} watch ` +
      `more than ${p.watchRestarts} times in ${p.watchRestartsWindow} after errors or 410 Gone ` +
      "(the server's normal timeouts are not counted): its cache may lag, so changes take longer to apply.",
  },
  {
    alert: 'ImpersonationPolicyAnyUserInForce',
    severity: 'info',
    for: (p) => p.anyUserFor,
    expr: (p) => `max by (policy) (impersonation_operator_policy_any_user{${p.selector}}) == 1`,
    summary: 'ImpersonationPolicy {{ $labels.policy }} lets its impersonators become any user.',
    description: () =>
      'ImpersonationPolicy {{ $labels.policy }} grants impersonation of ANY user ' +
      '(spec.targets.allowAnyUser, status.allowAnyUserInForce). Make sure that is intended.',
  },
  {
    alert: 'ImpersonationPolicyGrantExpiringSoon',
    severity: 'warning',
    expr: (p) =>
      `(max by (policy) (impersonation_operator_policy_valid_until_timestamp_seconds{${p.selector}}) - time() > 0) < ${p.expiringWithinSeconds}` +
      ` unless on (policy) max by (policy) (impersonation_operator_policy_state{${p.selector}, state="suspended"}) == 1`,
    summary: 'ImpersonationPolicy {{ $labels.policy }} expires soon.',
    description: (p) =>
      'ImpersonationPolicy {{ $labels.policy }} stops granting at its spec.validUntil, within the ' +
      `next ${p.expiringWithinSeconds} seconds. Extend validUntil if the access is still needed.`,
  },
];

/** The anchor of an alert's section in docs/runbook.md (GitHub's slug of a `## AlertName` heading). */
export const runbookAnchor = (alert: string): string => alert.toLowerCase();

/** One rule as Prometheus reads it (rule file or PrometheusRule spec.groups[].rules[]). */
export interface PrometheusAlertingRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string };
}

export function alertingRule(rule: AlertRule, p: AlertParams): PrometheusAlertingRule {
  const f = rule.for?.(p);
  return {
    alert: rule.alert,
    expr: rule.expr(p),
    ...(f === undefined ? {} : { for: f }),
    labels: { severity: rule.severity },
    annotations: {
      summary: rule.summary,
      description: rule.description(p),
      runbook_url: `${p.runbookBaseUrl}#${runbookAnchor(rule.alert)}`,
    },
  };
}

// One emitter for both outputs, so they cannot drift: every string is a double-quoted (JSON) scalar
// except expressions, which are literal blocks (they hold quotes, and Helm actions in the chart).
const q = (s: string): string => JSON.stringify(s);

interface EmitHooks {
  /** Escapes text taken literally (the chart turns Prometheus's `{{` into a Helm string). */
  text: (s: string) => string;
  /** Lines after the severity label, at the labels' indentation. */
  extraLabels: (indent: string) => string[];
  /** Lines around one rule (the chart leaves out disabled alerts). */
  around: (alert: string) => [string[], string[]];
}

function emitRules(p: AlertParams, indent: string, hooks: EmitHooks): string[] {
  const lines: string[] = [];
  for (const rule of ALERTS) {
    const r = alertingRule(rule, p);
    const [before, after] = hooks.around(r.alert);
    lines.push(...before);
    lines.push(`${indent}- alert: ${r.alert}`);
    lines.push(`${indent}  expr: |-`);
    lines.push(`${indent}    ${hooks.text(r.expr)}`);
    if (r.for !== undefined) lines.push(`${indent}  for: ${hooks.text(r.for)}`);
    lines.push(`${indent}  labels:`);
    lines.push(`${indent}    severity: ${r.labels.severity}`);
    lines.push(...hooks.extraLabels(`${indent}    `));
    lines.push(`${indent}  annotations:`);
    for (const key of ['summary', 'description', 'runbook_url'] as const) {
      lines.push(`${indent}    ${key}: ${hooks.text(q(r.annotations[key]))}`);
    }
    lines.push(...after);
  }
  return lines;
}

export const RULES_FILE = 'manifests/monitoring/prometheus-rules.yaml';
export const CHART_TEMPLATE = 'charts/impersonation-operator/templates/prometheusrule.yaml';
export const REGENERATE_ALERTS = 'npm run build && node dist/scripts/gen-alerts.js';

/** The plain Prometheus rules file, with the default thresholds. */
export function renderRulesFile(p: AlertParams = DEFAULT_PARAMS): string {
  const plain: EmitHooks = { text: (s) => s, extraLabels: () => [], around: () => [[], []] };
  return [
    '# Alert rules for impersonation-operator, for a Prometheus without the Prometheus Operator:',
    '#   rule_files: [prometheus-rules.yaml]',
    `# The selector ${p.selector} is the job of the chart's metrics Service (release`,
    '# impersonation-operator); change it to the job your scrape config gives the operator.',
    '# The chart ships the same rules as a PrometheusRule (values prometheusRule.*). Runbook: docs/runbook.md',
    `# Generated from src/monitoring/alerts.ts; do not edit. Regenerate: ${REGENERATE_ALERTS}`,
    'groups:',
    `  - name: ${RULE_GROUP}`,
    '    rules:',
    ...emitRules(p, '      ', plain),
    '',
  ].join('\n');
}

// Values Helm may hold as floats (and print as 2.592e+05): rendered through `int`.
const NUMBERS = new Set<string>(['watchRestarts', 'expiringWithinSeconds']);

// Placeholders that survive escaping, replaced by Helm actions afterwards.
const HOLE = '\uE000'; // private use: no JSON escaping, never in a rule
const hole = (name: string): string => `${HOLE}${name}${HOLE}`;

/** The chart's PrometheusRule template: the same rules, with chart values in place of the defaults. */
export function renderChartTemplate(): string {
  const params = Object.fromEntries(
    (Object.keys(DEFAULT_PARAMS) as (keyof AlertParams)[]).map((k) => [k, hole(k)]),
  ) as unknown as AlertParams;
  const action = (name: string): string =>
    name === 'selector'
      ? '{{ include "impop.alertSelector" . }}'
      : name === 'runbookBaseUrl'
        ? '{{ .Values.prometheusRule.runbookBaseUrl }}'
        : NUMBERS.has(name)
          ? `{{ .Values.prometheusRule.thresholds.${name} | int }}`
          : `{{ .Values.prometheusRule.thresholds.${name} }}`;
  const chart: EmitHooks = {
    // Prometheus's own `{{ $labels.x }}` must reach it verbatim, and a `{` just before an action
    // (`metric{<selector>}`) would otherwise open it as `{{{`.
    text: (s) =>
      s
        .replaceAll('{{', '{{ "{{" }}')
        .replaceAll(`{${HOLE}`, `{{ "{" }}${HOLE}`)
        .replace(new RegExp(`${HOLE}(\\w+)${HOLE}`, 'g'), (_m, name: string) => action(name)),
    extraLabels: (indent) => [
      '          {{- with .Values.prometheusRule.alertLabels }}',
      `          {{- toYaml . | nindent ${indent.length} }}`,
      '          {{- end }}',
    ],
    around: (alert) => [
      [`      {{- if not (has ${q(alert)} .Values.prometheusRule.disabledAlerts) }}`],
      ['      {{- end }}'],
    ],
  };
  return [
    `{{- /* Generated from src/monitoring/alerts.ts; do not edit. Regenerate: ${REGENERATE_ALERTS} */ -}}`,
    '{{- if .Values.prometheusRule.enabled -}}',
    'apiVersion: monitoring.coreos.com/v1',
    'kind: PrometheusRule',
    'metadata:',
    '  name: {{ include "impop.fullname" . }}',
    '  namespace: {{ .Release.Namespace }}',
    '  labels:',
    '    {{- include "impop.labels" . | nindent 4 }}',
    '    {{- with .Values.prometheusRule.labels }}',
    '    {{- toYaml . | nindent 4 }}',
    '    {{- end }}',
    'spec:',
    '  groups:',
    `    - name: ${RULE_GROUP}`,
    '      rules:',
    ...emitRules(params, '        ', chart),
    '{{- end }}',
    '',
  ].join('\n');
}
