#!/usr/bin/env node
// Entry point of the `kubectl-impersonation` command (package bin, `npx kubectl-impersonation`, and
// the kubectl plugin `kubectl impersonation ...`): dispatches to render, check and audit.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { errorMessage, EXIT_OK, EXIT_UNUSABLE, processIo, UsageError, type Io } from './args.js';

export const MAIN_HELP = `Usage: kubectl-impersonation <command> [options]
       kubectl impersonation <command> [options]      (as a kubectl plugin)

Offline tools for ImpersonationPolicy (impersonation-operator.io/v1alpha1), built on the
operator's own planning core: what they show is what the operator does.

Commands:
  render <files or folders>   Print the RBAC the operator would generate, as YAML for kubectl apply.
  check <files or folders>    Validate policies; report collisions, denied targets and identities.
  audit <audit log files>     Summarize impersonation in Kubernetes audit logs.

Run "kubectl-impersonation <command> --help" for a command's options.
Exit status: 0 clean, 1 findings, 2 unusable input or bad usage.
`;

type Command = (args: string[], io: Io) => Promise<number>;

// Loaded on demand: `audit` over a large log should not pay for the schema and the core it does
// not use (without --policies).
const COMMANDS: Record<string, () => Promise<Command>> = {
  render: async () => (await import('./render.js')).runRender,
  check: async () => (await import('./check.js')).runCheck,
  audit: async () => (await import('./audit.js')).runAudit,
};

export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const sub = name === 'help' ? rest[0] : undefined;
    const load = sub === undefined ? undefined : COMMANDS[sub];
    if (load) return (await load())(['--help'], io);
    io.stdout.write(MAIN_HELP);
    return name === undefined ? EXIT_UNUSABLE : EXIT_OK;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.stderr.write(`error: unknown command "${name}"\n\n${MAIN_HELP}`);
    return EXIT_UNUSABLE;
  }
  try {
    return await (
      await load()
    )(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(
        `error: ${err.message}\nRun "kubectl-impersonation ${err.command} --help" for usage.\n`,
      );
      return EXIT_UNUSABLE;
    }
    // Not an input problem: a bug. Keep the stack so it can be reported.
    const stack = typeof err === 'object' && err !== null && 'stack' in err ? String(err.stack) : undefined;
    io.stderr.write(`error: ${stack ?? errorMessage(err)}\n`);
    return EXIT_UNUSABLE;
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  // A closed pipe (`... | head`) is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_OK);
    throw err;
  });
  main(process.argv.slice(2), processIo()).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`error: ${String(err)}\n`);
      process.exitCode = EXIT_UNUSABLE;
    },
  );
}
