// Human-readable rendering of an audit summary (the JSON output is the summary itself).
import type { Identity } from './event.js';
import type { PolicyAudit } from './policy-match.js';
import type { ReadResult } from './reader.js';
import type { ActionSummary, Counts, ImpersonationSummary, TimeRange } from './summary.js';

const nf = new Intl.NumberFormat('en-US');

export function formatCount(n: number): string {
  return nf.format(n);
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

/** Right-aligns numeric columns, left-aligns the rest; no trailing spaces. */
export function table(header: string[], rows: string[][], numeric: boolean[], indent = ''): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    indent +
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function describeCounts(c: Counts): string {
  const parts = [`${formatCount(c.allowed)} allowed`, `${formatCount(c.forbidden)} forbidden`];
  if (c.unknown > 0) parts.push(`${formatCount(c.unknown)} without a response`);
  return `${formatCount(c.requests)} request${c.requests === 1 ? '' : 's'} (${parts.join(', ')})`;
}

export function describeRange(r: TimeRange | undefined): string {
  if (!r) return 'no timestamps';
  return r.first === r.last ? r.first : `${r.first} .. ${r.last}`;
}

export function describeIdentity(id: Identity): string {
  const parts = [id.username === '' ? '(empty user name)' : id.username];
  if (id.groups.length > 0) parts.push(`groups: ${id.groups.join(', ')}`);
  if (id.uid) parts.push(`uid: ${id.uid}`);
  for (const [k, v] of Object.entries(id.extra ?? {})) parts.push(`extra ${k}: ${v.join(', ')}`);
  return parts.join('  ');
}

function actionRows(actions: ActionSummary[]): string[][] {
  return actions.map((a) => [
    formatCount(a.requests),
    formatCount(a.allowed),
    formatCount(a.forbidden),
    a.verb,
    a.resource,
    a.namespace,
  ]);
}

export interface FormatOptions {
  /** Actions listed per impersonated identity; 0 = all. */
  top: number;
}

export function formatScan(read: ReadResult, elapsedMs: number | undefined): string[] {
  const bytes = read.sources.reduce((s, x) => s + x.bytes, 0);
  const lines = read.sources.reduce((s, x) => s + x.lines, 0);
  const malformed = read.sources.reduce((s, x) => s + x.malformed, 0);
  const n = read.sources.length;
  let head = `Scanned ${n} source${n === 1 ? '' : 's'}: ${formatBytes(bytes)}, ${formatCount(lines)} lines`;
  if (elapsedMs !== undefined && elapsedMs > 0) {
    head += `, in ${(elapsedMs / 1000).toFixed(1)} s (${formatBytes((bytes * 1000) / elapsedMs)}/s)`;
  }
  const out = [head];
  if (malformed > 0) {
    out.push(`Warning: ${formatCount(malformed)} line(s) mentioning impersonation were not valid JSON:`);
    for (const m of read.malformed) out.push(`  ${m.path}:${m.line}: ${m.error}`);
  }
  return out;
}

export function formatSummary(s: ImpersonationSummary, opts: FormatOptions): string[] {
  const out: string[] = [];
  if (s.requests === 0) {
    out.push('No impersonated requests found.');
  } else {
    out.push(`Impersonated requests: ${describeCounts(s)}, ${describeRange(s.timeRange)}`);
  }
  for (const imp of s.impersonators) {
    out.push('');
    const groups = imp.groups.length > 0 ? `  [own groups: ${imp.groups.join(', ')}]` : '';
    out.push(`${imp.impersonator}${groups}: ${describeCounts(imp)}`);
    for (const t of imp.targets) {
      out.push(`  as ${describeIdentity(t.target)}`);
      out.push(`     ${describeCounts(t)}, ${describeRange(t.timeRange)}`);
      if (t.constrained !== undefined) {
        const n = Object.values(t.constrained).reduce((a, b) => a + b, 0);
        const by = Object.entries(t.constrained).map(([c, k]) => `${formatCount(k)} by ${c}`);
        out.push(
          `     constrained impersonation: ${by.join(', ')}; legacy (unconstrained): ${formatCount(t.requests - n)}`,
        );
      }
      const shown = opts.top > 0 ? t.actions.slice(0, opts.top) : t.actions;
      out.push(
        ...table(
          ['REQUESTS', 'ALLOWED', 'FORBIDDEN', 'VERB', 'RESOURCE', 'NAMESPACE'],
          actionRows(shown),
          [true, true, true, false, false, false],
          '     ',
        ),
      );
      if (shown.length < t.actions.length) {
        out.push(`     ... ${t.actions.length - shown.length} more (--top 0 lists all)`);
      }
    }
  }
  if (s.refused.length > 0) {
    out.push('');
    out.push('Refused impersonations (the API server refused the impersonation itself):');
    out.push(
      ...table(
        ['COUNT', 'IMPERSONATOR', 'TRIED', 'NAME', 'NAMESPACE', 'EXAMPLE REQUEST', 'TIME RANGE'],
        s.refused.map((r) => [
          formatCount(r.count),
          r.impersonator,
          r.attempted.resource,
          r.attempted.name === '' ? '(not logged)' : r.attempted.name,
          r.attempted.namespace,
          `${r.example.verb} ${r.example.resource}`,
          describeRange(r.timeRange),
        ]),
        [true, false, false, false, false, false, false],
        '  ',
      ),
    );
  }
  return out;
}

function describeCheck(c: { resource: string; name: string; namespace?: string }): string {
  if (c.resource === 'serviceaccounts') return `serviceaccount ${c.namespace ?? ''}/${c.name}`;
  const kind = c.resource.endsWith('s') && !c.resource.includes('/') ? c.resource.slice(0, -1) : c.resource;
  return `${kind} ${c.name}`;
}

export function formatPolicyAudit(p: PolicyAudit): string[] {
  const out: string[] = [''];
  out.push(
    `Compared with ${p.policies.length} ${p.policies.length === 1 ? 'policy' : 'policies'}: ${p.policies.join(', ')}`,
  );
  if (p.notAllowed.length === 0) {
    out.push('Every impersonation in the log is allowed by the policies.');
  } else {
    out.push('Impersonations no policy allows (something other than these policies granted them):');
    out.push(
      ...table(
        ['REQUESTS', 'IMPERSONATOR', 'AS', 'NOT GRANTED BY ANY POLICY', 'TIME RANGE'],
        p.notAllowed.map((n) => [
          formatCount(n.requests),
          n.impersonator,
          describeIdentity(n.target),
          n.missing.map(describeCheck).join(', ') +
            (n.outsideWindow ? ` (outside the window of ${n.outsideWindow.join(', ')})` : ''),
          describeRange(n.timeRange),
        ]),
        [true, false, false, false, false],
        '  ',
      ),
    );
  }
  if (p.legacyUse !== undefined) {
    out.push(
      'Constrained policies whose impersonators still act as their targets through legacy (unconstrained) ' +
        'impersonation, which bypasses the constraint:',
    );
    out.push(
      ...table(
        ['REQUESTS', 'POLICY', 'IMPERSONATOR', 'AS'],
        p.legacyUse.map((u) => [formatCount(u.requests), u.policy, u.impersonator, u.target]),
        [true, false, false, false],
        '  ',
      ),
    );
  }
  if (p.refusedButGranted.length > 0) {
    out.push('Refused by the API server although a policy grants them (not provisioned yet, or held back):');
    out.push(
      ...table(
        ['COUNT', 'IMPERSONATOR', 'TRIED', 'POLICIES'],
        p.refusedButGranted.map((r) => [
          formatCount(r.count),
          r.impersonator,
          describeCheck(r.attempted),
          r.policies.join(', '),
        ]),
        [true, false, false, false],
        '  ',
      ),
    );
  }
  if (p.unused.length === 0) {
    out.push('Every grant of the policies was used.');
  } else {
    out.push('Grants never used in this log:');
    out.push(
      ...table(
        ['POLICY', 'GRANT'],
        p.unused.map((u) => [
          u.policy,
          u.kind === 'impersonate'
            ? `impersonate ${describeCheck({ resource: u.resource ?? '', name: u.name ?? '', namespace: u.namespace ?? '' })}`
            : `group ${u.binding?.group ?? ''} -> ClusterRole ${u.binding?.clusterRole ?? ''}${u.binding?.namespace ? ` in namespace ${u.binding.namespace}` : ''} (${u.binding?.kind ?? ''} ${u.binding?.name ?? ''})`,
        ]),
        [false, false],
        '  ',
      ),
    );
  }
  return out;
}
