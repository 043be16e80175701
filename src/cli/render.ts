// `kubectl-impersonation render`: prints the RBAC the operator would generate for a set of policies,
// from the operator's own core, as YAML (or a JSON List) that `kubectl apply -f -` accepts.
import { dump } from 'js-yaml';
import type { RbacObject } from '../core/index.js';
import { lifetimeMessage } from '../core/index.js';
import {
  AT_HELP,
  AT_OPTION,
  atOption,
  CONFIG_HELP,
  CONFIG_OPTIONS,
  coreConfig,
  EXIT_OK,
  EXIT_UNUSABLE,
  HELP_OPTION,
  listOption,
  parseCommandArgs,
  UsageError,
  type Io,
} from './args.js';
import { exitCodeOf, findingsOf, formatFindings, type CheckReport, type Finding } from './check.js';
import { describeSource, loadPolicies } from './policy-files.js';
import { loadClusterRoleFacts } from './cluster-roles.js';
import { decideAll, printable, type DecidedPolicy } from './policy-set.js';

export const RENDER_HELP = `Usage: kubectl-impersonation render [options] <files or folders...>

Prints the RBAC objects the operator would generate for the ImpersonationPolicies found, computed
offline by the operator's own planning core: same names, labels, rules and subjects, and the same
decisions (collisions and denied entries are held back exactly as the operator holds them back;
collisions across policies are computed among the policies given). Output is multi-document YAML
that "kubectl apply -f -" accepts; a comment before each policy's objects says what was held back.

ownerReferences: the operator sets an ownerReference (controller, blockOwnerDeletion) to the
policy and its ownership record (annotation impersonation-operator.io/policy-uid), both of which
need the policy object's uid. Offline:
  - a policy whose metadata.uid is set (e.g. from "kubectl get impersonationpolicy -o yaml") is
    rendered with its ownerReference and record;
  - --owner-uid NAME=UID supplies the uid of the policy NAME (repeatable);
  - otherwise both are omitted: an ownerReference to a uid that does not exist would
    make the garbage collector delete the object. Objects applied without it are not deleted with
    the policy; the operator, if it runs later, does not adopt them (it reports NameConflict).

Arguments:
  <files or folders>  YAML or JSON files (multi-document, kind: List accepted), or folders
                      (searched recursively for *.yaml, *.yml, *.json). "-" reads standard input.

Options:
  -o, --output yaml|json    yaml (default): one document per object; json: a v1 List.
      --owner-uid NAME=UID  uid of policy NAME for ownerReferences (repeatable, comma-separated).
${AT_HELP}
  -h, --help                This help.

A policy not in force at --at (NotYetValid, Expired, Suspended) renders no objects: the operator
applies none then; its comment says so and how many it applies while in force.

${CONFIG_HELP}

Exit status:
  0  rendered (warnings about held-back parts go to stderr)
  2  nothing rendered: unusable input, an invalid policy (run "check"), duplicate policy names,
     or bad usage

Examples:
  kubectl-impersonation render policies/ > rbac.yaml
  kubectl-impersonation render policies/proxy.yaml | kubectl apply --server-side -f -
  kubectl impersonation render policy.yaml --owner-uid sre-proxy=$(kubectl get imppol sre-proxy -o jsonpath='{.metadata.uid}')
`;

const OPTIONS = {
  ...HELP_OPTION,
  ...CONFIG_OPTIONS,
  ...AT_OPTION,
  output: { type: 'string', short: 'o', default: 'yaml' },
  'owner-uid': { type: 'string', multiple: true },
} as const;

function ownerUids(values: string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of listOption(values) ?? []) {
    const eq = entry.indexOf('=');
    if (eq <= 0 || eq === entry.length - 1) {
      throw new UsageError(`--owner-uid takes NAME=UID, not "${entry}"`, 'render');
    }
    map.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return map;
}

function heldBackComments(d: DecidedPolicy): string[] {
  const lines: string[] = [];
  for (const c of d.decisions.collisions) {
    const others = (c.otherPolicies ?? []).map((o) => `'${o.role}' in ${o.policy}`);
    lines.push(
      `#   held back: group ${c.group} (collision: ${[...c.roles.map((r) => `'${r}'`), ...others].join(', ')})`,
    );
  }
  for (const den of d.decisions.denied) {
    lines.push(
      `#   denied: ${den.kind} ${den.name}${den.role === undefined ? '' : ` (role '${den.role}')`}: ${den.reason}`,
    );
  }
  if (d.decisions.grants.anyUser) lines.push('#   WARNING: allowAnyUser is in force (impersonate any user)');
  return lines;
}

/** The objects the operator applies at the time rendered: none while the policy is not in force. */
const inForce = (d: DecidedPolicy): RbacObject[] =>
  d.lifetime === undefined || d.lifetime.state === 'Active' ? d.objects : [];

/** The YAML stream: a comment per policy, then its objects, `---` between documents. */
export function renderYaml(decided: readonly DecidedPolicy[]): string {
  const docs: string[] = [];
  for (const d of decided) {
    const owner = d.uid === undefined ? 'ownerReferences omitted (uid unknown)' : `owner uid ${d.uid}`;
    const objects = inForce(d);
    const header = [
      `# ImpersonationPolicy ${d.name} from ${describeSource(d.loaded.source)}: ${objects.length} object(s), ${owner}`,
      ...(d.lifetime === undefined
        ? []
        : [
            `#   lifetime: ${lifetimeMessage(d.lifetime)}` +
              (d.lifetime.state === 'Active' ? '' : ` While in force: ${d.objects.length} object(s).`),
          ]),
      ...heldBackComments(d),
    ];
    if (objects.length === 0) {
      docs.push(`${header.join('\n')}\n`);
      continue;
    }
    objects.forEach((o: RbacObject, i) => {
      const body = dump(printable(o, d.uid), { noRefs: true, lineWidth: -1 });
      docs.push(i === 0 ? `${header.join('\n')}\n${body}` : body);
    });
  }
  return docs.map((doc) => `---\n${doc}`).join('');
}

export function renderJsonList(decided: readonly DecidedPolicy[]): string {
  const items = decided.flatMap((d) => inForce(d).map((o) => printable(o, d.uid)));
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 2)}\n`;
}

export async function runRender(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('render', args, OPTIONS);
  if (values.help) {
    io.stdout.write(RENDER_HELP);
    return EXIT_OK;
  }
  const output = values.output;
  if (output !== 'yaml' && output !== 'json') {
    throw new UsageError(`--output must be "yaml" or "json", not "${output}"`, 'render');
  }
  if (positionals.length === 0)
    throw new UsageError('give at least one policy file or folder (or - for stdin)', 'render');
  const uids = ownerUids(values['owner-uid']);
  const set = await loadPolicies(positionals, io.stdin);
  const facts = values['cluster-roles'] ? await loadClusterRoleFacts(values['cluster-roles'], 'render') : {};
  const decided = decideAll(
    set.policies,
    coreConfig('render', values),
    uids,
    facts,
    atOption('render', values.at),
  );
  const findings = findingsOf(set, decided);
  const blocking = findings.filter(
    (f) => f.code === 'UnusableInput' || f.code === 'InvalidPolicy' || f.code === 'DuplicateName',
  );
  const unknownOwners = [...uids.keys()].filter((n) => !decided.some((d) => d.name === n));
  if (blocking.length > 0 || exitCodeOf(set, findings) === EXIT_UNUSABLE || unknownOwners.length > 0) {
    const report = reportOf(set.files, decided, blocking);
    io.stderr.write(`${formatFindings(report).join('\n')}\n`);
    for (const n of unknownOwners)
      io.stderr.write(`error: --owner-uid names ${n}, which is not among the policies\n`);
    io.stderr.write(
      'error: nothing rendered; fix the input above (kubectl-impersonation check shows every finding)\n',
    );
    return EXIT_UNUSABLE;
  }
  for (const f of findings) {
    io.stderr.write(`warning: ${f.file}: policy ${f.policy ?? '?'}: ${f.field ?? ''}: ${f.message}\n`);
  }
  io.stdout.write(output === 'json' ? renderJsonList(decided) : renderYaml(decided));
  return EXIT_OK;
}

function reportOf(files: string[], decided: readonly DecidedPolicy[], findings: Finding[]): CheckReport {
  return {
    files,
    policies: decided.map((d) => ({
      name: d.name,
      file: d.loaded.source.file,
      document: d.loaded.source.document,
      objects: d.objects.length,
      roleGroups: d.decisions.roleGroups,
      collisions: d.decisions.collisions,
      denied: d.decisions.denied,
      allowAnyUser: d.decisions.grants.anyUser,
    })),
    skipped: [],
    findings,
    errors: findings.filter((f) => f.severity === 'error').length,
    warnings: findings.filter((f) => f.severity === 'warning').length,
    exitCode: EXIT_UNUSABLE,
  };
}
