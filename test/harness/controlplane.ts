// A real, local Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager) for tests
// and for `npm run cluster` / `npm start --local`. Loopback only, free ports, a temp dir, RBAC
// authorization, TokenRequest-capable service-account keys, a Metadata-level JSON audit log, and
// client-certificate identities. Every process is torn down on stop(), and by a watchdog if the
// process that started them dies first.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ensureGoBinaries, HarnessError } from './go-build.js';
import { repoRoot } from './paths.js';
import { runOk } from './run.js';
import { issueClientCert, makeCa, writeKubeconfig, type Ca } from './pki.js';

export const KUBERNETES_VERSION = 'v1.37.2';

export { repoRoot } from './paths.js';

export interface ClusterInfo {
  server: string;
  caFile: string;
  adminKubeconfig: string;
  auditLogPath: string;
  workDir: string;
  version: string;
  binDir: string;
  kubectl: string;
  pids: number[];
}

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
}

const versionFlags = [
  `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
  `-X k8s.io/component-base/version.gitMajor=${KUBERNETES_VERSION.split('.')[0]!.slice(1)}`,
  `-X k8s.io/component-base/version.gitMinor=${KUBERNETES_VERSION.split('.')[1]}`,
  '-X k8s.io/component-base/version.gitTreeState=clean',
].join(' ');

/**
 * Finds the control-plane binaries: from KUBEBUILDER_ASSETS when it holds them (the envtest
 * convention; envtest ships no kube-controller-manager or a recent kubectl, so those are still
 * built), otherwise from the cache, building them from the pinned Go modules on first use.
 */
export async function ensureBinaries(log?: (msg: string) => void): Promise<Binaries> {
  const assets = process.env.KUBEBUILDER_ASSETS;
  const fromAssets = (n: string) => (assets && existsSync(join(assets, n)) ? join(assets, n) : undefined);
  const wanted = {
    kubeApiserver: fromAssets('kube-apiserver'),
    etcd: fromAssets('etcd'),
    kubeControllerManager: fromAssets('kube-controller-manager'),
    kubectl: fromAssets('kubectl'),
  };
  if (assets && !wanted.kubeApiserver) {
    throw new HarnessError(
      `KUBEBUILDER_ASSETS=${assets} has no kube-apiserver; unset it to build from Go modules.`,
    );
  }
  const moduleDir = join(repoRoot, 'test', 'harness', 'k8s-build');
  const k8sCommands = [
    { key: 'kubeApiserver', pkg: 'k8s.io/kubernetes/cmd/kube-apiserver', out: 'kube-apiserver' },
    {
      key: 'kubeControllerManager',
      pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager',
      out: 'kube-controller-manager',
    },
    { key: 'kubectl', pkg: 'k8s.io/kubernetes/cmd/kubectl', out: 'kubectl' },
  ] as const;
  const missingK8s = k8sCommands.filter((c) => !wanted[c.key]);
  if (missingK8s.length > 0) {
    const dir = await ensureGoBinaries(
      {
        name: `k8s-${KUBERNETES_VERSION}`,
        moduleDir,
        commands: missingK8s.map((c) => ({ pkg: c.pkg, out: c.out, ldflags: versionFlags })),
      },
      log,
    );
    for (const c of missingK8s) wanted[c.key] = join(dir, c.out);
  }
  if (!wanted.etcd) {
    const dir = await ensureGoBinaries(
      {
        name: 'etcd-v3.6',
        moduleDir,
        commands: [{ pkg: 'go.etcd.io/etcd/server/v3', out: 'etcd', moduleSubdir: 'etcd' }],
      },
      log,
    );
    wanted.etcd = join(dir, 'etcd');
  }
  return wanted as Binaries;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr ? resolvePort(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

interface Proc {
  name: string;
  child: ChildProcess;
  logPath: string;
  exited: Promise<number | null>;
}

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
`;

/** The watchdog: a detached process that kills the control plane when its parent process disappears. */
const WATCHDOG = `
const [parent, workDir, ...pgids] = process.argv.slice(1).map((v, i) => (i === 1 ? v : Number(v)));
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const killAll = (sig) => { for (const g of pgids) { try { process.kill(-g, sig); } catch {} } };
setInterval(() => {
  if (alive(parent)) return;
  killAll('SIGTERM');
  setTimeout(() => { killAll('SIGKILL'); try { require('node:fs').rmSync(workDir, { recursive: true, force: true }); } catch {} process.exit(0); }, 3000);
}, 500);
`;

/**
 * Starts a detached watchdog that kills the process groups `pgids` (and removes `removeDir`) once
 * this process is gone, however it ended. Kill the returned process when the groups were stopped.
 */
export function spawnWatchdog(pgids: readonly number[], removeDir?: string): ChildProcess {
  const watchdog = spawn(
    process.execPath,
    ['-e', WATCHDOG, String(process.pid), removeDir ?? '/nonexistent-keep', ...pgids.map(String)],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
  return watchdog;
}

export interface StartOptions {
  log?: (msg: string) => void;
  /** Keep the work dir after stop (logs, audit log) for debugging. */
  keepWorkDir?: boolean;
  /**
   * Apply these CRD files/directories during start-up, before kube-controller-manager starts (its
   * garbage collector otherwise learns about a new resource only on its 30s discovery resync).
   */
  crds?: string[];
  /** Extra kube-apiserver flags, e.g. --feature-gates=ConstrainedImpersonation=false. */
  apiServerArgs?: string[];
}

export class ControlPlane {
  private procs: Proc[] = [];
  private watchdog?: ChildProcess;
  private ca?: Ca;
  info?: ClusterInfo;

  private constructor(
    private readonly bins: Binaries,
    private readonly workDir: string,
    private readonly log: (msg: string) => void,
    private readonly keepWorkDir: boolean,
  ) {}

  /** Builds (if needed) and starts a control plane; retries on a port clash. */
  static async start(opts: StartOptions = {}): Promise<ControlPlane> {
    const log = opts.log ?? ((m: string) => process.stderr.write(`[controlplane] ${m}\n`));
    const bins = await ensureBinaries(log);
    let lastError: unknown;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const workDir = await mkdtemp(join(tmpdir(), 'impop-cp-'));
      const cp = new ControlPlane(bins, workDir, log, opts.keepWorkDir ?? false);
      try {
        await cp.boot(opts.crds ?? [], opts.apiServerArgs ?? []);
        return cp;
      } catch (err) {
        lastError = err;
        await cp.stop();
        if (!(err instanceof PortClash)) throw err;
        log(`port clash (${err.message}); retrying with new ports`);
      }
    }
    throw lastError;
  }

  private spawnProc(name: string, bin: string, args: string[]): Proc {
    const logPath = join(this.workDir, `${name}.log`);
    const out = createWriteStream(logPath);
    const child = spawn(bin, args, { cwd: this.workDir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    child.on('error', (err) => out.write(`spawn error: ${err.message}\n`));
    const proc = { name, child, logPath, exited };
    this.procs.push(proc);
    return proc;
  }

  private async waitHealthy(proc: Proc, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void proc.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) {
        const tail = await this.tail(proc);
        if (/address already in use/i.test(tail)) throw new PortClash(`${proc.name}: address already in use`);
        throw new HarnessError(
          `${proc.name} exited during start-up. Last log lines (${proc.logPath}):\n${tail}`,
        );
      }
      if (await check().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new HarnessError(
      `${proc.name} was not healthy after ${timeoutMs / 1000}s. Last log lines (${proc.logPath}):\n${await this.tail(proc)}`,
    );
  }

  private async tail(proc: Proc): Promise<string> {
    const text = await readFile(proc.logPath, 'utf8').catch(() => '');
    return text.split('\n').slice(-25).join('\n');
  }

  private startWatchdog(): void {
    const pgids = this.procs.map((p) => p.child.pid).filter((p): p is number => typeof p === 'number');
    this.watchdog?.kill('SIGKILL');
    this.watchdog = spawnWatchdog(pgids, this.keepWorkDir ? undefined : this.workDir);
  }

  private async boot(crds: readonly string[], apiServerArgs: readonly string[]): Promise<void> {
    const w = this.workDir;
    const pki = join(w, 'pki');
    await mkdir(pki, { recursive: true });
    this.ca = await makeCa(pki);
    const serving = await issueClientCert(
      this.ca,
      join(pki, 'apiserver'),
      'kube-apiserver',
      [],
      ['IP:127.0.0.1', 'DNS:localhost'],
    );
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(pki, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(join(pki, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(join(w, 'audit-policy.yaml'), AUDIT_POLICY);

    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcd = this.spawnProc('etcd', this.bins.etcd, [
      '--name=impop',
      `--data-dir=${join(w, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=impop=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    this.startWatchdog();
    await this.waitHealthy(etcd, () => httpGetOk(`http://127.0.0.1:${etcdPort}/health`), 30_000);

    const auditLogPath = join(w, 'audit.log');
    const apiserver = this.spawnProc('kube-apiserver', this.bins.kubeApiserver, [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(w, 'apiserver-certs')}`,
      `--tls-cert-file=${serving.certFile}`,
      `--tls-private-key-file=${serving.keyFile}`,
      `--client-ca-file=${this.ca.certFile}`,
      '--authorization-mode=RBAC',
      // As hardened clusters do: setting blockOwnerDeletion needs update on the owner's finalizers.
      '--enable-admission-plugins=OwnerReferencesPermissionEnforcement',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      `--audit-policy-file=${join(w, 'audit-policy.yaml')}`,
      `--audit-log-path=${auditLogPath}`,
      '--audit-log-format=json',
      '--audit-log-mode=blocking',
      // Never rotate (0 would mean the log library's default, 100 MB): the readers of this log (the
      // tests' audit assertions, the benchmark's request counts) see one file from the start.
      '--audit-log-maxsize=1000000',
      '--profiling=false',
      '--endpoint-reconciler-type=none',
      ...apiServerArgs,
    ]);
    this.startWatchdog();

    const admin = await issueClientCert(this.ca, join(pki, 'admin'), 'impop-admin', ['system:masters']);
    const server = `https://127.0.0.1:${apiPort}`;
    const adminKubeconfig = join(w, 'admin.kubeconfig');
    await writeKubeconfig(adminKubeconfig, server, this.ca.certFile, { user: 'impop-admin', ...admin });
    await this.waitHealthy(
      apiserver,
      () => httpsGetOk(`${server}/readyz`, this.ca!.certFile, admin.certFile, admin.keyFile),
      120_000,
    );

    this.info = {
      server,
      caFile: this.ca.certFile,
      adminKubeconfig,
      auditLogPath,
      workDir: w,
      version: KUBERNETES_VERSION,
      binDir: dirname(this.bins.kubectl),
      kubectl: this.bins.kubectl,
      pids: [],
    };
    // CRDs before kube-controller-manager: its garbage collector then knows them from its first
    // discovery instead of its next 30s resync.
    for (const path of crds) await this.applyCrds(path);

    // kube-controller-manager: the garbage collector (owner references), namespace deletion, the
    // aggregated ClusterRoles (view/edit/admin have no rules without it) and the
    // default ServiceAccount per namespace; nothing else is needed by the operator's tests.
    const kcm = await issueClientCert(this.ca, join(pki, 'kcm'), 'system:kube-controller-manager', [
      'system:masters',
    ]);
    const kcmKubeconfig = join(w, 'kcm.kubeconfig');
    await writeKubeconfig(kcmKubeconfig, server, this.ca.certFile, {
      user: 'system:kube-controller-manager',
      ...kcm,
    });
    const controllerManager = this.spawnProc('kube-controller-manager', this.bins.kubeControllerManager, [
      `--kubeconfig=${kcmKubeconfig}`,
      `--authentication-kubeconfig=${kcmKubeconfig}`,
      `--authorization-kubeconfig=${kcmKubeconfig}`,
      '--controllers=garbagecollector,namespace,serviceaccount,clusterrole-aggregation',
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${await freePort()}`,
      `--cert-dir=${join(w, 'kcm-certs')}`,
      '--use-service-account-credentials=false',
      '--concurrent-gc-syncs=20',
    ]);
    this.startWatchdog();
    // Give it a moment to fail fast on bad flags or a port clash.
    await new Promise((r) => setTimeout(r, 1500));
    if (controllerManager.child.exitCode !== null) {
      const tail = await this.tail(controllerManager);
      if (/address already in use/i.test(tail))
        throw new PortClash('kube-controller-manager: address already in use');
      throw new HarnessError(`kube-controller-manager exited during start-up:\n${tail}`);
    }

    this.info.pids = this.procs.map((p) => p.child.pid ?? 0);
    await writeFile(join(w, 'cluster-info.json'), JSON.stringify(this.info, null, 2));
    this.log(`control plane ${KUBERNETES_VERSION} ready at ${server} (work dir ${w})`);
  }

  /** Server-side applies CRDs with the matching kubectl and waits until they are Established. */
  async applyCrds(path: string): Promise<void> {
    const kubectl = (args: string[]) =>
      runOk(this.bins.kubectl, ['--kubeconfig', this.info!.adminKubeconfig, ...args]);
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', path]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', path]);
  }

  get infoPath(): string {
    return join(this.workDir, 'cluster-info.json');
  }

  /**
   * Restarts kube-apiserver in place (same flags and port), for fault-injection tests. It is killed
   * (a crash), not terminated: a graceful kube-apiserver shutdown drains for up to a minute.
   */
  async restartApiserver(downtimeMs = 1000): Promise<void> {
    const proc = this.procs.find((p) => p.name === 'kube-apiserver');
    if (!proc || !this.info || !this.ca) throw new HarnessError('control plane not running');
    const args = proc.child.spawnargs.slice(1);
    proc.child.kill('SIGKILL');
    await proc.exited;
    this.procs = this.procs.filter((p) => p !== proc);
    await new Promise((r) => setTimeout(r, downtimeMs));
    const next = this.spawnProc('kube-apiserver', this.bins.kubeApiserver, args);
    this.startWatchdog();
    const admin = {
      certFile: join(this.workDir, 'pki', 'admin.crt'),
      keyFile: join(this.workDir, 'pki', 'admin.key'),
    };
    await this.waitHealthy(
      next,
      () => httpsGetOk(`${this.info!.server}/readyz`, this.ca!.certFile, admin.certFile, admin.keyFile),
      120_000,
    );
  }

  /** Stops every process (SIGTERM, then SIGKILL after 10s) and removes the work dir. */
  async stop(): Promise<void> {
    const procs = [...this.procs].reverse();
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.signalCode === null && p.child.pid) {
        try {
          process.kill(-p.child.pid, 'SIGTERM');
        } catch {
          /* already gone */
        }
      }
    }
    await Promise.all(
      procs.map(async (p) => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) return;
        const timer = setTimeout(() => {
          try {
            if (p.child.pid) process.kill(-p.child.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }, 10_000);
        await p.exited;
        clearTimeout(timer);
      }),
    );
    this.procs = [];
    this.watchdog?.kill('SIGKILL');
    if (!this.keepWorkDir) await rm(this.workDir, { recursive: true, force: true });
  }
}

class PortClash extends HarnessError {}

function httpGetOk(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok);
}

function httpsGetOk(url: string, caFile: string, certFile: string, keyFile: string): Promise<boolean> {
  return new Promise((res) => {
    const req = request(
      url,
      {
        ca: readFileSync(caFile),
        cert: readFileSync(certFile),
        key: readFileSync(keyFile),
        timeout: 3000,
      },
      (resp) => {
        resp.resume();
        res(resp.statusCode === 200);
      },
    );
    req.on('error', () => res(false));
    req.on('timeout', () => {
      req.destroy();
      res(false);
    });
    req.end();
  });
}
