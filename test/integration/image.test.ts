// The container image's runtime stage, without Docker: production dependencies only, installed from
// the lock file into a clean directory next to the built dist/src (what the Dockerfile's `deps` and
// runtime stages copy), started with Node 24. Catches a dependency that only exists as a dev
// dependency, a broken entry point, and chart arguments the operator's flag parser would refuse.
// Needs `npm run build` first (npm run test:integration does it) and the npm registry (or npm's cache).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { freePort, repoRoot } from '../harness/controlplane.js';
import { installOperatorRbac, type OperatorRbac } from '../harness/operator-rbac.js';
import { kubectlOk } from '../harness/kubectl.js';
import { RUNTIME_FLAGS } from '../../src/runtime-flags.js';
import { helmTemplateOk, run } from '../harness/tools.js';

const ENTRY = join('dist', 'src', 'main.js');
/** The image's user (distroless nonroot). When the tests run as root, the operator runs as this UID. */
const RUNTIME_UID = 65532;
const asRuntimeUser = process.getuid?.() === 0;

interface Running {
  pid: number | undefined;
  code: Promise<number | null>;
  output: () => string;
  stop: () => void;
}

function start(appDir: string, args: string[], env: NodeJS.ProcessEnv = {}): Running {
  // process.execPath is Node 24 here (jest runs under the `node` devDependency), as in the image.
  const child = spawn(process.execPath, [ENTRY, ...args], {
    cwd: appDir,
    // Only what the image sets: no NODE_PATH, nothing from this checkout.
    env: { PATH: '/usr/bin:/bin', NODE_ENV: 'production', HOME: appDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(asRuntimeUser ? { uid: RUNTIME_UID, gid: RUNTIME_UID } : {}),
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return {
    pid: child.pid,
    code: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    output: () => output,
    stop: () => child.kill('SIGTERM'),
  };
}

async function httpStatus(url: string): Promise<number> {
  try {
    return (await fetch(url)).status;
  } catch {
    return 0;
  }
}

describe('container runtime stage (production dependencies only)', () => {
  let appDir: string;

  beforeAll(async () => {
    if (!existsSync(join(repoRoot, ENTRY))) {
      throw new Error(`${ENTRY} is missing: run \`npm run build\` first (npm run test:integration does).`);
    }
    appDir = await mkdtemp(join(tmpdir(), 'impop-image-'));
    for (const f of ['package.json', 'package-lock.json']) await cp(join(repoRoot, f), join(appDir, f));
    // The Dockerfile's deps stage, verbatim.
    const install = await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: appDir,
    });
    if (install.code !== 0) throw new Error(`npm ci --omit=dev failed:\n${install.stderr}`);
    await cp(join(repoRoot, 'dist', 'src'), join(appDir, 'dist', 'src'), { recursive: true });
    await cp(join(repoRoot, 'crds'), join(appDir, 'crds'), { recursive: true });
    // As in the image: files owned by root, readable but not writable by the operator's user.
    await run('chmod', ['-R', 'a+rX,go-w', appDir]);
  }, 10 * 60_000);

  afterAll(async () => {
    if (appDir) await rm(appDir, { recursive: true, force: true });
  });

  it('reproduces the Dockerfile: same install command, entry point, numeric non-root user, existing sources', async () => {
    const dockerfile = await readFile(join(repoRoot, 'Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    const runtime = stages.at(-1)!;
    expect(dockerfile).toContain('RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund');
    expect(runtime).toMatch(/^ENTRYPOINT \["\/nodejs\/bin\/node", "dist\/src\/main\.js"\]$/m);
    expect(runtime).toMatch(/^USER 65532:65532$/m);
    expect(runtime).not.toMatch(/^RUN /m); // distroless: no shell at run time
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^ARG RUNTIME_IMAGE=gcr\.io\/distroless\/nodejs24-debian12:nonroot$/m);
    // Every COPY from the build context names something that exists and .dockerignore lets through.
    const ignore = await readFile(join(repoRoot, '.dockerignore'), 'utf8');
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(?:--chown=\S+ )?(.+) \S+$/gm)].flatMap((m) =>
      m[1]!.split(' '),
    );
    expect(new Set(sources)).toEqual(
      new Set(['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'crds']),
    );
    for (const source of sources) {
      expect([source, existsSync(join(repoRoot, source))]).toEqual([source, true]);
      expect([source, ignore.includes(`!${source}`)]).toEqual([source, true]);
    }
  });

  it('installs no dev-only package (per the lock file)', async () => {
    const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && entry.dev === true)
      .map(([path]) => path);
    expect(devOnly).toEqual(
      expect.arrayContaining(['node_modules/typescript', 'node_modules/jest', 'node_modules/node']),
    );
    expect(devOnly.filter((path) => existsSync(join(appDir, path)))).toEqual([]);
  });

  it('starts the entry point with --help and exits 0', async () => {
    const p = start(appDir, ['--help']);
    expect(await p.code).toBe(0);
    expect(p.output()).toContain('Usage: impersonation-operator');
  });

  it('exits non-zero with a clear message on a bad flag', async () => {
    const p = start(appDir, ['--no-such-flag']);
    expect(await p.code).toBe(2);
    expect(p.output()).toMatch(/Unknown option '--no-such-flag'/);
  });

  it('accepts every argument the chart passes (flags named in --help, values parsed)', async () => {
    const rendered = await helmTemplateOk({
      values: { operator: { leaderElection: { enabled: false } } },
      flags: ['--show-only', 'templates/deployment.yaml'],
    });
    const [deployment] = loadAll(rendered) as [
      { spec: { template: { spec: { containers: { args: string[] }[] } } } },
    ];
    const args = deployment.spec.template.spec.containers[0]!.args.map((a) =>
      a.replace('$(POD_NAMESPACE)', 'impersonation-operator'),
    );
    const help = start(appDir, ['--help']);
    await help.code;
    for (const arg of args) {
      const flag = arg.replace(/=.*$/, '');
      expect([arg, help.output().includes(flag)]).toEqual([arg, true]);
    }
    // With the chart's arguments and no reachable cluster it must fail on the cluster (exit 1),
    // not on its configuration (exit 2).
    const p = start(appDir, [...args, '--kubeconfig=/nonexistent/kubeconfig']);
    const timer = setTimeout(p.stop, 15_000);
    const code = await p.code;
    clearTimeout(timer);
    expect(p.output()).not.toMatch(/invalid configuration/);
    expect(code).not.toBe(2);
  });

  describe("running as the chart's ServiceAccount against the local control plane", () => {
    let rbac: OperatorRbac | undefined;
    let credentials: string | undefined;
    afterAll(async () => {
      await rbac?.uninstall();
      if (credentials) await rm(credentials, { recursive: true, force: true });
    });

    it('becomes ready as a standby (as UID 65532 when run as root), serves /metrics, and shuts down cleanly on SIGTERM', async () => {
      rbac = await installOperatorRbac({ impersonate: { users: ['image-test@example.com'] } });
      // A kubeconfig the runtime user may read (the harness writes its files 0600 for root).
      const kubeconfig = JSON.parse(await readFile(await rbac.kubeconfig(), 'utf8')) as {
        clusters: { cluster: { 'certificate-authority'?: string; 'certificate-authority-data'?: string } }[];
      };
      for (const { cluster } of kubeconfig.clusters) {
        cluster['certificate-authority-data'] = (await readFile(cluster['certificate-authority']!)).toString(
          'base64',
        );
        delete cluster['certificate-authority'];
      }
      credentials = await mkdtemp(join(tmpdir(), 'impop-image-kubeconfig-'));
      await chmod(credentials, 0o755);
      const kubeconfigPath = join(credentials, 'kubeconfig');
      await writeFile(kubeconfigPath, JSON.stringify(kubeconfig), { mode: 0o644 });
      // Another replica holds the Lease, so this one is a standby (like the chart's second replica):
      // it syncs its caches and turns ready but never writes, which keeps it out of the way of the
      // other tests' operators and policies in this shared control plane.
      const renewTime = new Date().toISOString().replace(/Z$/, '000Z');
      await kubectlOk(['apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: rbac.release, namespace: rbac.namespace },
          spec: {
            holderIdentity: 'the-leader',
            leaseDurationSeconds: 3600,
            acquireTime: renewTime,
            renewTime,
          },
        }),
      });
      const [metrics, probes] = [await freePort(), await freePort()];
      const p = start(
        appDir,
        [
          '--leader-elect',
          `--leader-election-namespace=${rbac.namespace}`,
          `--leader-election-lease-name=${rbac.release}`,
          `--metrics-bind-address=127.0.0.1:${metrics}`,
          `--health-probe-bind-address=127.0.0.1:${probes}`,
          `--kubeconfig=${kubeconfigPath}`,
        ],
        { POD_NAME: 'image-test-0' },
      );
      let exited = false;
      void p.code.then(() => (exited = true));
      try {
        const deadline = Date.now() + 60_000;
        while (
          Date.now() < deadline &&
          !exited &&
          (await httpStatus(`http://127.0.0.1:${probes}/readyz`)) !== 200
        ) {
          await new Promise((r) => setTimeout(r, 250));
        }
        expect([exited, p.output().slice(-2000)]).toEqual([false, expect.any(String)]);
        expect(await httpStatus(`http://127.0.0.1:${probes}/readyz`)).toBe(200);
        expect(await httpStatus(`http://127.0.0.1:${probes}/healthz`)).toBe(200);
        const body = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
        expect(body).toMatch(/^# HELP /m);
        // Started as `node dist/src/main.js`, it relaunched itself (same pid) with the runtime flags.
        const cmdline = (await readFile(`/proc/${p.pid}/cmdline`, 'utf8')).split('\0');
        expect(cmdline.slice(1, 1 + RUNTIME_FLAGS.length)).toEqual(RUNTIME_FLAGS);
        expect(cmdline.some((arg) => arg.endsWith(ENTRY))).toBe(true);
        // Nothing the chart's identity lacks was needed: no "forbidden" in the logs.
        expect(p.output()).not.toMatch(/forbidden/i);
        const holder = await kubectlOk([
          'get',
          'lease',
          rbac.release,
          '-n',
          rbac.namespace,
          '-o',
          'jsonpath={.spec.holderIdentity}',
        ]);
        expect(holder).toBe('the-leader');
      } finally {
        p.stop();
      }
      expect(await p.code).toBe(0);
    });
  });
});
