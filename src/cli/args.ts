// Argument parsing shared by the kubectl-impersonation subcommands: node:util parseArgs with
// errors turned into usage errors (exit code 2) that say what to type instead.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  DEFAULT_ALLOWED_SYSTEM_IDENTITIES,
  DEFAULT_DENIED_CLUSTER_ROLES,
  DEFAULT_PROTECTED_NAMESPACES,
  type CoreConfig,
} from '../core/config.js';

/** Exit codes shared by every subcommand. */
export const EXIT_OK = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_UNUSABLE = 2;

/** Bad command-line usage: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Where a command writes; injectable so tests can capture output without spawning a process. */
export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
}

export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
}

export type OutputFormat = 'text' | 'json';

type Options = NonNullable<ParseArgsConfig['options']>;

export const OUTPUT_OPTION = {
  output: { type: 'string', short: 'o', default: 'text' },
} as const satisfies Options;
export const HELP_OPTION = {
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies Options;

export function parseCommandArgs<O extends Options>(command: string, args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs messages are already precise ("Unknown option '--foo'..."); keep them, drop the code.
    throw new UsageError(errorMessage(err), command);
  }
}

/** An error's message; duck-typed because errors from node: modules may come from another realm. */
export function errorMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'message' in err) return String(err.message);
  return String(err);
}

export function outputFormat(command: string, value: unknown): OutputFormat {
  if (value === 'text' || value === 'json') return value;
  throw new UsageError(`--output must be "text" or "json", not "${String(value)}"`, command);
}

/** Splits comma-separated list flags and repeated flags into one list (`--x a,b --x c`). */
export function listOption(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const values = Array.isArray(value) ? value : [value];
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

export function writeJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The operator's configuration that changes what policies provision; same names as the operator's flags. */
export const CONFIG_OPTIONS = {
  'denied-cluster-roles': { type: 'string', multiple: true },
  'allowed-system-identities': { type: 'string', multiple: true },
  'protected-namespaces': { type: 'string', multiple: true },
  'allow-any-user': { type: 'boolean' },
  'cluster-roles': { type: 'string' },
} as const satisfies Options;

export const CONFIG_HELP = `Operator configuration (give the values your operator runs with; same names as its flags):
      --denied-cluster-roles LIST       Target ClusterRoles no policy may bind (default:
                                        ${DEFAULT_DENIED_CLUSTER_ROLES.join(',')}). Comma-separated or repeated; "" for none.
      --allowed-system-identities LIST  system: users/groups policies may let impersonators become
                                        (default: ${DEFAULT_ALLOWED_SYSTEM_IDENTITIES.join(',')}). system:masters and * are never allowed.
      --protected-namespaces LIST       Namespaces whose service accounts are never targets (default:
                                        ${DEFAULT_PROTECTED_NAMESPACES.join(',')}; the operator adds its own namespace).
      --allow-any-user                  The operator's opt-in to targets.allowAnyUser (default: off).
      --cluster-roles FILE              The cluster's RBAC (kubectl get clusterroles,clusterrolebindings -o yaml):
                                        bound ClusterRoles are judged by their rules, and targets by the
                                        ClusterRoleBindings that already make them powerful, as the operator
                                        judges them (cluster-admin by another name, missing roles).`;

export function coreConfig(
  command: string,
  values: {
    'denied-cluster-roles'?: string[] | undefined;
    'allowed-system-identities'?: string[] | undefined;
    'protected-namespaces'?: string[] | undefined;
    'allow-any-user'?: boolean | undefined;
  },
): CoreConfig {
  const allowed = listOption(values['allowed-system-identities']) ?? DEFAULT_ALLOWED_SYSTEM_IDENTITIES;
  for (const name of allowed) {
    // The operator refuses these at start-up; so do we.
    if (name === 'system:masters' || name === '*' || !name.startsWith('system:') || name === 'system:') {
      throw new UsageError(
        `--allowed-system-identities: "${name}" is not allowed (names start with "system:"; never system:masters or *)`,
        command,
      );
    }
  }
  return {
    deniedClusterRoles: listOption(values['denied-cluster-roles']) ?? DEFAULT_DENIED_CLUSTER_ROLES,
    allowedSystemIdentities: allowed,
    protectedNamespaces: listOption(values['protected-namespaces']) ?? DEFAULT_PROTECTED_NAMESPACES,
    allowAnyUser: values['allow-any-user'] === true,
  };
}

// ---------------------------------------------------------------------------------------------
// --at: the time check and render judge spec.validFrom/validUntil at (issue 12)

export const AT_OPTION = { at: { type: 'string' } } as const satisfies Options;

export const AT_HELP = `      --at TIME               Judge spec.validFrom/validUntil at this RFC 3339 time (default: now, by this
                              machine's clock; the operator's clock rules in the cluster).`;

/** The time given by --at (RFC 3339 with a zone), or now. */
export function atOption(
  command: string,
  value: string | undefined,
  now: () => Date = () => new Date(),
): Date {
  if (value === undefined) return now();
  const t = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)
    ? Date.parse(value)
    : NaN;
  if (Number.isNaN(t)) {
    throw new UsageError(
      `--at takes an RFC 3339 time with a zone, e.g. 2026-12-24T18:00:00Z, not "${value}"`,
      command,
    );
  }
  return new Date(t);
}
