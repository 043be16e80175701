// `npm run bench:author-check`: what the author check costs. One local control plane with the chart's
// author-stamp MutatingAdmissionPolicy and operator RBAC (escalate mode, so any policy is grantable);
// policies of 200 entries (150 users, 30 role groups, 20 target ClusterRoles), each with names no
// other policy uses (no cached answers), are created one at a time by an author who is cluster-admin
// through RBAC (not system:masters, so the reviews go through the RBAC authorizer). Reports the
// provisioning delay (create -> Ready for that generation) p50/p99 with the check on and off, the
// SubjectAccessReviews sent, and those sent while idle (a few resync periods: must be 0).
//
//   npm run bench:author-check [-- --policies 30]
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { IMPERSONATION_POLICIES } from '../src/controller/resources.js';
import { KubeClient } from '../src/kube/client.js';
import { CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES } from '../src/kube/resources.js';
import type { KubeObject } from '../src/kube/types.js';
import { ControlPlane, repoRoot } from '../test/harness/controlplane.js';
import { kubeconfigFor } from '../test/harness/identities.js';
import { kubectlOk } from '../test/harness/kubectl.js';
import { startOperator } from '../test/harness/operator.js';
import { installOperatorRbac } from '../test/harness/operator-rbac.js';
import { ensureTools, helmTemplateOk } from '../test/harness/tools.js';

const USERS = 150;
const ROLES = 30;
const CLUSTER_ROLE_COUNT = 20;
const RESYNC_SECONDS = 3;

interface PolicyLike extends KubeObject {
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
}

const log = (m: string) => process.stderr.write(`${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function sarCount(metrics: () => Promise<string>): Promise<number> {
  const text = await metrics();
  let total = 0;
  for (const line of text.split('\n')) {
    if (
      line.startsWith('impersonation_operator_api_requests_total{') &&
      line.includes('subjectaccessreviews')
    ) {
      total += Number(line.split(' ').pop());
    }
  }
  return total;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { policies: { type: 'string', default: '30' } } });
  const count = Number(values.policies);
  const cp = await ControlPlane.start({
    crds: [join(repoRoot, 'crds')],
    log: (m) => log(`[controlplane] ${m}`),
  });
  process.env.IMPOP_CLUSTER_INFO = cp.infoPath;
  const info = cp.info!;
  try {
    await ensureTools(log);
    const kc = new KubeConfig();
    kc.loadFromFile(info.adminKubeconfig);
    const admin = await KubeClient.fromKubeConfig(kc);
    const clusterRoles = Array.from({ length: CLUSTER_ROLE_COUNT }, (_, i) => `bench-target-${i}`);
    for (const name of clusterRoles) {
      await admin.create(CLUSTER_ROLES, {
        metadata: { name },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
      } as KubeObject);
    }
    await admin.create(CLUSTER_ROLE_BINDINGS, {
      metadata: { name: 'bench-author' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bench-author' }],
    } as KubeObject);
    const stamp = await helmTemplateOk({ flags: ['--show-only', 'templates/author-stamp.yaml'] });
    await kubectlOk(['apply', '--server-side', '-f', '-'], { input: stamp });
    const rbac = await installOperatorRbac(
      {},
      { rbacMode: 'escalate', release: 'bench', namespace: 'bench' },
    );
    const authorKc = new KubeConfig();
    authorKc.loadFromFile(await kubeconfigFor('bench-author'));
    const author = await KubeClient.fromKubeConfig(authorKc);
    // The stamp policy takes effect a moment after it is written.
    for (;;) {
      const probe = await author.request<KubeObject>({
        verb: 'create',
        resource: 'impersonationpolicies',
        method: 'POST',
        path: '/apis/impersonation-operator.io/v1alpha1/impersonationpolicies',
        query: new URLSearchParams({ dryRun: 'All' }),
        body: {
          apiVersion: 'impersonation-operator.io/v1alpha1',
          kind: 'ImpersonationPolicy',
          metadata: { name: 'probe' },
          spec: { impersonators: [{ kind: 'User', name: 'p' }] },
        },
      });
      if (probe.metadata?.annotations?.['impersonation-operator.io/author']) break;
      await sleep(200);
    }

    const results: Record<string, unknown>[] = [];
    for (const check of [true, false]) {
      const op = await startOperator({
        kubeconfig: await rbac.kubeconfig(),
        args: [check ? '--author-check' : '--no-author-check', `--resync-period=${RESYNC_SECONDS}s`],
      });
      await op.waitReady(60_000);
      const delays: number[] = [];
      const names: string[] = [];
      const sarsBefore = await sarCount(() => op.metrics());
      for (let p = 0; p < count; p++) {
        const id = `${check ? 'on' : 'off'}-${p}`;
        const name = `bench-${id}`;
        names.push(name);
        const spec = {
          impersonators: [{ kind: 'User', name: 'proxy' }],
          targets: { users: Array.from({ length: USERS }, (_, i) => `u${i}-${id}@example.com`) },
          roles: Array.from({ length: ROLES }, (_, i) => ({
            name: `Role ${i} ${id}`,
            clusterRoles: [clusterRoles[i % CLUSTER_ROLE_COUNT]!],
          })),
        };
        const started = performance.now();
        const created = await author.create<PolicyLike>(IMPERSONATION_POLICIES, {
          apiVersion: 'impersonation-operator.io/v1alpha1',
          kind: 'ImpersonationPolicy',
          metadata: { name },
          spec,
        } as PolicyLike);
        const generation = created.metadata?.generation;
        for (;;) {
          const p = await admin.get<PolicyLike>(IMPERSONATION_POLICIES, name);
          const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
          if (ready && p.status?.observedGeneration === generation) break;
          if (performance.now() - started > 120_000) throw new Error(`${name} not Ready after 120s`);
          await sleep(10);
        }
        delays.push(performance.now() - started);
      }
      const sarsAfterCreate = await sarCount(() => op.metrics());
      await sleep(3 * RESYNC_SECONDS * 1000 + 1000);
      const sarsAfterIdle = await sarCount(() => op.metrics());
      const sorted = [...delays].sort((a, b) => a - b);
      const result = {
        authorCheck: check,
        policies: count,
        entriesPerPolicy: USERS + ROLES + CLUSTER_ROLE_COUNT,
        delayMs: {
          p50: Math.round(percentile(sorted, 50)),
          p99: Math.round(percentile(sorted, 99)),
          max: Math.round(sorted[sorted.length - 1]!),
        },
        subjectAccessReviews: sarsAfterCreate - sarsBefore,
        idleSubjectAccessReviews: sarsAfterIdle - sarsAfterCreate,
        idleResyncs: 3,
      };
      log(JSON.stringify(result));
      results.push(result);
      await op.stop();
      for (const name of names) await admin.remove(IMPERSONATION_POLICIES, name);
    }
    const when = new Date()
      .toISOString()
      .replace(/[:.]/g, '-')
      .replace(/-\d{3}Z$/, 'Z');
    const dir = join(repoRoot, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `author-check-${when}.json`), `${JSON.stringify(results, null, 2)}\n`);
    const md = [
      `# Author check cost (${when})`,
      '',
      `Policies of ${USERS + ROLES + CLUSTER_ROLE_COUNT} entries (${USERS} users, ${ROLES} role groups, ` +
        `${CLUSTER_ROLE_COUNT} target ClusterRoles), created one at a time by a cluster-admin (RBAC) author; ` +
        'delay = create until Ready for that generation (10 ms polling).',
      '',
      '| author check | policies | delay p50 | delay p99 | SubjectAccessReviews | SARs while idle (3 resyncs) |',
      '| --- | --- | --- | --- | --- | --- |',
      ...results.map((r) => {
        const d = r.delayMs as { p50: number; p99: number };
        return `| ${r.authorCheck ? 'on' : 'off'} | ${String(r.policies)} | ${d.p50} ms | ${d.p99} ms | ${String(r.subjectAccessReviews)} | ${String(r.idleSubjectAccessReviews)} |`;
      }),
      '',
    ].join('\n');
    await writeFile(join(dir, `author-check-${when}.md`), md);
    process.stdout.write(md);
    admin.close();
    author.close();
  } finally {
    await cp.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
