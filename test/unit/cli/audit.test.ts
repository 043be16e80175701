import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runAudit, type AuditReport } from '../../../src/cli/audit.js';
import { main } from '../../../src/cli/kubectl-impersonation.js';
import { capture } from './capture.js';

const fixture = (name: string): string => join(import.meta.dirname, '../../fixtures/audit', name);

describe('audit command', () => {
  it('summarizes the fixture as JSON, each request once', async () => {
    const c = capture();
    expect(await runAudit([fixture('basic.jsonl'), '--output', 'json'], c.io)).toBe(0);
    const report = JSON.parse(c.stdout()) as AuditReport;
    expect(report.summary).toMatchObject({
      requests: 7,
      allowed: 6,
      forbidden: 1,
      unknown: 0,
      timeRange: { first: '2026-01-05T10:00:01.002000Z', last: '2026-01-05T10:00:11.000000Z' },
    });
    expect(report.summary.impersonators.map((i) => [i.impersonator, i.requests])).toEqual([
      ['proxy', 6],
      ['system:serviceaccount:kube-system:cicd-agent', 1],
    ]);
    const alice = report.summary.impersonators[0]?.targets[0];
    expect(alice?.target.username).toBe('alice@example.com');
    expect(alice?.actions.map((a) => `${a.verb} ${a.resource} ${a.requests}`)).toEqual([
      'list pods 2',
      'delete secrets 1',
      'get pods/log 1',
      'watch pods 1',
    ]);
    expect(
      report.summary.refused.map((r) => `${r.impersonator} ${r.attempted.resource}/${r.attempted.name}`),
    ).toEqual([
      'intruder users/alice@example.com',
      'proxy groups/ops',
      'system:serviceaccount:kube-system:cicd-agent serviceaccounts/deployer',
    ]);
    expect(report.malformedLines).toEqual([
      { path: fixture('basic.jsonl'), line: 12, error: expect.any(String) },
    ]);
  });

  it('prints the same summary from gzipped stdin, in text', async () => {
    const c = capture(await readFile(fixture('basic.jsonl.gz')));
    expect(await runAudit(['-', '--top', '1'], c.io)).toBe(0);
    const out = c.stdout();
    expect(out).toContain('Impersonated requests: 7 requests (6 allowed, 1 forbidden)');
    expect(out).toContain('  as alice@example.com  groups: sre-on-call, system:authenticated');
    expect(out).toContain('... 3 more (--top 0 lists all)');
    expect(out).toMatch(/intruder +users +alice@example.com/);
    expect(out).toContain('-:12:');
  });

  it('shows progress only on a terminal, and clears it', async () => {
    const tty = capture('', { tty: true });
    await runAudit([fixture('basic.jsonl')], tty.io);
    const progress = tty.stderr();
    expect(progress.startsWith('\r\x1b[Kaudit: ')).toBe(true);
    expect(progress).toContain('basic.jsonl 100%');
    expect(progress.endsWith('\r\x1b[K')).toBe(true);
    const quiet = capture('', { tty: true });
    await runAudit([fixture('basic.jsonl'), '--no-progress'], quiet.io);
    expect(quiet.stderr()).toBe('');
    const pipe = capture();
    await runAudit([fixture('basic.jsonl')], pipe.io);
    expect(pipe.stderr()).toBe('');
  });

  it.each([
    { policies: 'proxy.yaml', code: 0, notAllowed: [] },
    {
      policies: 'collisions.yaml',
      code: 1,
      notAllowed: [
        'proxy as alice@example.com: group sre-on-call',
        'proxy as bob@example.com: user bob@example.com',
        'system:serviceaccount:kube-system:cicd-agent as system:serviceaccount:my-namespace:deployer: serviceaccount my-namespace/deployer',
      ],
    },
  ])('compares with --policies $policies (exit $code)', async ({ policies, code, notAllowed }) => {
    const c = capture();
    const policyPath = join(import.meta.dirname, 'fixtures', policies);
    expect(await runAudit([fixture('basic.jsonl'), '--policies', policyPath, '-o', 'json'], c.io)).toBe(code);
    const report = JSON.parse(c.stdout()) as AuditReport;
    expect(
      report.policies?.notAllowed.map(
        (n) =>
          `${n.impersonator} as ${n.target.username}: ${n.missing
            .map((m) =>
              m.resource === 'serviceaccounts'
                ? `serviceaccount ${m.namespace}/${m.name}`
                : `${m.resource.slice(0, -1)} ${m.name}`,
            )
            .join(', ')}`,
      ),
    ).toEqual(notAllowed);
    const text = capture();
    await runAudit([fixture('basic.jsonl'), '--policies', policyPath], text.io);
    expect(text.stdout()).toContain('Grants never used in this log:');
  });

  it.each([
    { name: 'no file', args: ['audit'], message: 'give at least one audit log file' },
    {
      name: 'invalid policies',
      args: ['audit', 'x.log', '--policies', join(import.meta.dirname, 'fixtures', 'invalid.yaml')],
      message: 'fix the policies above first',
    },
    { name: 'stdin for both', args: ['audit', '-', '--policies', '-'], message: 'cannot be both' },
    {
      name: 'a forbidden allowed identity',
      args: ['audit', 'x.log', '--allowed-system-identities', 'system:masters'],
      message: 'never system:masters',
    },
    {
      name: 'a bad --output',
      args: ['audit', 'x', '-o', 'yaml'],
      message: '--output must be "text" or "json"',
    },
    { name: 'a bad --top', args: ['audit', 'x', '--top=-1'], message: '--top must be a whole number' },
    { name: 'an unknown option', args: ['audit', '--frobnicate'], message: "Unknown option '--frobnicate'" },
    { name: 'stdin twice', args: ['audit', '-', '-'], message: 'can be read only once' },
    {
      name: 'a missing file',
      args: ['audit', '/nonexistent/audit.log'],
      message: '/nonexistent/audit.log: no such file',
    },
  ])('exits 2 on $name', async ({ args, message }) => {
    const c = capture();
    expect(await main(args, c.io)).toBe(2);
    expect(c.stderr()).toContain(message);
    expect(c.stdout()).toBe('');
  });

  it.each([
    { args: ['audit', '--help'], expected: 'Usage: kubectl-impersonation audit' },
    { args: ['help', 'audit'], expected: 'Usage: kubectl-impersonation audit' },
    { args: ['--help'], expected: 'Usage: kubectl-impersonation <command>' },
  ])('prints help for $args', async ({ args, expected }) => {
    const c = capture();
    expect(await main(args, c.io)).toBe(0);
    expect(c.stdout()).toContain(expected);
  });
});
