// The CLI and spec.validFrom/validUntil/suspend/groupPrefix (issue 12): check warns (not errors) for a
// policy not in force at --at, render applies nothing for it, and audit --policies reports
// impersonations outside a policy's window.
import { describe, expect, it } from '@jest/globals';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import type { AuditReport } from '../../../src/cli/audit.js';
import type { CheckReport } from '../../../src/cli/check.js';
import { main } from '../../../src/cli/kubectl-impersonation.js';
import { capture } from './capture.js';

const auditLog = join(import.meta.dirname, '../../fixtures/audit/basic.jsonl');

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = capture();
  const code = await main(args, c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

async function policyFile(extra: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'impop-lifetime-'));
  const file = join(dir, 'policy.yaml');
  await writeFile(
    file,
    `apiVersion: impersonation-operator.io/v1alpha1
kind: ImpersonationPolicy
metadata:
  name: break-glass
spec:
  impersonators:
    - kind: User
      name: proxy
  targets:
    users: [alice@example.com]
  roles:
    - name: SRE On Call
      clusterRoles: [view]
${extra}`,
  );
  return file;
}

const WINDOW = "  validFrom: '2026-12-24T08:00:00Z'\n  validUntil: '2026-12-24T18:00:00Z'\n";

describe('check and lifetime', () => {
  it.each([
    {
      at: '2026-12-24T07:59:59Z',
      state: 'NotYetValid',
      field: 'spec.validFrom',
      next: '2026-12-24T08:00:00Z',
    },
    { at: '2026-12-24T08:00:00Z', state: 'Active', field: undefined, next: '2026-12-24T18:00:00Z' },
    { at: '2026-12-24T18:00:00Z', state: 'Expired', field: 'spec.validUntil', next: undefined },
  ])('at $at: $state, a warning only outside the window (exit 0)', async ({ at, state, field, next }) => {
    const r = await run(['check', await policyFile(WINDOW), '--at', at, '-o', 'json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as CheckReport;
    expect(report.policies[0]).toMatchObject({ lifetime: state });
    expect(report.policies[0]?.nextLifetimeChange).toBe(next);
    const notInForce = report.findings.filter((f) => f.code === 'NotInForce');
    expect(notInForce.map((f) => [f.severity, f.reason, f.field])).toEqual(
      field === undefined ? [] : [['warning', state, field]],
    );
  });

  it('reports a suspended policy and the prefixed role group', async () => {
    const r = await run([
      'check',
      await policyFile("  suspend: true\n  groupPrefix: 'sdm:'\n"),
      '-o',
      'json',
    ]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as CheckReport;
    expect(report.policies[0]?.lifetime).toBe('Suspended');
    expect(report.policies[0]?.roleGroups).toEqual([
      { role: 'SRE On Call', group: 'sdm:sre-on-call', clusterRoles: ['view'] },
    ]);
    expect(report.findings.map((f) => f.code)).toEqual(['NotInForce']);
  });

  it('refuses a prefix that makes a system: group, as the operator does', async () => {
    const r = await run(['check', await policyFile("  groupPrefix: 'sdm:'\n"), '-o', 'json']);
    expect(r.code).toBe(0);
    const bad = await policyFile('  groupNameNormalization: Verbatim\n');
    const text = (await import('node:fs/promises')).readFile;
    const yaml =
      (await text(bad, 'utf8')).replace('SRE On Call', 'ystem:authenticated') + "  groupPrefix: 's'\n";
    await writeFile(bad, yaml);
    const denied = await run(['check', bad, '-o', 'json']);
    expect(denied.code).toBe(1);
    expect((JSON.parse(denied.stdout) as CheckReport).findings).toEqual([
      expect.objectContaining({ code: 'Denied', reason: 'SystemBindingSubject' }),
    ]);
  });

  it('refuses a bad --at', async () => {
    const r = await run(['check', await policyFile(WINDOW), '--at', 'tomorrow']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--at takes an RFC 3339 time');
  });
});

describe('render and lifetime', () => {
  it('renders the objects inside the window, none outside, saying why', async () => {
    const file = await policyFile(WINDOW);
    const inside = await run(['render', file, '--at', '2026-12-24T12:00:00Z']);
    const outside = await run(['render', file, '--at', '2026-12-24T18:00:00Z']);
    expect(inside.code).toBe(0);
    expect(outside.code).toBe(0);
    const objects = (text: string) => loadAll(text).filter((d) => d !== null && d !== undefined);
    expect(objects(inside.stdout).length).toBe(3);
    expect(inside.stdout).toContain('#   lifetime: In force until 2026-12-24T18:00:00Z (spec.validUntil).');
    expect(objects(outside.stdout)).toEqual([]);
    expect(outside.stdout).toContain(
      '#   lifetime: Expired at 2026-12-24T18:00:00Z (spec.validUntil): nothing the policy grants exists any more. While in force: 3 object(s).',
    );
    const json = await run(['render', file, '--at', '2026-12-24T07:00:00Z', '-o', 'json']);
    expect((JSON.parse(json.stdout) as { items: unknown[] }).items).toEqual([]);
  });

  it('binds the prefixed group', async () => {
    const r = await run(['render', await policyFile("  groupPrefix: 'sdm:'\n"), '-o', 'json']);
    const items = (JSON.parse(r.stdout) as { items: { kind: string; subjects?: { name: string }[] }[] })
      .items;
    const binding = items.find(
      (o) => o.kind === 'ClusterRoleBinding' && o.subjects?.[0]?.name.startsWith('sdm:'),
    );
    expect(binding?.subjects).toEqual([
      { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'sdm:sre-on-call' },
    ]);
  });
});

describe('audit --policies and lifetime', () => {
  // The log's proxy requests as alice (groups sre-on-call): 5, from 10:00:01 to 10:00:09.
  it.each([
    {
      name: 'a window covering the log: everything allowed',
      extra: "  validUntil: '2026-01-05T11:00:00Z'\n",
      outside: [],
    },
    {
      name: 'a window ending at 10:00:05: the later requests are outside it',
      extra: "  validUntil: '2026-01-05T10:00:05Z'\n",
      outside: [['alice@example.com', 2, ['break-glass']]],
    },
    {
      name: 'suspended: every request is outside it',
      extra: '  suspend: true\n',
      outside: [['alice@example.com', 5, ['break-glass']]],
    },
  ])('$name', async ({ extra, outside }) => {
    const r = await run(['audit', auditLog, '--policies', await policyFile(extra), '-o', 'json']);
    const report = JSON.parse(r.stdout) as AuditReport;
    const flagged = (report.policies?.notAllowed ?? [])
      .filter((n) => n.outsideWindow !== undefined)
      .map((n) => [n.target.username, n.requests, n.outsideWindow]);
    expect(flagged).toEqual(outside);
    if (outside.length > 0) {
      const text = await run(['audit', auditLog, '--policies', await policyFile(extra)]);
      expect(text.stdout).toContain('(outside the window of break-glass)');
    }
  });
});
