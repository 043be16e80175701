// The operator's Grafana dashboard, built with @grafana/grafana-foundation-sdk (a devDependency: only
// this generator loads it, never the operator). scripts/gen-dashboard.ts writes it to the chart and to
// manifests/monitoring/; test/unit/monitoring/dashboard.test.ts fails when those files and this disagree.
//
// The classic dashboard schema (DashboardBuilder, marked deprecated in favour of dashboardv2) is used on
// purpose: it is what Grafana's import, file provisioning and the dashboard sidecar all accept, and its
// panels[].targets[].expr is what the live Prometheus test runs. Rows stay expanded so that every panel
// sits at the top level of panels[].

import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** Where the generated JSON lives, relative to the repository root (the chart's copy first). */
export const DASHBOARD_PATHS = [
  'charts/impersonation-operator/dashboards/impersonation-operator.json',
  'manifests/monitoring/impersonation-operator-dashboard.json',
] as const;

export const DASHBOARD_UID = 'impersonation-operator';

const P = 'impersonation_operator_';
const DATASOURCE: { type: string; uid: string } = { type: 'prometheus', uid: '${datasource}' };
const RATE = '[$__rate_interval]';
const STATE_COLORS: Record<string, string> = {
  ready: 'green',
  reconciling: 'blue',
  stalled: 'red',
  suspended: 'yellow',
  inactive: 'text',
};

/** `metric{job=~"$job",namespace=~"$namespace",...extra}`: every selector is scoped by the variables. */
function sel(metric: string, ...extra: string[]): string {
  return `${metric}{${['job=~"$job"', 'namespace=~"$namespace"', ...extra].join(',')}}`;
}
const policySel = (metric: string, ...extra: string[]) => sel(metric, 'policy=~"$policy"', ...extra);

function quantile(q: number, metric: string, by: string[] = []): string {
  return `histogram_quantile(${q}, sum by (${[...by, 'le'].join(', ')}) (rate(${sel(`${metric}_bucket`)}${RATE})))`;
}

interface Query {
  expr: string;
  legend?: string;
  instant?: boolean;
  table?: boolean;
}

function target(q: Query, refId: string): prometheus.DataqueryBuilder {
  const b = new prometheus.DataqueryBuilder()
    .refId(refId)
    .datasource(DATASOURCE)
    .editorMode(prometheus.QueryEditorMode.Code)
    .expr(q.expr)
    .legendFormat(q.legend ?? '__auto');
  if (q.table) b.format(prometheus.PromQueryFormat.Table);
  return q.instant || q.table ? b.instant() : b.range();
}

const refIds = (queries: Query[]) => queries.map((q, i) => target(q, String.fromCharCode(65 + i)));

const legend = () =>
  new common.VizLegendOptionsBuilder()
    .showLegend(true)
    .displayMode(common.LegendDisplayMode.List)
    .placement(common.LegendPlacement.Bottom);
const tooltip = () =>
  new common.VizTooltipOptionsBuilder()
    .mode(common.TooltipDisplayMode.Multi)
    .sort(common.SortOrder.Descending);

/** Thresholds: the first colour from -inf, then [value, colour] pairs. */
function thresholds(base: string, ...steps: [number, string][]): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder()
    .mode(dashboard.ThresholdsMode.Absolute)
    .steps([{ value: null, color: base }, ...steps.map(([value, color]) => ({ value, color }))]);
}

interface PanelSpec {
  title: string;
  description: string;
  queries: Query[];
  unit?: string;
  w?: number;
  h?: number;
}

function timeSeries(p: PanelSpec & { stack?: boolean; min?: number }): timeseries.PanelBuilder {
  const b = new timeseries.PanelBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(DATASOURCE)
    .targets(refIds(p.queries))
    .unit(p.unit ?? 'short')
    .min(p.min ?? 0)
    .span(p.w ?? 8)
    .height(p.h ?? 8)
    .lineWidth(1)
    .fillOpacity(p.stack ? 30 : 10)
    .showPoints(common.VisibilityMode.Never)
    .legend(legend())
    .tooltip(tooltip());
  if (p.stack) b.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  return b;
}

function statPanel(
  p: PanelSpec & {
    thresholds: dashboard.ThresholdsConfigBuilder;
    mappings?: dashboard.ValueMapping[];
    noValue?: string;
  },
): stat.PanelBuilder {
  const b = new stat.PanelBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(DATASOURCE)
    .targets(refIds(p.queries.map((q) => ({ ...q, instant: true }))))
    .unit(p.unit ?? 'short')
    .span(p.w ?? 4)
    .height(p.h ?? 4)
    .thresholds(p.thresholds)
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .textMode(common.BigValueTextMode.Auto)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false));
  if (p.mappings) b.mappings(p.mappings);
  // Only where no series means zero; elsewhere "No data" must stay visible (a broken scrape is not 0).
  if (p.noValue !== undefined) b.noValue(p.noValue);
  return b;
}

/** Value mappings for a 0/1 column. */
function yesNo(yes: string, no: string): dashboard.ValueMapping[] {
  return [
    {
      type: dashboard.MappingType.ValueToText,
      options: { '0': { text: 'no', color: no, index: 0 }, '1': { text: 'yes', color: yes, index: 1 } },
    },
  ];
}

/** A table cell coloured by its mapping or thresholds. */
const COLOR_TEXT: dashboard.DynamicConfigValue = { id: 'custom.cellOptions', value: { type: 'color-text' } };

interface TableSpec extends PanelSpec {
  /** Column order and headers (field name -> header); Time, and Value unless named, are hidden. */
  columns: Record<string, string>;
  /** Per-field settings (Grafana field config ids such as unit, mappings, custom.cellOptions). */
  fields?: Record<string, dashboard.DynamicConfigValue[]>;
}

function tablePanel(p: TableSpec): table.PanelBuilder {
  const b = new table.PanelBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(DATASOURCE)
    .targets(refIds(p.queries.map((q) => ({ ...q, table: true }))))
    .span(p.w ?? 8)
    .height(p.h ?? 8)
    .noValue('none')
    .transformations([
      { id: 'merge', options: {} },
      {
        id: 'organize',
        options: {
          excludeByName: { Time: true, ...(p.columns.Value ? {} : { Value: true }) },
          indexByName: Object.fromEntries(Object.keys(p.columns).map((f, i) => [f, i])),
          renameByName: p.columns,
        },
      },
    ]);
  for (const [field, config] of Object.entries(p.fields ?? {})) b.overrideByName(field, config);
  return b;
}

const row = (title: string) => new dashboard.RowBuilder(title);

type Panel = timeseries.PanelBuilder | stat.PanelBuilder | table.PanelBuilder | statetimeline.PanelBuilder;

/** One row of the dashboard and the panels under it. */
interface Section {
  row: dashboard.RowBuilder;
  panels: Panel[];
}

function policies(): Section {
  const byState = `sum by (state) (max by (policy, state) (${policySel(`${P}policy_state`)}))`;
  const stateOverrides = (b: stat.PanelBuilder | timeseries.PanelBuilder) => {
    for (const [state, color] of Object.entries(STATE_COLORS))
      b.overrideByName(state, [{ id: 'color', value: { mode: 'fixed', fixedColor: color } }]);
    return b;
  };
  return {
    row: row('Policies'),
    panels: [
      stateOverrides(
        statPanel({
          title: 'Policies by state',
          description:
            'How many policies are in each state now (ready, reconciling, stalled, suspended, inactive). ' +
            'Healthy: everything ready (or deliberately suspended/inactive); any stalled policy needs a look ' +
            '(see "Stalled policies").',
          queries: [{ expr: byState, legend: '{{state}}' }],
          thresholds: thresholds('green'),
          w: 8,
          h: 6,
        }).colorMode(common.BigValueColorMode.Value),
      ),
      stateOverrides(
        timeSeries({
          title: 'Policies by state over time',
          description:
            'The same counts over time, stacked. A band of reconciling that never turns ready, or a ' +
            'growing stalled band, shows when a problem started.',
          queries: [{ expr: byState, legend: '{{state}}' }],
          stack: true,
          w: 8,
          h: 6,
        }),
      ),
      tablePanel({
        title: 'Stalled policies',
        description:
          'Policies stalled now and why (the Stalled condition reason, e.g. Refused when the API server ' +
          'refused a write the operator lacks rights for). kubectl describe impersonationpolicy <name> ' +
          'shows the message.',
        queries: [
          {
            expr: `max by (policy, reason) (${policySel(`${P}policy_stalled_reason`)}) == 1`,
          },
        ],
        columns: { policy: 'Policy', reason: 'Reason' },
        w: 8,
        h: 6,
      }),
      tablePanel({
        title: 'Per-policy findings',
        description:
          'One row per policy: whether it is Ready, role names held back by collisions, ' +
          'entries refused by the operator configuration, whether it lets impersonators become any user, ' +
          'and the time left until its grants expire (policies with a lifetime). Sort by a column to find ' +
          'the worst.',
        queries: [
          { expr: `max by (policy) (${policySel(`${P}policy_state`, 'state="ready"')})` },
          { expr: `max by (policy) (${policySel(`${P}policy_collisions`)})` },
          { expr: `max by (policy) (${policySel(`${P}policy_denied_entries`)})` },
          { expr: `max by (policy) (${policySel(`${P}policy_any_user`)})` },
          { expr: `max by (policy) (${policySel(`${P}policy_valid_until_timestamp_seconds`)}) - time()` },
        ],
        columns: {
          policy: 'Policy',
          'Value #A': 'Ready',
          'Value #B': 'Collisions',
          'Value #C': 'Denied entries',
          'Value #D': 'Any user',
          'Value #E': 'Expires in',
        },
        fields: {
          'Value #A': [{ id: 'mappings', value: yesNo('green', 'red') }, COLOR_TEXT],
          'Value #B': [{ id: 'thresholds', value: thresholds('green', [1, 'red']).build() }, COLOR_TEXT],
          'Value #C': [{ id: 'thresholds', value: thresholds('green', [1, 'red']).build() }, COLOR_TEXT],
          'Value #D': [{ id: 'mappings', value: yesNo('orange', 'green') }, COLOR_TEXT],
          'Value #E': [{ id: 'unit', value: 's' }],
        },
        w: 24,
        h: 8,
      }),
    ],
  };
}

function findings(): Section {
  const alarm = thresholds('green', [1, 'red']);
  return {
    row: row('Collisions and denials'),
    panels: [
      statPanel({
        title: 'Collisions',
        description:
          'Role names held back, over all policies, because two names collide after normalization ' +
          "('SRE On Call' and 'sre-on-call'). Should be 0; the per-policy panel names the policies.",
        queries: [{ expr: `max(${sel(`${P}collisions`)})` }],
        thresholds: alarm,
        h: 8,
      }),
      statPanel({
        title: 'Denied entries',
        description:
          'Policy entries refused by the operator configuration (deny list, system: identities), over all ' +
          'policies. Should be 0: each one is access someone asked for and did not get.',
        queries: [{ expr: `max(${sel(`${P}denied_entries`)})` }],
        thresholds: alarm,
        h: 8,
      }),
      statPanel({
        title: 'Any-user policies',
        description:
          'Policies in force that let their impersonators become ANY user name (allowAnyUser). Expected ' +
          'only where you decided so; anything else is a finding.',
        queries: [{ expr: `sum(max by (policy) (${policySel(`${P}policy_any_user`)}))` }],
        thresholds: thresholds('green', [1, 'orange']),
        noValue: '0',
        h: 8,
      }),
      timeSeries({
        title: 'Collisions per policy',
        description: 'Collisions by policy over time; only policies with at least one are drawn.',
        queries: [
          { expr: `max by (policy) (${policySel(`${P}policy_collisions`)}) > 0`, legend: '{{policy}}' },
        ],
        w: 6,
        h: 8,
      }),
      timeSeries({
        title: 'Denied entries per policy',
        description: 'Denied entries by policy over time; only policies with at least one are drawn.',
        queries: [
          { expr: `max by (policy) (${policySel(`${P}policy_denied_entries`)}) > 0`, legend: '{{policy}}' },
        ],
        w: 6,
        h: 8,
      }),
    ],
  };
}

function reconciles(): Section {
  const total = `${P}reconcile_total`;
  return {
    row: row('Reconciles'),
    panels: [
      timeSeries({
        title: 'Reconcile rate by result',
        description:
          'Reconciles per second by result: success, requeue (asked to come back later) and error. Only the ' +
          'leader reconciles. Steady small rates at rest come from resyncs; error should stay at 0.',
        queries: [{ expr: `sum by (result) (rate(${sel(total)}${RATE}))`, legend: '{{result}}' }],
        unit: 'ops',
        stack: true,
      }),
      timeSeries({
        title: 'Reconcile errors and retries',
        description:
          'Failed reconciles per second and keys put back on the work queue with backoff. A sustained ' +
          'non-zero line means a policy keeps failing: the operator logs and the policy Events say why.',
        queries: [
          { expr: `sum(rate(${sel(total, 'result="error"')}${RATE}))`, legend: 'errors' },
          { expr: `sum(rate(${sel(`${P}workqueue_retries_total`)}${RATE}))`, legend: 'retries' },
        ],
        unit: 'ops',
      }),
      timeSeries({
        title: 'Reconcile duration',
        description:
          'Time one reconcile takes (p50, p90, p99, all results). Higher p99 with a stable p50 usually ' +
          'means slow API responses (see "API latency").',
        queries: [0.5, 0.9, 0.99].map((q) => ({
          expr: quantile(q, `${P}reconcile_duration_seconds`),
          legend: `p${q * 100}`,
        })),
        unit: 's',
      }),
    ],
  };
}

function queue(): Section {
  return {
    row: row('Work queue'),
    panels: [
      timeSeries({
        title: 'Queue depth and adds',
        description:
          'Keys waiting for a worker (depth) and keys added per second. Depth should return to 0 between ' +
          'bursts; a depth that stays up means the workers cannot keep up (raise operator.workers).',
        queries: [
          { expr: `sum(${sel(`${P}workqueue_depth`)})`, legend: 'depth' },
          { expr: `sum(rate(${sel(`${P}workqueue_adds_total`)}${RATE}))`, legend: 'adds/s' },
        ],
      }),
      timeSeries({
        title: 'Queue latency',
        description:
          'Time from a key being queued until a worker takes it (p50, p99). Grows when the queue is deep ' +
          'or keys wait on backoff.',
        queries: [0.5, 0.99].map((q) => ({
          expr: quantile(q, `${P}workqueue_queue_duration_seconds`),
          legend: `p${q * 100}`,
        })),
        unit: 's',
      }),
      timeSeries({
        title: 'Work duration',
        description: 'Time a worker holds a key, reconcile included (p50, p99).',
        queries: [0.5, 0.99].map((q) => ({
          expr: quantile(q, `${P}workqueue_work_duration_seconds`),
          legend: `p${q * 100}`,
        })),
        unit: 's',
      }),
    ],
  };
}

function api(): Section {
  const requests = `${P}api_requests_total`;
  return {
    row: row('Kubernetes API'),
    panels: [
      timeSeries({
        title: 'API requests by verb and code',
        description:
          'Requests to the API server per second, by verb and HTTP code. At rest mostly watch traffic; ' +
          'bursts follow policy changes. 409s are conflicts (Lease contention, write preconditions), retried.',
        queries: [
          { expr: `sum by (verb, code) (rate(${sel(requests)}${RATE}))`, legend: '{{verb}} {{code}}' },
        ],
        unit: 'reqps',
      }),
      timeSeries({
        title: 'API errors by resource',
        description:
          'Requests that did not succeed (code not 2xx; 0 means no response at all), by verb, resource and ' +
          'code. 403 on RBAC kinds means the operator lacks a grant; 0 means the API server is unreachable.',
        queries: [
          {
            expr: `sum by (verb, resource, code) (rate(${sel(requests, 'code!~"2.."')}${RATE}))`,
            legend: '{{verb}} {{resource}} {{code}}',
          },
        ],
        unit: 'reqps',
      }),
      timeSeries({
        title: 'API latency',
        description: 'API request latency until response headers, p99 and p50 by verb.',
        queries: [0.99, 0.5].map((q) => ({
          expr: quantile(q, `${P}api_request_duration_seconds`, ['verb']),
          legend: `p${q * 100} {{verb}}`,
        })),
        unit: 's',
      }),
    ],
  };
}

function informers(): Section {
  return {
    row: row('Informers'),
    panels: [
      timeSeries({
        title: 'Informer lists',
        description:
          'Full lists per informer: one at start, then one per relist. Lists beyond the first mean the ' +
          'watch could not resume (410 Expired) and the cache was rebuilt.',
        queries: [
          {
            expr: `sum by (informer) (increase(${sel(`${P}informer_lists_total`)}${RATE}))`,
            legend: '{{informer}}',
          },
        ],
      }),
      timeSeries({
        title: 'Watch restarts',
        description:
          'Watch restarts by informer and reason: closed (normal server timeouts, a steady trickle), ' +
          'expired (410, followed by a relist) and error. Repeated errors mean the API server connection ' +
          'is unhealthy.',
        queries: [
          {
            expr: `sum by (informer, reason) (increase(${sel(`${P}informer_watch_restarts_total`)}${RATE}))`,
            legend: '{{informer}} {{reason}}',
          },
        ],
      }),
      timeSeries({
        title: 'Cached and managed objects',
        description:
          'Objects in each informer cache, and objects the operator manages by kind (max over replicas). ' +
          'Memory follows these counts.',
        queries: [
          { expr: `max by (informer) (${sel(`${P}informer_cache_objects`)})`, legend: 'cache {{informer}}' },
          { expr: `max by (kind) (${sel(`${P}managed_objects`)})`, legend: 'managed {{kind}}' },
        ],
      }),
    ],
  };
}

function leadership(): Section {
  return {
    row: row('Leadership'),
    panels: [
      statPanel({
        title: 'Replicas leading',
        description:
          'Replicas that hold the leader Lease now. 1 is healthy; 0 means nothing reconciles (a failover ' +
          'takes about 15s); more than 1 means leader election is off with several replicas.',
        queries: [{ expr: `sum(${sel(`${P}leader`)})` }],
        thresholds: thresholds('red', [1, 'green'], [2, 'red']),
        w: 4,
        h: 6,
      }),
      new statetimeline.PanelBuilder()
        .title('Leader by replica')
        .description(
          'Which replica (pod and instance) held the Lease over time: 1 leading, 0 standing by. A handover ' +
            'shows as the bar moving to another pod; frequent moves mean the leader keeps losing its Lease.',
        )
        .datasource(DATASOURCE)
        .targets(
          refIds([{ expr: `max by (pod, instance) (${sel(`${P}leader`)})`, legend: '{{pod}} {{instance}}' }]),
        )
        .span(20)
        .height(6)
        .showValue(common.VisibilityMode.Never)
        .mergeValues(true)
        .legend(legend())
        .thresholds(thresholds('text', [1, 'green']))
        .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
        .mappings([
          {
            type: dashboard.MappingType.ValueToText,
            options: { '0': { text: 'standby', index: 0 }, '1': { text: 'leader', index: 1 } },
          },
        ]),
    ],
  };
}

function resources(): Section {
  return {
    row: row('Resources'),
    panels: [
      timeSeries({
        title: 'Memory',
        description:
          'Resident memory per replica (compare with the container limit, 384Mi by default), and the ' +
          'V8 heap used and allocated. RSS that grows while the heap stays flat points at native memory.',
        queries: [
          { expr: `sum by (instance) (${sel('process_resident_memory_bytes')})`, legend: 'rss {{instance}}' },
          {
            expr: `sum by (instance) (${sel('nodejs_heap_size_used_bytes')})`,
            legend: 'heap used {{instance}}',
          },
          {
            expr: `sum by (instance) (${sel('nodejs_heap_size_total_bytes')})`,
            legend: 'heap total {{instance}}',
          },
        ],
        unit: 'bytes',
      }),
      timeSeries({
        title: 'CPU',
        description:
          'CPU used per replica, in cores (1 = one full core). The leader does the work; standbys stay near 0.',
        queries: [
          {
            expr: `sum by (instance) (rate(${sel('process_cpu_seconds_total')}${RATE}))`,
            legend: '{{instance}}',
          },
        ],
        unit: 'short',
      }),
      timeSeries({
        title: 'Event loop lag',
        description:
          'Node.js event loop lag per replica (p99). Above a few tens of milliseconds everything the ' +
          'process does, probes included, is delayed.',
        queries: [
          { expr: `max by (instance) (${sel('nodejs_eventloop_lag_p99_seconds')})`, legend: '{{instance}}' },
        ],
        unit: 's',
      }),
    ],
  };
}

function queryVariable(name: string, label: string, query: string, description: string) {
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .description(description)
    .datasource(DATASOURCE)
    .query({ qryType: 1, query, refId: 'PrometheusVariableQueryEditor-VariableQuery' })
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .includeAll(true)
    .multi(true)
    .allValue('.*')
    .current({ selected: true, text: 'All', value: '$__all' });
}

/** Builds the dashboard (plain JSON, keys in builder order). */
export function buildDashboard(): dashboard.Dashboard {
  const b = new dashboard.DashboardBuilder('Impersonation operator')
    .uid(DASHBOARD_UID)
    .id(null)
    .description(
      'Policies, findings, reconciles, work queue, API traffic, informers, leadership and resources.',
    )
    .tags(['impersonation-operator', 'kubernetes', 'rbac'])
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .time({ from: 'now-6h', to: 'now' })
    .refresh('30s')
    .timezone('browser')
    .withVariable(
      new dashboard.DatasourceVariableBuilder('datasource')
        .label('Data source')
        .type('prometheus')
        .current({ text: 'default', value: 'default' }),
    )
    .withVariable(
      queryVariable(
        'job',
        'Job',
        `label_values(${P}leader, job)`,
        'Scrape job(s) of the operator (every replica exports impersonation_operator_leader).',
      ),
    )
    .withVariable(
      queryVariable(
        'namespace',
        'Namespace',
        `label_values(${P}leader{job=~"$job"}, namespace)`,
        'Namespace(s) the operator runs in (the namespace label added by the scrape configuration).',
      ),
    )
    .withVariable(
      queryVariable(
        'policy',
        'Policy',
        `label_values(${P}policy_state{job=~"$job",namespace=~"$namespace"}, policy)`,
        'ImpersonationPolicies shown in the per-policy panels.',
      ),
    );
  let id = 1;
  for (const section of [
    policies(),
    findings(),
    reconciles(),
    queue(),
    api(),
    informers(),
    leadership(),
    resources(),
  ]) {
    b.withRow(section.row.id(id++));
    for (const panel of section.panels) b.withPanel(panel.id(id++));
  }
  return b.build();
}

/** Object keys sorted at every level, so the file does not depend on the builder's insertion order. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  return value;
}

/** The dashboard file's exact text: sorted keys, two-space indent, final newline, no timestamps. */
export function renderDashboard(): string {
  return `${JSON.stringify(sortKeys(buildDashboard()), null, 2)}\n`;
}
