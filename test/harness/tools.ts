// The chart and GitOps test tools — helm, kubeconform and an Argo CD-style Lua health runner —
// built once from test/harness/tools-build and cached like the control plane, plus thin wrappers
// that run them hermetically (helm's config/cache dirs in a temp dir, never the user's).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './controlplane.js';
import { ensureGoBinaries } from './go-build.js';
import { run, type RunResult } from './run.js';

export const HELM_VERSION = 'v4.3.1';
export const chartDir = join(repoRoot, 'charts', 'impersonation-operator');

export interface Tools {
  dir: string;
  helm: string;
  kubeconform: string;
  luaHealth: string;
}

let toolsPromise: Promise<Tools> | undefined;

/**
 * Builds (first run only, a few minutes on 2 cores) or finds the cached tools. The cache key
 * covers go.mod/go.sum and the ldflags; the Lua runner's source hash is one of the ldflags, so
 * editing it rebuilds too.
 */
export function ensureTools(log?: (msg: string) => void): Promise<Tools> {
  toolsPromise ??= (async () => {
    const moduleDir = join(repoRoot, 'test', 'harness', 'tools-build');
    const luaSource = readFileSync(join(moduleDir, 'cmd', 'lua-health', 'main.go'));
    const luaHash = createHash('sha256').update(luaSource).digest('hex').slice(0, 12);
    const dir = await ensureGoBinaries(
      {
        name: 'tools',
        moduleDir,
        commands: [
          {
            pkg: 'helm.sh/helm/v4/cmd/helm',
            out: 'helm',
            ldflags: `-X helm.sh/helm/v4/internal/version.version=${HELM_VERSION}`,
          },
          { pkg: 'github.com/yannh/kubeconform/cmd/kubeconform', out: 'kubeconform' },
          {
            pkg: 'impersonation-operator.dev/tools-build/cmd/lua-health',
            out: 'lua-health',
            ldflags: `-X main.sourceHash=${luaHash}`,
          },
        ],
      },
      log,
    );
    return {
      dir,
      helm: join(dir, 'helm'),
      kubeconform: join(dir, 'kubeconform'),
      luaHealth: join(dir, 'lua-health'),
    };
  })();
  toolsPromise.catch(() => (toolsPromise = undefined));
  return toolsPromise;
}

export { run, type RunResult } from './run.js';

let helmHome: Promise<string> | undefined;

/** Runs helm with its config, cache and data directories in a private temp dir. */
export async function helm(args: string[], opts: { input?: string } = {}): Promise<RunResult> {
  const tools = await ensureTools();
  helmHome ??= mkdtemp(join(tmpdir(), 'impop-helm-'));
  const home = await helmHome;
  const env = {
    ...process.env,
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_DATA_HOME: join(home, 'data'),
    KUBECONFIG: join(home, 'no-kubeconfig'),
  };
  return run(tools.helm, args, { ...opts, env });
}

export async function helmOk(args: string[], opts: { input?: string } = {}): Promise<string> {
  const r = await helm(args, opts);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export interface TemplateOptions {
  release?: string;
  namespace?: string;
  /** Values, passed to helm as a values file. */
  values?: unknown;
  /** Extra helm flags, e.g. ['--show-only', 'templates/rbac.yaml']. */
  flags?: string[];
}

/** `helm template` of the chart; the same command a user runs, with the values written to a file. */
export async function helmTemplate(opts: TemplateOptions = {}): Promise<RunResult> {
  const args = [
    'template',
    opts.release ?? 'impersonation-operator',
    chartDir,
    '--namespace',
    opts.namespace ?? 'impersonation-operator',
  ];
  if (opts.values !== undefined) {
    const dir = await mkdtemp(join(tmpdir(), 'impop-values-'));
    const file = join(dir, 'values.json');
    await writeFile(file, JSON.stringify(opts.values));
    args.push('--values', file);
  }
  args.push(...(opts.flags ?? []));
  return helm(args);
}

export async function helmTemplateOk(opts: TemplateOptions = {}): Promise<string> {
  const r = await helmTemplate(opts);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

export interface HealthResult {
  file: string;
  status?: string;
  message?: string;
  error?: string;
}

/** Runs an Argo CD health script over object files, as Argo CD's sandboxed gopher-lua would. */
export async function luaHealth(script: string, files: string[]): Promise<HealthResult[]> {
  const tools = await ensureTools();
  const r = await run(tools.luaHealth, [script, ...files]);
  if (r.code === 2) throw new Error(`lua-health failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as HealthResult);
}

export const INSTALL_YAML = join(repoRoot, 'manifests', 'install.yaml');
export const INSTALL_NAMESPACE = 'impersonation-operator';
export const REGENERATE_INSTALL = 'npm run build && node dist/scripts/render-install.js';

/** manifests/install.yaml: a Namespace, then `helm template` of the chart with defaults and its CRDs, verbatim. */
export async function renderInstallYaml(): Promise<string> {
  const rendered = await helmTemplateOk({
    release: 'impersonation-operator',
    namespace: INSTALL_NAMESPACE,
    flags: ['--include-crds'],
  });
  return [
    '# impersonation-operator: the Helm chart rendered with its default values, for `kubectl apply`:',
    '#   kubectl apply --server-side -f manifests/install.yaml',
    `#   = helm template impersonation-operator charts/impersonation-operator -n ${INSTALL_NAMESPACE} --include-crds`,
    `# Generated; do not edit. Regenerate: ${REGENERATE_INSTALL}`,
    '# Default grants let policies bind only `view` and impersonate nobody: set the chart value',
    '# `grants` (helm install) or edit the *-grants ClusterRole below to allow more.',
    '---',
    'apiVersion: v1',
    'kind: Namespace',
    'metadata:',
    `  name: ${INSTALL_NAMESPACE}`,
    '  labels:',
    '    pod-security.kubernetes.io/enforce: restricted',
    rendered,
  ].join('\n');
}
