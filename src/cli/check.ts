// `kubectl-impersonation check`: validates policies with the CRD's zod schema and runs them through
// the operator's core, reporting everything that would not provision. Meant for a GitOps repo's CI.
import type { Collision, Denial, ImpersonationPolicySpec } from '../api/index.js';
import { lifetimeMessage, toRfc3339 } from '../core/index.js';
import {
  AT_HELP,
  AT_OPTION,
  atOption,
  CONFIG_HELP,
  CONFIG_OPTIONS,
  coreConfig,
  EXIT_FINDINGS,
  EXIT_OK,
  EXIT_UNUSABLE,
  HELP_OPTION,
  OUTPUT_OPTION,
  outputFormat,
  parseCommandArgs,
  UsageError,
  writeJson,
  type Io,
} from './args.js';
import { describeSource, loadPolicies, type DocumentSource, type PolicySet } from './policy-files.js';
import { loadClusterRoleFacts } from './cluster-roles.js';
import { decideAll, type DecidedPolicy } from './policy-set.js';
import { constraintConflicts } from '../core/index.js';

export const CHECK_HELP = `Usage: kubectl-impersonation check [options] <files or folders...>

Validates ImpersonationPolicies the way the cluster and the operator will: the CRD's schema (the
same zod schema the CRD is generated from), then the operator's planning core with the operator's
configuration. Reports, per file, document and field:
  - schema violations (the API server would reject the policy),
  - role names that normalize to one group, within a policy and across all policies given
    (the operator holds such groups back in every policy involved),
  - denied targets and identities (ClusterRoles on the deny list, system: identities not on the
    allow list, system:masters, *), and impersonators that may not impersonate,
  - duplicate policy names, policies that would provision nothing,
  - warnings: allowAnyUser in force; a policy not in force at --at (NotYetValid, Expired or
    Suspended: it grants nothing then, which is not an error).
Role groups are the final names: normalization, then spec.groupPrefix.
Collisions across policies are computed among the policies given; the cluster may hold others.

Arguments:
  <files or folders>  YAML or JSON files (multi-document, kind: List accepted), or folders
                      (searched recursively for *.yaml, *.yml, *.json; hidden entries skipped).
                      "-" reads standard input. Documents of other kinds are skipped.

Options:
  -o, --output text|json  Output format (default text).
${AT_HELP}
  -h, --help              This help.

${CONFIG_HELP}

Exit status:
  0  every policy would provision completely (warnings allowed)
  1  findings: something would be rejected, held back or denied
  2  unusable input: unreadable file, YAML syntax error, a document that is not a Kubernetes
     object, no ImpersonationPolicy found, or bad usage

Examples:
  kubectl-impersonation check policies/
  kubectl-impersonation check --denied-cluster-roles cluster-admin,admin policies/ -o json
  kubectl get impersonationpolicies -o yaml | kubectl impersonation check -
`;

export type Severity = 'error' | 'warning';

export type FindingCode =
  | 'UnusableInput'
  | 'InvalidPolicy'
  | 'DuplicateName'
  | 'Collision'
  | 'Denied'
  | 'NothingProvisioned'
  | 'AllowAnyUser'
  | 'NotInForce'
  | 'ConstraintBypassed';

export interface Finding extends DocumentSource {
  severity: Severity;
  code: FindingCode;
  policy?: string;
  field?: string;
  /** For Denied: the core's reason (DeniedClusterRole, SystemIdentityNotAllowed, ...). */
  reason?: string;
  message: string;
}

export interface CheckReport {
  files: string[];
  policies: {
    name: string;
    file: string;
    document: number;
    item?: number;
    objects: number;
    roleGroups: { role: string; group: string; clusterRoles: string[] }[];
    collisions: Collision[];
    denied: Denial[];
    allowAnyUser: boolean;
    /** Active, NotYetValid, Expired or Suspended at --at. */
    lifetime?: string;
    nextLifetimeChange?: string;
  }[];
  skipped: {
    file: string;
    document: number;
    item?: number;
    apiVersion: string;
    kind: string;
    name?: string;
  }[];
  findings: Finding[];
  errors: number;
  warnings: number;
  exitCode: number;
}

function sourceOf(s: DocumentSource): DocumentSource {
  return { file: s.file, document: s.document, ...(s.item === undefined ? {} : { item: s.item }) };
}

function prefix(s: DocumentSource): string {
  return s.item === undefined ? '' : `items[${s.item}].`;
}

function indexOr(list: readonly string[], value: string): string {
  const i = list.indexOf(value);
  return i < 0 ? '' : `[${i}]`;
}

/** The spec field a denial is about (presentation only: the decision is the core's). */
export function denialField(spec: ImpersonationPolicySpec, d: Denial): string {
  const roleIndex = d.role === undefined ? -1 : spec.roles.findIndex((r) => r.name === d.role);
  const role = spec.roles[roleIndex];
  switch (d.kind) {
    case 'Impersonator': {
      const i = spec.impersonators.findIndex((x) => x.name === d.name);
      return i < 0 ? 'spec.impersonators' : `spec.impersonators[${i}].name`;
    }
    case 'AllowedAction':
      return `spec.${d.name}`;
    case 'ClusterRole':
      return role
        ? `spec.roles[${roleIndex}].clusterRoles${indexOr(role.clusterRoles, d.name)}`
        : 'spec.roles';
    case 'Group':
      if (role) return `spec.roles[${roleIndex}].name`;
      return `spec.targets.groups${indexOr(spec.targets.groups, d.name)}`;
    case 'User':
      if (d.reason === 'AnyUserNotEnabled') return 'spec.targets.allowAnyUser';
      return `spec.targets.users${indexOr(spec.targets.users, d.name)}`;
    case 'ServiceAccount': {
      const i = spec.targets.serviceAccounts.findIndex((sa) => `${sa.namespace}/${sa.name}` === d.name);
      return i < 0 ? 'spec.targets.serviceAccounts' : `spec.targets.serviceAccounts[${i}]`;
    }
    case 'UID':
      return `spec.targets.uids${indexOr(spec.targets.uids, d.name)}`;
    case 'UserExtra': {
      const eq = d.name.indexOf('=');
      const key = d.name.slice(0, eq);
      const k = spec.targets.userExtras.findIndex((e) => e.key === key);
      const extra = spec.targets.userExtras[k];
      return extra
        ? `spec.targets.userExtras[${k}].values${indexOr(extra.values, d.name.slice(eq + 1))}`
        : 'spec.targets.userExtras';
    }
  }
}

function collisionMessage(c: Collision): string {
  const quoted = c.roles.map((r) => `'${r}'`);
  const own =
    quoted.length > 2 ? `${quoted.slice(0, -1).join(', ')} and ${quoted.at(-1)}` : quoted.join(' and ');
  if (c.scope === 'WithinPolicy') {
    return `roles ${own} ${quoted.length > 2 ? 'all map' : 'both map'} to group '${c.group}': the group is not provisioned (fail closed). Rename the roles so each group comes from one role name.`;
  }
  const others = (c.otherPolicies ?? []).map((o) => `'${o.role}' in policy ${o.policy}`).join(', ');
  return `role ${own} maps to group '${c.group}', and so does ${others}: the group is not provisioned in any of these policies (fail closed). Use one spelling of the role name everywhere.`;
}

/** Everything `check` reports about a loaded and decided set of policies. */
export function findingsOf(set: PolicySet, decided: readonly DecidedPolicy[]): Finding[] {
  const findings: Finding[] = [];
  for (const p of set.problems) {
    findings.push({
      ...p,
      severity: 'error',
      code: 'UnusableInput',
      message: p.message,
    });
  }
  for (const p of set.invalid) {
    findings.push({
      ...p,
      severity: 'error',
      code: 'InvalidPolicy',
      message: `${p.message} (the API server would reject this policy)`,
    });
  }
  const byName = new Map<string, DecidedPolicy[]>();
  for (const d of decided) byName.set(d.name, [...(byName.get(d.name) ?? []), d]);
  for (const [name, same] of byName) {
    if (same.length < 2) continue;
    for (const d of same.slice(1)) {
      const first = same[0]!.loaded.source;
      findings.push({
        ...sourceOf(d.loaded.source),
        severity: 'error',
        code: 'DuplicateName',
        policy: name,
        field: `${prefix(d.loaded.source)}metadata.name`,
        message: `another policy named ${name} is in ${describeSource(first)}; applied together, one replaces the other`,
      });
    }
  }
  for (const d of decided) {
    const { spec } = d.loaded.policy;
    const src = sourceOf(d.loaded.source);
    const pre = prefix(d.loaded.source);
    for (const c of d.decisions.collisions) {
      const i = spec.roles.findIndex((r) => c.roles.includes(r.name));
      findings.push({
        ...src,
        severity: 'error',
        code: 'Collision',
        policy: d.name,
        field: `${pre}${i < 0 ? 'spec.roles' : `spec.roles[${i}].name`}`,
        message: collisionMessage(c),
      });
    }
    for (const den of d.decisions.denied) {
      findings.push({
        ...src,
        severity: 'error',
        code: 'Denied',
        policy: d.name,
        field: `${pre}${denialField(spec, den)}`,
        reason: den.reason,
        message: `${den.kind} '${den.name}'${den.role === undefined ? '' : ` (role '${den.role}')`}: ${den.message}`,
      });
    }
    if (d.decisions.grants.impersonators.length === 0) {
      findings.push({
        ...src,
        severity: 'error',
        code: 'NothingProvisioned',
        policy: d.name,
        field: `${pre}spec.impersonators`,
        message: 'no impersonator may impersonate, so nothing is provisioned',
      });
    } else if (d.objects.length === 0) {
      findings.push({
        ...src,
        severity: 'warning',
        code: 'NothingProvisioned',
        policy: d.name,
        field: `${pre}spec.targets`,
        message: 'the policy grants nothing: no target and no role would be provisioned',
      });
    }
    if (d.lifetime !== undefined && d.lifetime.state !== 'Active') {
      const field =
        d.lifetime.state === 'Suspended'
          ? 'spec.suspend'
          : d.lifetime.state === 'Expired'
            ? 'spec.validUntil'
            : 'spec.validFrom';
      findings.push({
        ...src,
        severity: 'warning',
        code: 'NotInForce',
        policy: d.name,
        field: `${pre}${field}`,
        reason: d.lifetime.state,
        message: lifetimeMessage(d.lifetime),
      });
    }
    if (d.decisions.grants.anyUser) {
      findings.push({
        ...src,
        severity: 'warning',
        code: 'AllowAnyUser',
        policy: d.name,
        field: `${pre}spec.targets.allowAnyUser`,
        message:
          'the impersonators may become ANY user, including system: users that RBAC cannot exclude; keep this only for an access proxy that needs it',
      });
    }
  }
  const byPolicy = new Map(decided.map((d) => [d.name, d]));
  for (const c of constraintConflicts(decided.map((d) => ({ name: d.name, grants: d.decisions.grants })))) {
    const d = byPolicy.get(c.policy)!;
    findings.push({
      ...sourceOf(d.loaded.source),
      severity: 'warning',
      code: 'ConstraintBypassed',
      policy: c.policy,
      field: `${prefix(d.loaded.source)}spec.allowedActions`,
      message:
        c.kind === 'LegacyBypass'
          ? `policy ${c.other} lets ${c.impersonator} impersonate ${c.targets.join(', ')} without constraint; the ` +
            'API server falls back to that grant, so this constraint does not hold for them'
          : `policy ${c.other} also constrains ${c.impersonator}, with other actions: the API server adds them up, ` +
            'for all of its targets in both policies',
    });
  }
  for (const f of findings) {
    if (f.line === undefined && f.field !== undefined && f.document > 0) {
      const rel = f.item === undefined ? f.field : f.field.replace(/^items\[\d+\]\.?/, '');
      const line = set.lineOf(f, rel);
      if (line !== undefined) f.line = line;
    }
  }
  // In file order, then document, item and line, so the output reads like the files.
  const fileIndex = new Map(set.files.map((f, i) => [f, i]));
  const at = (f: Finding): number[] => [fileIndex.get(f.file) ?? -1, f.document, f.item ?? -1, f.line ?? 0];
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => {
      const x = at(a.f);
      const y = at(b.f);
      for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) return (x[k] ?? 0) - (y[k] ?? 0);
      return a.i - b.i;
    })
    .map(({ f }) => f);
}

/** Exit code for a set of findings. */
export function exitCodeOf(set: PolicySet, findings: readonly Finding[]): number {
  if (set.problems.length > 0 || set.files.length === 0 || set.policies.length + set.invalid.length === 0) {
    return EXIT_UNUSABLE;
  }
  return findings.some((f) => f.severity === 'error') ? EXIT_FINDINGS : EXIT_OK;
}

function location(f: DocumentSource): string {
  const where = f.line === undefined ? f.file : `${f.file}:${f.line}`;
  const doc = `document ${f.document}${f.item === undefined ? '' : `, items[${f.item}]`}`;
  return f.document > 0 ? `${where} (${doc})` : where;
}

export function formatFindings(report: CheckReport): string[] {
  const out: string[] = [];
  for (const f of report.findings) {
    const label = f.severity === 'error' ? 'ERROR' : 'WARN ';
    const what = [f.policy === undefined ? undefined : `policy ${f.policy}`, f.field]
      .filter(Boolean)
      .join(': ');
    out.push(`${label} ${location(f)}${what ? ` ${what}` : ''}`);
    out.push(`      ${f.code}${f.reason ? ` (${f.reason})` : ''}: ${f.message}`);
  }
  if (report.skipped.length > 0) {
    const kinds = new Map<string, number>();
    for (const d of report.skipped) kinds.set(d.kind, (kinds.get(d.kind) ?? 0) + 1);
    const listed = [...kinds].map(([kind, n]) => `${n} ${kind}`).join(', ');
    out.push(`Skipped ${report.skipped.length} document(s) that are not ImpersonationPolicies: ${listed}.`);
  }
  const invalid = new Set(
    report.findings
      .filter((f) => f.code === 'InvalidPolicy')
      .map((f) => `${f.file}\0${f.document}\0${f.item ?? ''}`),
  ).size;
  const n = report.policies.length + invalid;
  const summary =
    `Checked ${n} ${n === 1 ? 'policy' : 'policies'}${invalid > 0 ? ` (${invalid} invalid)` : ''} in ` +
    `${report.files.length} file(s): ${report.errors} error(s), ${report.warnings} warning(s).`;
  if (report.exitCode === EXIT_UNUSABLE && report.findings.every((f) => f.code !== 'UnusableInput')) {
    out.push('No ImpersonationPolicy found in the input.');
  }
  out.push(summary);
  return out;
}

const OPTIONS = { ...OUTPUT_OPTION, ...HELP_OPTION, ...CONFIG_OPTIONS, ...AT_OPTION } as const;

export async function runCheck(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('check', args, OPTIONS);
  if (values.help) {
    io.stdout.write(CHECK_HELP);
    return EXIT_OK;
  }
  const output = outputFormat('check', values.output);
  if (positionals.length === 0)
    throw new UsageError('give at least one policy file or folder (or - for stdin)', 'check');
  const config = coreConfig('check', values);
  const set = await loadPolicies(positionals, io.stdin);
  const facts = values['cluster-roles'] ? await loadClusterRoleFacts(values['cluster-roles'], 'check') : {};
  const decided = decideAll(set.policies, config, new Map(), facts, atOption('check', values.at));
  const findings = findingsOf(set, decided);
  const exitCode = exitCodeOf(set, findings);
  const report: CheckReport = {
    files: set.files,
    policies: decided.map((d) => ({
      name: d.name,
      ...sourceOf(d.loaded.source),
      objects: d.objects.length,
      roleGroups: d.decisions.roleGroups,
      collisions: d.decisions.collisions,
      denied: d.decisions.denied,
      allowAnyUser: d.decisions.grants.anyUser,
      ...(d.lifetime === undefined ? {} : { lifetime: d.lifetime.state }),
      ...(d.lifetime?.nextChange === undefined
        ? {}
        : { nextLifetimeChange: toRfc3339(d.lifetime.nextChange) }),
    })),
    skipped: set.skipped,
    findings,
    errors: findings.filter((f) => f.severity === 'error').length,
    warnings: findings.filter((f) => f.severity === 'warning').length,
    exitCode,
  };
  if (output === 'json') writeJson(io, report);
  else io.stdout.write(`${formatFindings(report).join('\n')}\n`);
  return exitCode;
}
