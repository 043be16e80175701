// `npm run bench:idle`: what an idle leader costs. One local control plane with the chart's scoped operator
// RBAC; for each N (default 0 and 1,000 policies x k=3 roles) a fresh operator process (dist/src/main.js,
// leader election on, info logs, default resync) is started, waits until Ready and settled, and is then
// left alone for --minutes while its CPU time (/proc/<pid>/stat utime+stime) is sampled. Reports CPU
// seconds per minute (overall and per sampling window) and the API requests it sent while idle, by verb and
// resource, from its own /metrics. Output: bench/results/idle-cpu-<timestamp>.{json,md}.
//
//   npm run bench:idle [-- --n 0,1000 --k 3 --minutes 3 --cpu-prof --operator-arg=--foo]
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { IMPERSONATION_POLICIES } from '../src/controller/resources.js';
import { KubeClient } from '../src/kube/client.js';
import { CLUSTER_ROLES } from '../src/kube/resources.js';
import type { KubeObject } from '../src/kube/types.js';
import { ControlPlane, repoRoot } from '../test/harness/controlplane.js';
import { startOperator } from '../test/harness/operator.js';
import { installOperatorRbac } from '../test/harness/operator-rbac.js';
import { cpuSeconds, memory } from './lib/proc.js';
import { metricSum, waitSettled } from './lib/operator-metrics.js';
import { CHURN_ROLE, grantsFor, policyObject, VIEW_ROLES } from './lib/workload.js';

const log = (m: string) => process.stderr.write(`${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, digits = 3) => Math.round(v * 10 ** digits) / 10 ** digits;

interface IdleResult {
  n: number;
  k: number;
  idleSeconds: number;
  cpuSeconds: number;
  cpuSecondsPerMinute: number;
  /** CPU s/min of each sampling window, to show whether the cost is steady or bursty. */
  windowsPerMinute: number[];
  apiRequests: number;
  apiRequestsBy: Record<string, number>;
  rssMb: number;
  anonMb: number;
}

/** `verb resource` -> count, from impersonation_operator_api_requests_total. */
function requestsBy(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^impersonation_operator_api_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    const key = `${labels.verb} ${labels.resource}`;
    out[key] = (out[key] ?? 0) + Number(m[2]);
  }
  return out;
}

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const d = value - (before[key] ?? 0);
    if (d > 0) out[key] = d;
  }
  return out;
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '0,1000' },
      k: { type: 'string', default: '3' },
      minutes: { type: 'string', default: '3' },
      'window-seconds': { type: 'string', default: '30' },
      'cpu-prof': { type: 'boolean', default: false },
      'operator-arg': { type: 'string', multiple: true, default: [] },
      out: { type: 'string', default: join(repoRoot, 'bench', 'results') },
    },
  });
  const ns = values.n.split(',').map(Number);
  const k = Number(values.k);
  const idleMs = Number(values.minutes) * 60_000;
  const windowMs = Number(values['window-seconds']) * 1000;
  if (ns.some((n) => !Number.isInteger(n) || n < 0) || !(k >= 1) || !(idleMs > 0) || !(windowMs > 0))
    throw new Error('--n must be a list of whole numbers >= 0, --k >= 1, --minutes and --window-seconds > 0');
  const stamp = new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  const profileDir = join(values.out, `idle-cpu-${stamp}-profiles`);

  const cp = await ControlPlane.start({
    crds: [join(repoRoot, 'crds')],
    log: (m) => log(`[controlplane] ${m}`),
  });
  process.env.IMPOP_CLUSTER_INFO = cp.infoPath;
  const results: IdleResult[] = [];
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.info!.adminKubeconfig);
    const admin = await KubeClient.fromKubeConfig(kc, { maxSockets: 32, userAgent: 'impop-bench-driver' });
    for (const name of [...VIEW_ROLES, CHURN_ROLE]) {
      await admin.create(CLUSTER_ROLES, {
        metadata: { name },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
      } as KubeObject);
    }
    const rbac = await installOperatorRbac(grantsFor(Math.max(...ns), k), {
      release: 'impop-bench',
      namespace: 'impop-bench',
    });
    const kubeconfig = await rbac.kubeconfig();
    let created = 0;
    for (const n of [...ns].sort((a, b) => a - b)) {
      log(`=== N=${n}, k=${k}: creating policies`);
      const indices = Array.from({ length: n - created }, (_, i) => created + i);
      await pool(indices, 32, async (i) => {
        await admin.create(IMPERSONATION_POLICIES, policyObject(i, k));
      });
      created = n;
      const env: Record<string, string> = {};
      if (values['cpu-prof']) {
        await mkdir(profileDir, { recursive: true });
        env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${profileDir} --cpu-prof-name=n${n}.cpuprofile`;
      }
      const op = await startOperator({
        kubeconfig,
        args: [
          '--leader-elect',
          '--leader-election-namespace=impop-bench',
          '--log-level=info',
          ...values['operator-arg'],
        ],
        env,
      });
      try {
        await op.waitReady(120_000);
        await waitSettled(op, { minReconciles: n, quietMs: 5000, timeoutMs: Math.max(120_000, n * 300) });
        // Let the start-up's garbage and timers settle before measuring.
        await sleep(10_000);
        const pid = op.child.pid!;
        const requestsBefore = requestsBy(await op.metrics());
        const cpu0 = cpuSeconds(pid);
        const t0 = performance.now();
        const windows: number[] = [];
        let last = cpu0;
        let lastAt = t0;
        while (performance.now() - t0 < idleMs) {
          await sleep(Math.min(windowMs, idleMs - (performance.now() - t0)));
          const now = performance.now();
          const cpu = cpuSeconds(pid);
          windows.push(round(((cpu - last) / (now - lastAt)) * 60_000, 2));
          last = cpu;
          lastAt = now;
        }
        const elapsed = (performance.now() - t0) / 1000;
        const cpu = cpuSeconds(pid) - cpu0;
        const text = await op.metrics();
        const by = diff(requestsBy(text), requestsBefore);
        const mem = memory(pid);
        const result: IdleResult = {
          n,
          k,
          idleSeconds: round(elapsed, 1),
          cpuSeconds: round(cpu, 2),
          cpuSecondsPerMinute: round((cpu / elapsed) * 60),
          windowsPerMinute: windows,
          apiRequests: Object.values(by).reduce((a, b) => a + b, 0),
          apiRequestsBy: by,
          rssMb: round(mem?.rssMb ?? NaN, 1),
          anonMb: round(mem?.anonMb ?? NaN, 1),
        };
        const leaderElection = !values['operator-arg'].includes('--no-leader-elect');
        if (leaderElection && metricSum(text, 'impersonation_operator_leader') !== 1)
          throw new Error('the operator was not the leader');
        results.push(result);
        log(`N=${n}: ${result.cpuSecondsPerMinute} CPU s/min, ${result.apiRequests} API requests idle`);
      } finally {
        const code = await op.stop();
        if (code !== 0) log(`operator exited ${code}:\n${op.output().slice(-2000)}`);
      }
    }
    admin.close();
  } finally {
    await cp.stop();
  }

  await mkdir(values.out, { recursive: true });
  const base = join(values.out, `idle-cpu-${stamp}`);
  const meta = { stamp, k, minutes: Number(values.minutes), operatorArgs: values['operator-arg'] };
  await writeFile(`${base}.json`, `${JSON.stringify({ ...meta, results }, null, 2)}\n`);
  const lines = [
    `# Idle CPU, ${stamp}`,
    '',
    `Leader (leader election on), info logs, default resync; idle ${values.minutes} min after Ready and settled` +
      (values['operator-arg'].length ? `; operator args: ${values['operator-arg'].join(' ')}` : '') +
      '.',
    '',
    '| N policies | k | CPU s/min | per window (s/min) | API requests idle | by verb and resource | RSS MB (anon) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.n} | ${r.k} | ${r.cpuSecondsPerMinute} | ${r.windowsPerMinute.join(', ')} | ${r.apiRequests} | ` +
        `${
          Object.entries(r.apiRequestsBy)
            .map(([key, v]) => `${key}: ${v}`)
            .join('; ') || '-'
        } | ` +
        `${r.rssMb} (${r.anonMb}) |`,
    ),
    '',
    'CPU: utime + stime of the operator process from /proc/<pid>/stat (10 ms ticks) over the idle window.',
    "API requests: the operator's impersonation_operator_api_requests_total, difference over the window",
    '(a watch counts when it is opened).',
    '',
  ];
  await writeFile(`${base}.md`, lines.join('\n'));
  process.stdout.write(lines.join('\n'));
  log(`wrote ${base}.md`);
}

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
