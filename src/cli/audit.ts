// `kubectl-impersonation audit`: streams Kubernetes audit logs and summarizes who impersonated whom,
// doing what; with --policies, compares what happened with what the policies grant.
import { StageDeduper } from '../audit/dedupe.js';
import { formatBytes, formatCount, formatPolicyAudit, formatScan, formatSummary } from '../audit/format.js';
import type { PolicyAudit, PolicyUsage } from '../audit/policy-match.js';
import type { AuditRecord } from '../audit/event.js';
import { InputError, readAuditLogs, type Progress, type ReadResult } from '../audit/reader.js';
import { SummaryBuilder, type ImpersonationSummary } from '../audit/summary.js';
import {
  CONFIG_HELP,
  CONFIG_OPTIONS,
  coreConfig,
  EXIT_FINDINGS,
  EXIT_OK,
  EXIT_UNUSABLE,
  HELP_OPTION,
  listOption,
  OUTPUT_OPTION,
  outputFormat,
  parseCommandArgs,
  UsageError,
  writeJson,
  type Io,
} from './args.js';
import type { CheckReport } from './check.js';

export const AUDIT_HELP = `Usage: kubectl-impersonation audit [options] <audit log files...>

Summarizes impersonation in Kubernetes audit logs (JSON lines of audit.k8s.io/v1 Events, as
written by the API server's log backend): impersonator -> impersonated user and groups -> verb
and resource counts, allowed vs forbidden, time range; and the impersonations the API server
refused outright.

Arguments:
  <audit log files>   Files to read, in order. "-" reads standard input. Gzip-compressed data
                      (.gz, or any input starting with the gzip magic bytes) is decompressed.

Options:
  -o, --output text|json  Output format (default text). JSON holds every action; text lists the
                          --top busiest per impersonated identity.
      --top N             Actions listed per impersonated identity in text output (default 10,
                          0 = all).
      --policies PATHS    ImpersonationPolicy files or folders (repeatable, comma-separated). Flags
                          impersonations no policy allows and grants that were never used (see below).
      --no-progress       No progress line on stderr (it is only shown when stderr is a terminal).
  -h, --help              This help.

${CONFIG_HELP}

How requests are counted:
  Each request is counted once: the API server logs one event per stage (RequestReceived,
  ResponseStarted, ResponseComplete); events are matched by auditID and the final stage wins.
  "allowed"/"forbidden" is the authorization decision for the impersonated request (the
  authorization.k8s.io/decision annotation, else HTTP 403 = forbidden). A request whose
  impersonation itself was refused has no impersonatedUser in the log: it is listed under
  "Refused impersonations" with the user, group or service account it tried to assume. (Since
  Kubernetes 1.35, constrained impersonation: an impersonator with no impersonate grant at all is
  refused on "impersonate-on:<mode>:<verb>"; the log then names the mode, e.g. user-info, but
  not the identity: shown as "(not logged)".)
  Lines that do not contain the word "impersonate" are skipped without being decoded.

With --policies:
  The policies are turned into RBAC by the operator's core (with the operator configuration
  above) and every impersonation in the log is checked against that RBAC as the API server's
  impersonation filter checks it: the user (or service account, in its namespace), each group,
  the uid and each extra value. Groups the API server adds by itself are not checked
  (system:authenticated; a service account's system:serviceaccounts[:<namespace>] when no group
  was asked for). Reported:
  - impersonations no policy allows: they succeeded, so RBAC outside these policies granted them;
    a policy counts only at times inside its spec.validFrom..validUntil window (never when
    spec.suspend is true), and such impersonations name the policy they fell outside of;
  - refused impersonations that a policy grants (not provisioned, or held back);
  - grants never used: impersonation grants (except system:authenticated, whose use the log
    cannot show), and role-group bindings, whose use the log shows through the authorizer's
    reason annotation (RBAC: allowed by ClusterRoleBinding "...").

Exit status:
  0  summary printed (also when nothing was found)
  1  with --policies: an impersonation happened that no policy allows
  2  unusable input (unreadable file, corrupt gzip, bad option, invalid policies)

Examples:
  kubectl-impersonation audit /var/log/kubernetes/audit.log
  kubectl-impersonation audit audit-*.log.gz --output json > summary.json
  zcat audit.log.gz | kubectl impersonation audit - --policies policies/
`;

const OPTIONS = {
  ...OUTPUT_OPTION,
  ...HELP_OPTION,
  top: { type: 'string', default: '10' },
  policies: { type: 'string', multiple: true },
  'no-progress': { type: 'boolean', default: false },
  ...CONFIG_OPTIONS,
} as const;

/** The JSON document `audit --output json` prints. */
export interface AuditReport {
  sources: ReadResult['sources'];
  malformedLines: ReadResult['malformed'];
  summary: ImpersonationSummary;
  /** With --policies. */
  policies?: PolicyAudit;
}

function progressPrinter(io: Io, enabled: boolean): { update: (p: Progress) => void; clear: () => void } {
  if (!enabled || !io.stderr.isTTY) return { update: () => undefined, clear: () => undefined };
  const started = Date.now();
  let doneBytes = 0;
  let lastIndex = 0;
  let lastBytes = 0;
  let shown = false;
  return {
    update: (p) => {
      if (p.index !== lastIndex) {
        doneBytes += lastBytes;
        lastIndex = p.index;
      }
      lastBytes = p.bytes;
      const secs = (Date.now() - started) / 1000;
      const rate = secs > 0 ? `${formatBytes((doneBytes + p.bytes) / secs)}/s` : '';
      const pct = p.size ? ` ${Math.floor((100 * p.bytes) / p.size)}%` : '';
      const file = p.count > 1 ? `[${p.index + 1}/${p.count}] ` : '';
      io.stderr.write(
        `\r\x1b[Kaudit: ${file}${p.path}${pct} ${formatBytes(p.bytes)} ${rate}, ${formatCount(p.records)} impersonation events`,
      );
      shown = true;
    },
    clear: () => {
      if (shown) io.stderr.write('\r\x1b[K');
    },
  };
}

export async function runAudit(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('audit', args, OPTIONS);
  if (values.help) {
    io.stdout.write(AUDIT_HELP);
    return EXIT_OK;
  }
  const output = outputFormat('audit', values.output);
  const top = Number(values.top);
  if (!Number.isInteger(top) || top < 0) {
    throw new UsageError(`--top must be a whole number >= 0, not "${values.top}"`, 'audit');
  }
  if (positionals.length === 0)
    throw new UsageError('give at least one audit log file (or - for stdin)', 'audit');
  if (positionals.filter((p) => p === '-').length > 1)
    throw new UsageError('"-" (stdin) can be read only once', 'audit');
  const policyPaths = listOption(values.policies);
  if (policyPaths !== undefined && policyPaths.length === 0) {
    throw new UsageError('--policies needs at least one file or folder', 'audit');
  }
  if (policyPaths?.includes('-') && positionals.includes('-')) {
    throw new UsageError('stdin ("-") cannot be both the audit log and --policies', 'audit');
  }

  const config = coreConfig('audit', values);
  let usage: PolicyUsage | undefined;
  if (policyPaths !== undefined) {
    // Only now: the schema and the core cost memory and start-up time a plain summary does not need.
    // One at a time: they share modules, and Jest's ESM loader fails concurrent imports of a shared
    // module ("request for ... is not in cache"); in node the difference is nil.
    const { exitCodeOf, findingsOf, formatFindings } = await import('./check.js');
    const { loadPolicies } = await import('./policy-files.js');
    const { decideAll } = await import('./policy-set.js');
    const { PolicyUsage } = await import('../audit/policy-match.js');
    const { loadClusterRoleFacts } = await import('./cluster-roles.js');
    const set = await loadPolicies(policyPaths, io.stdin);
    const facts = values['cluster-roles'] ? await loadClusterRoleFacts(values['cluster-roles'], 'audit') : {};
    const decided = decideAll(set.policies, config, new Map(), facts);
    const findings = findingsOf(set, decided);
    const unusable = findings.filter((f) => f.code === 'UnusableInput' || f.code === 'InvalidPolicy');
    if (unusable.length > 0 || exitCodeOf(set, findings) === EXIT_UNUSABLE) {
      const report: CheckReport = {
        files: set.files,
        policies: [],
        skipped: [],
        findings: unusable,
        errors: unusable.length,
        warnings: 0,
        exitCode: EXIT_UNUSABLE,
      };
      io.stderr.write(
        `${formatFindings(report).join('\n')}\nerror: --policies: fix the policies above first\n`,
      );
      return EXIT_UNUSABLE;
    }
    usage = new PolicyUsage(
      decided.map((d) => {
        const { validFrom, validUntil, suspend } = d.loaded.policy.spec;
        const window = {
          ...(validFrom === undefined ? {} : { from: Date.parse(validFrom) }),
          ...(validUntil === undefined ? {} : { until: Date.parse(validUntil) }),
          ...(suspend ? { suspended: true } : {}),
        };
        return { policy: d.name, objects: d.objects, ...(Object.keys(window).length > 0 ? { window } : {}) };
      }),
    );
  }

  const dedupe = new StageDeduper();
  const builder = new SummaryBuilder();
  const count = (rec: AuditRecord): void => {
    builder.add(rec);
    usage?.add(rec);
  };
  const progress = progressPrinter(io, !values['no-progress']);
  const started = Date.now();
  let read: ReadResult;
  try {
    read = await readAuditLogs(positionals, {
      stdin: io.stdin,
      onRecord: (rec) => {
        const counted = dedupe.push(rec);
        if (counted) count(counted);
      },
      onProgress: progress.update,
    });
  } catch (err) {
    progress.clear();
    if (err instanceof InputError) {
      io.stderr.write(`error: ${err.message}\n`);
      return EXIT_UNUSABLE;
    }
    throw err;
  }
  progress.clear();
  for (const rec of dedupe.drain()) count(rec);
  const elapsed = Date.now() - started;
  const summary = builder.summary();
  const policies = usage?.report();

  if (output === 'json') {
    const report: AuditReport = {
      sources: read.sources,
      malformedLines: read.malformed,
      summary,
      ...(policies ? { policies } : {}),
    };
    writeJson(io, report);
  } else {
    const lines = [...formatScan(read, elapsed), ...formatSummary(summary, { top })];
    if (policies) lines.push(...formatPolicyAudit(policies));
    io.stdout.write(`${lines.join('\n')}\n`);
  }
  return policies && (policies.notAllowed.length > 0 || (policies.legacyUse?.length ?? 0) > 0)
    ? EXIT_FINDINGS
    : EXIT_OK;
}
