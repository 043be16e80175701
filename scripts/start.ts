// `npm start`: runs the operator against the current kubeconfig; with no cluster configured (or with
// --local) it first starts the local control plane, installs the CRD and the example policies, and
// prints what to try. Ctrl-C stops everything it started.
// First: the operator's runtime flags (src/runtime-flags.ts), as wherever else it starts.
import '../src/relaunch.js';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadAll } from 'js-yaml';
import { AUTHOR_ANNOTATION } from '../src/api/index.js';
import { spawnSync } from 'node:child_process';
import { ConfigError, parseConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { KubeClient } from '../src/kube/client.js';
import { credentialSource } from '../src/kube/credentials.js';
import { runOperator } from '../src/operator.js';
import { ControlPlane, repoRoot } from '../test/harness/controlplane.js';

/**
 * The author check needs the chart's MutatingAdmissionPolicy that stamps each policy's author: take it
 * from manifests/install.yaml (the chart rendered with defaults) and wait until it stamps a dry run.
 */
async function installAuthorStamp(kubectl: (...a: string[]) => string): Promise<void> {
  const docs = loadAll(await readFile(join(repoRoot, 'manifests', 'install.yaml'), 'utf8')) as {
    kind?: string;
  }[];
  const stamp = docs.filter(
    (d) => d?.kind === 'MutatingAdmissionPolicy' || d?.kind === 'MutatingAdmissionPolicyBinding',
  );
  const file = join(await mkdtemp(join(tmpdir(), 'impop-start-')), 'author-stamp.json');
  await writeFile(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: stamp }));
  kubectl('apply', '--server-side', '-f', file);
  const probe = join(dirname(file), 'probe.json');
  await writeFile(
    probe,
    JSON.stringify({
      apiVersion: 'impersonation-operator.io/v1alpha1',
      kind: 'ImpersonationPolicy',
      metadata: { name: 'author-stamp-probe' },
      spec: { impersonators: [{ kind: 'User', name: 'probe' }] },
    }),
  );
  // Retried: a fresh control plane may not serve the CRD or the policy yet ("ServiceUnavailable").
  const deadline = Date.now() + 60_000;
  const stamped = (): boolean => {
    try {
      return kubectl('create', '--dry-run=server', '-o', 'json', '-f', probe).includes(AUTHOR_ANNOTATION);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      return false;
    }
  };
  while (!stamped()) {
    if (Date.now() > deadline)
      throw new Error('the author-stamp MutatingAdmissionPolicy did not take effect within 60s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let parsed;
  try {
    parsed = parseConfig(args, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(
      `${parsed.text}\n\nnpm start: with no cluster configured, or with --local, a local control plane is started first.\n`,
    );
    return 0;
  }
  const local = parsed.config.local || credentialSource(parsed.config.kubeconfig) === undefined;
  let cp: ControlPlane | undefined;
  let config = parsed.config;
  if (local) {
    process.stderr.write(
      parsed.config.local
        ? 'Starting the local control plane (--local)...\n'
        : 'No cluster configured: starting the local control plane...\n',
    );
    cp = await ControlPlane.start({ crds: [join(repoRoot, 'crds')] });
    const info = cp.info!;
    const kubectl = (...a: string[]) => {
      const r = spawnSync(info.kubectl, ['--kubeconfig', info.adminKubeconfig, ...a], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`kubectl ${a.join(' ')} failed: ${r.stderr}`);
      return r.stdout;
    };
    kubectl('apply', '--server-side', '-f', join(repoRoot, 'crds'));
    kubectl(
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/impersonationpolicies.impersonation-operator.io',
    );
    await installAuthorStamp(kubectl);
    kubectl('apply', '-f', join(repoRoot, 'manifests', 'examples'));
    config = {
      ...config,
      kubeconfig: info.adminKubeconfig,
      leaderElection: { ...config.leaderElection, enabled: false },
    };
  }

  if (!cp) {
    // A configured but unreachable cluster: say so at once (the operator itself keeps retrying).
    const client = await KubeClient.connect(config, { requestTimeoutMs: 5000 });
    try {
      await client.request({ verb: 'get', resource: 'version', method: 'GET', path: '/version' });
    } catch (err) {
      process.stderr.write(
        `The configured cluster does not answer (${(err as Error).message}).\n` +
          'The operator will keep retrying; for a local control plane instead run: npm start -- --local\n',
      );
    } finally {
      client.close();
    }
  }
  const log = createLogger(config.logLevel);
  const operator = await runOperator(config, log);
  if (cp) {
    const info = cp.info!;
    // Print what to try once every example policy has been reconciled.
    const settled = () => {
      const r = spawnSync(
        info.kubectl,
        ['--kubeconfig', info.adminKubeconfig, 'get', 'impersonationpolicies', '-o', 'json'],
        {
          encoding: 'utf8',
        },
      );
      if (r.status !== 0) return false;
      const items = (
        JSON.parse(r.stdout) as {
          items: { metadata: { generation?: number }; status?: { observedGeneration?: number } }[];
        }
      ).items;
      return items.every((p) => p.status?.observedGeneration === p.metadata.generation);
    };
    const banner = () => {
      if (!settled()) return void setTimeout(banner, 250).unref();
      process.stdout.write(
        [
          '',
          '================================================================================',
          `impersonation-operator is running against a local Kubernetes ${info.version} (${info.server}).`,
          'The CRD and manifests/examples/ are applied. Try, in another terminal:',
          `  export KUBECONFIG=${info.adminKubeconfig}`,
          `  alias kubectl=${info.kubectl}`,
          '  kubectl get impersonationpolicies            # short name: imppol',
          '  kubectl get clusterroles,clusterrolebindings,roles,rolebindings -A -l app.kubernetes.io/managed-by=impersonation-operator',
          '  kubectl get imppol access-proxy -o jsonpath={.status} | head -c 2000',
          '  kubectl auth can-i list pods --as=alice@example.com --as-group=sre-on-call',
          '  kubectl auth can-i impersonate users/alice@example.com --as=proxy          # yes',
          '  kubectl auth can-i impersonate users/mallory@example.com --as=proxy        # no',
          '  kubectl auth can-i impersonate serviceaccounts/deployer -n my-namespace --as=system:serviceaccount:kube-system:cicd-agent  # yes',
          '  kubectl auth can-i impersonate serviceaccounts/deployer -n team-a --as=system:serviceaccount:kube-system:cicd-agent        # no',
          '  kubectl auth can-i create deployments -n my-namespace --as=system:serviceaccount:my-namespace:deployer',
          `Metrics: http://127.0.0.1:${operator.servers[0]?.address.port ?? '?'}/metrics`,
          'Press Ctrl-C to stop the operator and the control plane.',
          '================================================================================',
          '',
        ].join('\n'),
      );
    };
    banner();
  }

  const code = await new Promise<number>((resolve) => {
    process.once('SIGINT', () => resolve(0));
    process.once('SIGTERM', () => resolve(0));
    void operator.lostLeadership.then(() => resolve(1));
  });
  await operator.stop();
  if (cp) await cp.stop();
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message ?? String(err)}\n`);
    process.exit(1);
  },
);
