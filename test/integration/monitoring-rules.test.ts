// The alert rules under promtool: `check rules` (syntax, templates) and `test rules` with synthetic
// series, for every alert a case where it fires (with the labels and rendered annotations expected)
// and one where it stays silent.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALERTS,
  alertingRule,
  DEFAULT_JOB,
  DEFAULT_PARAMS,
  RULES_FILE,
} from '../../src/monitoring/alerts.js';
import { repoRoot } from '../harness/controlplane.js';
import { promtool } from '../harness/prometheus.js';

const rulesFile = join(repoRoot, RULES_FILE);
const J = `job="${DEFAULT_JOB}"`;

interface Case {
  alert: string;
  name: string;
  /** promtool series notation: `'metric{labels}': 'values'`. */
  series: Record<string, string>;
  at: string;
  /** Labels of each alert expected to fire (besides alertname and severity); [] = silent. */
  fires: Record<string, string>[];
}

const CASES: Case[] = [
  {
    alert: 'ImpersonationPolicyStalled',
    name: 'stalled longer than stalledFor, with its reason',
    series: {
      [`impersonation_operator_policy_stalled_reason{${J},instance="op-0",policy="p",reason="Collision"}`]:
        '1x30',
    },
    at: '16m',
    fires: [{ policy: 'p', reason: 'Collision' }],
  },
  {
    alert: 'ImpersonationPolicyStalled',
    name: 'stalled for less than stalledFor, or scraped under another job',
    series: {
      [`impersonation_operator_policy_stalled_reason{${J},policy="p",reason="Denied"}`]: '1x30',
      'impersonation_operator_policy_stalled_reason{job="other",policy="q",reason="Denied"}': '1x30',
    },
    at: '12m',
    fires: [],
  },
  {
    alert: 'ImpersonationPolicyStalled',
    name: 'another job is never selected',
    series: {
      'impersonation_operator_policy_stalled_reason{job="other",policy="q",reason="Denied"}': '1x30',
    },
    at: '20m',
    fires: [],
  },
  {
    alert: 'ImpersonationPolicyCollision',
    name: 'collisions present (one alert per policy that has them)',
    series: {
      [`impersonation_operator_policy_collisions{${J},instance="op-0",policy="p"}`]: '2x20',
      [`impersonation_operator_policy_collisions{${J},instance="op-0",policy="q"}`]: '0x20',
    },
    at: '6m',
    fires: [{ policy: 'p' }],
  },
  {
    alert: 'ImpersonationPolicyCollision',
    name: 'no collisions',
    series: { [`impersonation_operator_policy_collisions{${J},policy="q"}`]: '0x20' },
    at: '10m',
    fires: [],
  },
  {
    alert: 'ImpersonationPolicyDeniedEntries',
    name: 'denied entries present',
    series: { [`impersonation_operator_policy_denied_entries{${J},instance="op-0",policy="p"}`]: '1x20' },
    at: '11m',
    fires: [{ policy: 'p' }],
  },
  {
    alert: 'ImpersonationPolicyDeniedEntries',
    name: 'denied entries gone again before deniedEntriesFor',
    series: { [`impersonation_operator_policy_denied_entries{${J},policy="p"}`]: '1x5 0x15' },
    at: '15m',
    fires: [],
  },
  {
    alert: 'ImpersonationOperatorReconcileErrors',
    name: 'an error every minute for half an hour',
    series: { [`impersonation_operator_reconcile_total{${J},instance="op-0",result="error"}`]: '0+1x30' },
    at: '25m',
    fires: [{ instance: 'op-0' }],
  },
  {
    alert: 'ImpersonationOperatorReconcileErrors',
    name: 'errors that stopped, and successes',
    series: {
      [`impersonation_operator_reconcile_total{${J},instance="op-0",result="error"}`]: '0+1x10 10x20',
      [`impersonation_operator_reconcile_total{${J},instance="op-0",result="success"}`]: '0+50x30',
    },
    at: '30m',
    fires: [],
  },
  {
    alert: 'ImpersonationOperatorNoLeader',
    name: 'both replicas standing by',
    series: {
      [`impersonation_operator_leader{${J},instance="op-0"}`]: '0x10',
      [`impersonation_operator_leader{${J},instance="op-1"}`]: '0x10',
    },
    at: '6m',
    fires: [{}],
  },
  {
    alert: 'ImpersonationOperatorNoLeader',
    name: 'one replica leading',
    series: {
      [`impersonation_operator_leader{${J},instance="op-0"}`]: '0x10',
      [`impersonation_operator_leader{${J},instance="op-1"}`]: '1x10',
    },
    at: '6m',
    fires: [],
  },
  {
    alert: 'ImpersonationOperatorDown',
    name: 'the only target down',
    series: { [`up{${J},instance="op-0"}`]: '0x10' },
    at: '6m',
    fires: [{}],
  },
  {
    alert: 'ImpersonationOperatorDown',
    name: 'not scraped at all (only other jobs)',
    series: { 'up{job="other",instance="x"}': '1x10' },
    at: '6m',
    fires: [{}],
  },
  {
    alert: 'ImpersonationOperatorDown',
    name: 'one of two targets up',
    series: { [`up{${J},instance="op-0"}`]: '0x10', [`up{${J},instance="op-1"}`]: '1x10' },
    at: '6m',
    fires: [],
  },
  {
    alert: 'ImpersonationOperatorWatchRestarts',
    name: 'a watch failing every minute',
    series: {
      [`impersonation_operator_informer_watch_restarts_total{${J},instance="op-0",informer="clusterroles",reason="error"}`]:
        '0+1x30',
    },
    at: '20m',
    fires: [{ instance: 'op-0', informer: 'clusterroles' }],
  },
  {
    alert: 'ImpersonationOperatorWatchRestarts',
    name: "the server's normal timeouts, and a single 410",
    series: {
      [`impersonation_operator_informer_watch_restarts_total{${J},instance="op-0",informer="clusterroles",reason="closed"}`]:
        '0+1x30',
      [`impersonation_operator_informer_watch_restarts_total{${J},instance="op-0",informer="roles",reason="expired"}`]:
        '0x10 1x20',
    },
    at: '20m',
    fires: [],
  },
  {
    alert: 'ImpersonationPolicyAnyUserInForce',
    name: 'any-user in force',
    series: {
      [`impersonation_operator_policy_any_user{${J},instance="op-0",policy="proxy"}`]: '1x10',
      [`impersonation_operator_policy_any_user{${J},instance="op-0",policy="q"}`]: '0x10',
    },
    at: '3m',
    fires: [{ policy: 'proxy' }],
  },
  {
    alert: 'ImpersonationPolicyAnyUserInForce',
    name: 'no any-user policy',
    series: { [`impersonation_operator_policy_any_user{${J},policy="q"}`]: '0x10' },
    at: '5m',
    fires: [],
  },
  {
    // At 10m, time() is 600: p ends in a day; q in ten days; r ended; s ends in a day but is suspended.
    alert: 'ImpersonationPolicyGrantExpiringSoon',
    name: 'a grant ending within the threshold',
    series: {
      [`impersonation_operator_policy_valid_until_timestamp_seconds{${J},instance="op-0",policy="p"}`]:
        '87000x20',
      [`impersonation_operator_policy_valid_until_timestamp_seconds{${J},policy="q"}`]: '864600x20',
      [`impersonation_operator_policy_valid_until_timestamp_seconds{${J},policy="r"}`]: '100x20',
    },
    at: '10m',
    fires: [{ policy: 'p' }],
  },
  {
    alert: 'ImpersonationPolicyGrantExpiringSoon',
    name: 'suspended, far away, or already over',
    series: {
      [`impersonation_operator_policy_valid_until_timestamp_seconds{${J},policy="s"}`]: '87000x20',
      [`impersonation_operator_policy_state{${J},policy="s",state="suspended"}`]: '1x20',
      [`impersonation_operator_policy_state{${J},policy="s",state="ready"}`]: '0x20',
      [`impersonation_operator_policy_valid_until_timestamp_seconds{${J},policy="q"}`]: '864600x20',
      [`impersonation_operator_policy_valid_until_timestamp_seconds{${J},policy="r"}`]: '100x20',
    },
    at: '10m',
    fires: [],
  },
];

/** Prometheus's rendering of our templates: only `{{ $labels.x }}` is used. */
const expand = (text: string, labels: Record<string, string>): string =>
  text.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, name: string) => labels[name] ?? '');

function promtoolTests(cases: readonly Case[]): unknown {
  return {
    rule_files: [rulesFile],
    evaluation_interval: '1m',
    tests: cases.map((c) => {
      const rule = alertingRule(
        ALERTS.find((a) => a.alert === c.alert)!,
        DEFAULT_PARAMS,
      );
      return {
        name: `${c.alert}: ${c.name}`,
        interval: '1m',
        input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
        alert_rule_test: [
          {
            eval_time: c.at,
            alertname: c.alert,
            exp_alerts: c.fires.map((labels) => ({
              exp_labels: { ...labels, ...rule.labels },
              exp_annotations: Object.fromEntries(
                Object.entries(rule.annotations).map(([k, v]) => [k, expand(v, labels)]),
              ),
            })),
          },
        ],
      };
    }),
  };
}

describe('alert rules under promtool', () => {
  const dirs: string[] = [];
  const tmp = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'impop-promtool-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('promtool check rules accepts the rules file', async () => {
    const r = await promtool(['check', 'rules', rulesFile]);
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({
      code: 0,
      out: expect.stringContaining(`SUCCESS: ${ALERTS.length} rules found`),
    });
  });

  it('every alert has a case where it fires and one where it stays silent', () => {
    for (const a of ALERTS) {
      const cases = CASES.filter((c) => c.alert === a.alert);
      expect({ alert: a.alert, fires: cases.some((c) => c.fires.length > 0) }).toEqual({
        alert: a.alert,
        fires: true,
      });
      expect({ alert: a.alert, silent: cases.some((c) => c.fires.length === 0) }).toEqual({
        alert: a.alert,
        silent: true,
      });
    }
  });

  it('promtool test rules: each alert fires when it should (labels, annotations) and stays silent otherwise', async () => {
    const dir = await tmp();
    const file = join(dir, 'alerts.test.yaml');
    await writeFile(file, JSON.stringify(promtoolTests(CASES), null, 2));
    const r = await promtool(['test', 'rules', file]);
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({
      code: 0,
      out: expect.stringContaining('SUCCESS'),
    });
  });

  it('promtool test rules can fail: a case expecting silence where the alert fires is reported', async () => {
    const dir = await tmp();
    const file = join(dir, 'wrong.test.yaml');
    const firing = CASES.find((c) => c.alert === 'ImpersonationPolicyCollision' && c.fires.length > 0)!;
    await writeFile(file, JSON.stringify(promtoolTests([{ ...firing, fires: [] }]), null, 2));
    const r = await promtool(['test', 'rules', file]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('ImpersonationPolicyCollision');
  });
});
