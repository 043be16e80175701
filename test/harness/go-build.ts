// Builds Go commands from a pinned module in this repo and caches them outside the repo.
// The cache directory is keyed by the module's go.mod/go.sum and the build flags, so a version bump
// rebuilds; builds go to a temp directory that is renamed into place, under a lock, so concurrent
// runs never see (or leave) a half-written cache.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile, access, constants } from 'node:fs/promises';
import { homedir } from 'node:os';
import { HarnessError, runOk } from './run.js';
import { join } from 'node:path';

export interface GoCommand {
  /** Go package path of the main package, e.g. `k8s.io/kubernetes/cmd/kube-apiserver`. */
  pkg: string;
  /** File name of the binary in the cache directory. */
  out: string;
  /** Directory (relative to the module root) to build from, when the command lives in a nested module. */
  moduleSubdir?: string;
  ldflags?: string;
  /** Build tags, comma-separated (e.g. Prometheus's `remove_all_sd`). */
  tags?: string;
}

export interface GoBuildSpec {
  /** Cache directory name prefix, e.g. `k8s-v1.37.2`. */
  name: string;
  /** Absolute path of the Go module that pins the commands. */
  moduleDir: string;
  commands: GoCommand[];
}

export { HarnessError };

export function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'impersonation-operator');
}

async function specKey(spec: GoBuildSpec): Promise<string> {
  const hash = createHash('sha256');
  const dirs = new Set(spec.commands.map((c) => join(spec.moduleDir, c.moduleSubdir ?? '.')));
  for (const dir of [...dirs].sort()) {
    for (const file of ['go.mod', 'go.sum']) {
      const path = join(dir, file);
      hash.update(path.slice(spec.moduleDir.length));
      if (existsSync(path)) hash.update(await readFile(path));
    }
  }
  hash.update(JSON.stringify(spec.commands));
  return hash.digest('hex').slice(0, 12);
}

async function goAvailable(): Promise<boolean> {
  try {
    await runOk('go', ['version'], { cwd: process.cwd() });
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A directory lock: mkdir is atomic; a lock whose owner process is gone is stale and taken over. */
export async function withLock<T>(
  lockDir: string,
  log: (msg: string) => void,
  fn: () => Promise<T>,
): Promise<T> {
  let announced = false;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => '0'));
      if (owner > 0 && !pidAlive(owner)) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (!announced) {
        log(`waiting for another build (pid ${owner || 'unknown'}) holding ${lockDir}`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

async function allExecutable(dir: string, names: string[]): Promise<boolean> {
  try {
    await Promise.all(names.map((n) => access(join(dir, n), constants.X_OK)));
    return true;
  } catch {
    return false;
  }
}

/**
 * Returns the cache directory holding every command of `spec`, building them first if needed.
 * Throws a HarnessError that says what is missing and how to fix it (never hangs on a missing Go).
 */
export async function ensureGoBinaries(
  spec: GoBuildSpec,
  log: (msg: string) => void = (m) => process.stderr.write(`[go-build] ${m}\n`),
): Promise<string> {
  const key = await specKey(spec);
  const dir = join(cacheRoot(), `${spec.name}-${key}`);
  const names = spec.commands.map((c) => c.out);
  if (await allExecutable(dir, names)) return dir;

  if (!(await goAvailable())) {
    throw new HarnessError(
      `Go is required to build ${names.join(', ')} (${spec.name}) once, but \`go\` is not on PATH.\n` +
        'Install Go 1.26+ (https://go.dev/dl/) and make sure the Go module proxy is reachable, ' +
        'or point KUBEBUILDER_ASSETS at a directory holding prebuilt binaries.',
    );
  }
  await mkdir(cacheRoot(), { recursive: true });
  return withLock(`${dir}.lock`, log, async () => {
    if (await allExecutable(dir, names)) return dir; // another process built it meanwhile
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly -buildvcs=false' };
    const started = Date.now();
    log(`building ${names.join(', ')} into ${dir} (first run only; several minutes on 2 cores)`);
    try {
      for (const c of spec.commands) {
        const cwd = join(spec.moduleDir, c.moduleSubdir ?? '.');
        const args = [
          'build',
          '-trimpath',
          ...(c.tags === undefined ? [] : ['-tags', c.tags]),
          '-ldflags',
          `-s -w ${c.ldflags ?? ''}`.trim(),
          '-o',
          join(tmp, c.out),
          c.pkg,
        ];
        const t0 = Date.now();
        await runOk('go', args, { cwd, env });
        log(`built ${c.out} in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
      }
      await writeFile(
        join(tmp, 'BUILD-INFO.json'),
        JSON.stringify(
          { spec, key, builtAt: new Date().toISOString(), seconds: (Date.now() - started) / 1000 },
          null,
          2,
        ),
      );
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err instanceof HarnessError
        ? err
        : new HarnessError(`Go build failed: ${(err as Error).message}`);
    }
    log(`build finished in ${((Date.now() - started) / 1000).toFixed(0)}s`);
    return dir;
  });
}
