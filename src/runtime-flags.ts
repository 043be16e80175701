// The V8 flags the operator runs with, defined once, and the relaunch that applies them wherever it
// is started (`node dist/src/main.js`, the package bin, the image, `npm start`, the tests and the
// benchmark): V8 sizes its heap when the process starts, so the flags cannot be set from inside, and
// NODE_OPTIONS refuses most V8 flags. Measured in bench/README.md ("Memory").
//
// IMPERSONATION_OPERATOR_NODE_FLAGS replaces the list (space-separated; empty: none). A flag given
// on the command line already (also through NODE_OPTIONS) is not added again, so an explicit
// `node --max-semi-space-size=16 dist/src/main.js` wins.

export const RUNTIME_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];

/**
 * glibc's malloc otherwise keeps an arena per thread (V8's and libuv's workers): one arena is
 * ~10 MB less RSS at 1,000 policies. Set in the relaunched process unless already set.
 */
export const RUNTIME_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

export const FLAGS_ENV = 'IMPERSONATION_OPERATOR_NODE_FLAGS';
/** Set in the relaunched process, so a flag the runtime drops can never cause a relaunch loop. */
const RELAUNCHED_ENV = 'IMPERSONATION_OPERATOR_RELAUNCHED';

const flagName = (flag: string): string => flag.split('=')[0]!.replace(/_/g, '-');

/** The flags of `wanted` that neither `execArgv` nor `nodeOptions` already names. */
export function missingFlags(
  wanted: readonly string[],
  execArgv: readonly string[],
  nodeOptions = '',
): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter(Boolean).map(flagName));
  return wanted.filter((flag) => !given.has(flagName(flag)));
}

/** The flags to run with: the env's list, else RUNTIME_FLAGS. */
export function wantedFlags(env: NodeJS.ProcessEnv): string[] {
  const override = env[FLAGS_ENV];
  if (override === undefined) return [...RUNTIME_FLAGS];
  return override.split(/\s+/).filter(Boolean);
}

/**
 * Replaces this process (same pid, so signals and supervisors are unaffected) with one that has the
 * runtime flags, when any is missing. Returns only when nothing is to be done (or no execve exists).
 */
export function relaunchWithRuntimeFlags(): void {
  const env = process.env;
  if (env[RELAUNCHED_ENV] === '1' || typeof process.execve !== 'function') return;
  const missing = missingFlags(wantedFlags(env), process.execArgv, env.NODE_OPTIONS);
  if (missing.length === 0) return;
  const script = process.argv[1];
  if (script === undefined) return;
  process.execve(
    process.execPath,
    [process.execPath, ...missing, ...process.execArgv, script, ...process.argv.slice(2)],
    { ...RUNTIME_ENV, ...env, [RELAUNCHED_ENV]: '1' },
  );
}
