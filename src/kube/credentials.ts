// Who we are and where the API server is: server URL, TLS material and auth headers, from a kubeconfig
// file (KUBECONFIG list, ~/.kube/config) or the in-cluster service account.
//
// Why not client-node's KubeConfig for the operator: importing @kubernetes/client-node loads every
// generated model and API class, ~90 MB of RSS before the first object is cached, which alone breaks the
// operator's < 100 MB budget. This loader covers what an operator meets (client certificates, bearer
// tokens, token files, exec plugins, in-cluster) with js-yaml only; kubeconfigs using the legacy
// `auth-provider` plugins (oidc, azure, gcp) are handed to client-node, imported only then.
// `credentialsFromKubeConfig` adapts an already loaded client-node KubeConfig (tests, tools).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { load as loadYaml } from 'js-yaml';

export interface TlsMaterial {
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  rejectUnauthorized?: boolean | undefined;
  servername?: string | undefined;
}

/** Header values; an array becomes repeated header lines (Impersonate-Group). */
export type AuthHeaders = Record<string, string | string[]>;

export type CredentialSource = 'file' | 'KUBECONFIG' | 'home' | 'in-cluster' | 'client-node';

export interface ClusterCredentials {
  readonly server: string;
  readonly tls: TlsMaterial;
  readonly source: CredentialSource;
  /** The context's namespace (or the pod's, in a cluster). */
  readonly namespace: string | undefined;
  /** Headers for the next request; tokens from files and plugins are cached and refreshed. */
  headers(): Promise<AuthHeaders>;
  /** Called after a 401: drops cached tokens. Resolves true if a retry can use a different credential. */
  invalidate(): Promise<boolean>;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Where credentials would come from, without loading them; undefined when nothing is configured. */
export function credentialSource(
  kubeconfig?: string,
  env: Record<string, string | undefined> = process.env,
): CredentialSource | undefined {
  if (kubeconfig) return 'file';
  if (env.KUBECONFIG) return 'KUBECONFIG';
  if (existsSync(join(env.HOME || homedir(), '.kube', 'config'))) return 'home';
  if (env.KUBERNETES_SERVICE_HOST && existsSync(join(SA_DIR, 'token'))) return 'in-cluster';
  return undefined;
}

// --- kubeconfig file model (only the fields we use) ---

interface NamedCluster {
  name: string;
  cluster: {
    server: string;
    'certificate-authority'?: string;
    'certificate-authority-data'?: string;
    'insecure-skip-tls-verify'?: boolean;
    'tls-server-name'?: string;
    'proxy-url'?: string;
  };
}
interface ExecConfig {
  apiVersion?: string;
  command: string;
  args?: string[];
  env?: { name: string; value: string }[] | null;
  provideClusterInfo?: boolean;
}
interface NamedUser {
  name: string;
  user: {
    'client-certificate'?: string;
    'client-certificate-data'?: string;
    'client-key'?: string;
    'client-key-data'?: string;
    token?: string;
    tokenFile?: string;
    username?: string;
    password?: string;
    as?: string;
    'as-groups'?: string[];
    exec?: ExecConfig;
    'auth-provider'?: unknown;
  };
}
interface NamedContext {
  name: string;
  context: { cluster: string; user: string; namespace?: string };
}
interface KubeconfigFile {
  clusters?: NamedCluster[] | null;
  users?: NamedUser[] | null;
  contexts?: NamedContext[] | null;
  'current-context'?: string;
}

/** Entries of one kubeconfig, with relative file references resolved against its directory. */
function readKubeconfig(path: string): KubeconfigFile {
  const parsed = (loadYaml(readFileSync(path, 'utf8')) ?? {}) as KubeconfigFile;
  const dir = dirname(path);
  const abs = (p: string | undefined): string | undefined => (p && !isAbsolute(p) ? join(dir, p) : p);
  for (const c of parsed.clusters ?? []) {
    if (c.cluster) c.cluster['certificate-authority'] = abs(c.cluster['certificate-authority']);
  }
  for (const u of parsed.users ?? []) {
    if (!u.user) continue;
    u.user['client-certificate'] = abs(u.user['client-certificate']);
    u.user['client-key'] = abs(u.user['client-key']);
    u.user.tokenFile = abs(u.user.tokenFile);
  }
  return parsed;
}

/** KUBECONFIG semantics: the first file to define a name or a current-context wins. */
function mergeKubeconfigs(files: KubeconfigFile[]): KubeconfigFile {
  const firstByName = <T extends { name: string }>(lists: (T[] | null | undefined)[]): T[] => {
    const byName = new Map<string, T>();
    for (const list of lists)
      for (const item of list ?? []) if (!byName.has(item.name)) byName.set(item.name, item);
    return [...byName.values()];
  };
  return {
    clusters: firstByName(files.map((f) => f.clusters)),
    users: firstByName(files.map((f) => f.users)),
    contexts: firstByName(files.map((f) => f.contexts)),
    'current-context': files.map((f) => f['current-context']).find((c) => c),
  };
}

function bytes(file: string | undefined, data: string | undefined): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (file) return readFileSync(file);
  return undefined;
}

/** Re-reads a token file at most once a minute (client-go's cached token source). */
function tokenFileSource(path: string): { get(): Promise<string>; drop(): void } {
  let token: string | undefined;
  let readAt = 0;
  return {
    async get() {
      if (token === undefined || Date.now() - readAt > 60_000) {
        token = (await readFile(path, 'utf8')).trim();
        readAt = Date.now();
      }
      return token;
    },
    drop() {
      token = undefined;
    },
  };
}

interface ExecCredential {
  status?: { token?: string; expirationTimestamp?: string; clientCertificateData?: string };
}

/** Runs a client.authentication.k8s.io exec plugin and caches its token until it expires. */
function execSource(exec: ExecConfig, server: string): { get(): Promise<string>; drop(): void } {
  let cached: { token: string; expires: number } | undefined;
  let running: Promise<string> | undefined;
  const run = (): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const e of exec.env ?? []) env[e.name] = e.value;
      const apiVersion = exec.apiVersion ?? 'client.authentication.k8s.io/v1';
      env.KUBERNETES_EXEC_INFO = JSON.stringify({
        apiVersion,
        kind: 'ExecCredential',
        spec: { interactive: false, ...(exec.provideClusterInfo ? { cluster: { server } } : {}) },
      });
      const child = spawn(exec.command, exec.args ?? [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', (e) => reject(new Error(`exec credential plugin ${exec.command}: ${e.message}`)));
      child.on('close', (code) => {
        if (code !== 0) {
          return reject(new Error(`exec credential plugin ${exec.command} exited ${code}: ${err.trim()}`));
        }
        try {
          const cred = JSON.parse(out) as ExecCredential;
          if (cred.status?.clientCertificateData) {
            return reject(
              new Error(
                `exec plugin ${exec.command} returned a client certificate; only tokens are supported`,
              ),
            );
          }
          const token = cred.status?.token;
          if (!token) return reject(new Error(`exec credential plugin ${exec.command} returned no token`));
          const expiry = cred.status?.expirationTimestamp
            ? Date.parse(cred.status.expirationTimestamp)
            : Infinity;
          cached = { token, expires: expiry - 10_000 };
          resolve(token);
        } catch (e) {
          reject(
            new Error(`exec credential plugin ${exec.command} printed invalid JSON: ${(e as Error).message}`),
          );
        }
      });
    });
  return {
    async get() {
      if (cached && Date.now() < cached.expires) return cached.token;
      running ??= run().finally(() => (running = undefined));
      return running;
    },
    drop() {
      cached = undefined;
    },
  };
}

function fromParts(args: {
  server: string;
  tls: TlsMaterial;
  source: CredentialSource;
  namespace: string | undefined;
  staticHeaders: AuthHeaders;
  token?: { get(): Promise<string>; drop(): void } | undefined;
}): ClusterCredentials {
  const { token, staticHeaders } = args;
  return {
    server: args.server.replace(/\/+$/, ''),
    tls: args.tls,
    source: args.source,
    namespace: args.namespace,
    async headers() {
      return token ? { ...staticHeaders, Authorization: `Bearer ${await token.get()}` } : staticHeaders;
    },
    async invalidate() {
      if (!token) return false;
      token.drop();
      return true;
    },
  };
}

/** The namespace the operator's pod runs in, if it runs in a cluster. */
export function inClusterNamespace(): string | undefined {
  try {
    return readFileSync(join(SA_DIR, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function inClusterCredentials(env: Record<string, string | undefined>): ClusterCredentials {
  const host = env.KUBERNETES_SERVICE_HOST!;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const namespace = inClusterNamespace();
  return fromParts({
    server: `https://${hostPart}:${port}`,
    tls: { ca: readFileSync(join(SA_DIR, 'ca.crt')) },
    source: 'in-cluster',
    namespace,
    staticHeaders: {},
    token: tokenFileSource(join(SA_DIR, 'token')),
  });
}

/**
 * Loads credentials: `kubeconfig` if given, else KUBECONFIG, ~/.kube/config, else in-cluster. Throws when
 * none is configured (no silent fallback to localhost) or the context does not exist.
 */
export async function loadCredentials(
  opts: { kubeconfig?: string | undefined; context?: string | undefined } = {},
  env: Record<string, string | undefined> = process.env,
): Promise<ClusterCredentials> {
  const source = credentialSource(opts.kubeconfig, env);
  if (!source)
    throw new Error('no Kubernetes cluster configured: set --kubeconfig or KUBECONFIG, or run in a cluster');
  if (source === 'in-cluster') return inClusterCredentials(env);
  const paths =
    source === 'file'
      ? [opts.kubeconfig!]
      : source === 'KUBECONFIG'
        ? env.KUBECONFIG!.split(delimiter).filter((p) => p !== '' && existsSync(p))
        : [join(env.HOME || homedir(), '.kube', 'config')];
  if (paths.length === 0) throw new Error(`none of the files in KUBECONFIG exists: ${env.KUBECONFIG}`);
  const config = mergeKubeconfigs(paths.map(readKubeconfig));
  const contextName = opts.context ?? config['current-context'];
  if (!contextName)
    throw new Error(`kubeconfig ${paths.join(delimiter)} has no current-context; pass --context`);
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw new Error(`kubeconfig has no context named ${contextName}`);
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`kubeconfig context ${contextName} names no cluster with a server`);
  const user = config.users?.find((u) => u.name === context.user)?.user ?? {};

  if (user['auth-provider'] || cluster['proxy-url']) {
    // Legacy auth-provider plugins and proxies: let client-node handle them (and pay for its size).
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    if (source === 'file') kc.loadFromFile(opts.kubeconfig!);
    else kc.loadFromDefault();
    kc.setCurrentContext(contextName);
    return credentialsFromKubeConfig(kc);
  }
  if (cluster.server.startsWith('http:') && !cluster['insecure-skip-tls-verify']) {
    throw new Error(`refusing plain HTTP to ${cluster.server}: set insecure-skip-tls-verify to allow it`);
  }

  const tls: TlsMaterial = {
    ca: bytes(cluster['certificate-authority'], cluster['certificate-authority-data']),
    cert: bytes(user['client-certificate'], user['client-certificate-data']),
    key: bytes(user['client-key'], user['client-key-data']),
    rejectUnauthorized: cluster['insecure-skip-tls-verify'] ? false : undefined,
    servername: cluster['tls-server-name'],
  };
  const staticHeaders: AuthHeaders = {};
  if (user.token) staticHeaders.Authorization = `Bearer ${user.token}`;
  else if (user.username !== undefined && user.password !== undefined) {
    staticHeaders.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
  }
  if (user.as) staticHeaders['Impersonate-User'] = user.as;
  if (user['as-groups']?.length) staticHeaders['Impersonate-Group'] = [...user['as-groups']];
  const token = user.token
    ? undefined
    : user.exec
      ? execSource(user.exec, cluster.server)
      : user.tokenFile
        ? tokenFileSource(user.tokenFile)
        : undefined;
  return fromParts({
    server: cluster.server,
    tls,
    source,
    namespace: context.namespace,
    staticHeaders,
    token,
  });
}

/**
 * Adapts a client-node KubeConfig (as the test harness provides). Its authenticators resolve headers;
 * with exec or auth-provider users they are asked again every minute and after a 401.
 */
export async function credentialsFromKubeConfig(kc: KubeConfig): Promise<ClusterCredentials> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster (check the current context)');
  if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
    throw new Error(`refusing plain HTTP to ${cluster.server}: set insecure-skip-tls-verify to allow it`);
  }
  const user = kc.getCurrentUser();
  const dynamic = Boolean(user?.exec || user?.authProvider);
  const resolve = async (): Promise<{ headers: AuthHeaders; tls: TlsMaterial }> => {
    const opts: import('node:https').RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const headers: AuthHeaders = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.map(String) : String(v);
    }
    if (opts.auth) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    const tls: TlsMaterial = {
      ca: opts.ca as Buffer | undefined,
      cert: opts.cert as Buffer | undefined,
      key: opts.key as Buffer | undefined,
      rejectUnauthorized: opts.rejectUnauthorized,
      servername: opts.servername ?? undefined,
    };
    return { headers, tls };
  };
  const first = await resolve();
  let headers = first.headers;
  let fetchedAt = Date.now();
  let refreshing: Promise<AuthHeaders> | undefined;
  const refresh = (): Promise<AuthHeaders> =>
    (refreshing ??= resolve()
      .then((r) => {
        headers = r.headers;
        fetchedAt = Date.now();
        return headers;
      })
      .finally(() => (refreshing = undefined)));
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return {
    server: cluster.server.replace(/\/+$/, ''),
    tls: first.tls,
    source: 'client-node',
    namespace: ctx?.namespace,
    async headers() {
      if (dynamic && Date.now() - fetchedAt > 60_000) return refresh();
      return headers;
    },
    async invalidate() {
      if (!dynamic) return false;
      await refresh();
      return true;
    },
  };
}
