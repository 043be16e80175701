// Benchmark (not a test) of `kubectl-impersonation audit`: generates a synthetic audit log of about
// 1 GB (mostly ordinary requests, a few percent impersonated, some refused impersonations), runs
// the command over it in a child process, and prints throughput (MB/s) and peak RSS.
//
//   npm run build && node dist/bench/audit-bench.js [--size-mb 1000] [--gzip] [--naive] [--keep]
//
// The log is written to a temp dir (and so sits in the page cache): the figures measure the CPU
// cost of reading and summarizing, not the disk.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
/** The compiled CLI, next to this file's compiled location (dist/bench -> dist/src/cli). */
const CLI = resolve(here, '../src/cli/kubectl-impersonation.js');
const RESULTS = resolve(here, '../../bench/results');

/** mulberry32: a small deterministic PRNG, so every run generates the same log. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Expected {
  lines: number;
  impersonatedRequests: number;
  refused: number;
}

const USERS = [
  {
    username: 'system:node:node-1',
    groups: ['system:nodes', 'system:authenticated'],
    agent: 'kubelet/v1.37.2 (linux/amd64) kubernetes/abcdef0',
  },
  {
    username: 'system:kube-controller-manager',
    groups: ['system:authenticated'],
    agent: 'kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/abcdef0/leader-election',
  },
  {
    username: 'system:serviceaccount:kube-system:replicaset-controller',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
    agent:
      'kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/abcdef0/system:serviceaccount:kube-system:replicaset-controller',
  },
  {
    username: 'jane@example.com',
    groups: ['developers', 'system:authenticated'],
    agent: 'kubectl/v1.37.2 (darwin/arm64) kubernetes/abcdef0',
  },
];
const RESOURCES = [
  { resource: 'pods', group: '', ns: 'default' },
  { resource: 'leases', group: 'coordination.k8s.io', ns: 'kube-node-lease' },
  { resource: 'configmaps', group: '', ns: 'kube-system' },
  { resource: 'deployments', group: 'apps', ns: 'shop' },
  { resource: 'nodes', group: '', ns: '' },
];
const VERBS = ['get', 'list', 'watch', 'update', 'patch', 'create'];
const PEOPLE = [
  'alice@example.com',
  'bob@example.com',
  'carol@example.com',
  'dave@example.com',
  'erin@example.com',
];
const ROLES = ['sre-on-call', 'developers', 'readonly', 'db-admins'];

function uriOf(r: (typeof RESOURCES)[number], name: string): string {
  const base = r.group === '' ? '/api/v1' : `/apis/${r.group}/v1`;
  return r.ns === '' ? `${base}/${r.resource}/${name}` : `${base}/namespaces/${r.ns}/${r.resource}/${name}`;
}

function objectRefOf(r: (typeof RESOURCES)[number], name: string): string {
  const ns = r.ns === '' ? '' : `"namespace":"${r.ns}",`;
  const group = r.group === '' ? '' : `"apiGroup":"${r.group}",`;
  return `{"resource":"${r.resource}",${ns}"name":"${name}",${group}"apiVersion":"v1"}`;
}

function timestamp(ms: number, micros: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}Z`;
}

/** Writes the synthetic log; returns what `audit` must find in it. */
async function generate(path: string, targetBytes: number): Promise<Expected> {
  const rand = prng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const out = createWriteStream(path, { highWaterMark: 1 << 22 });
  const expected: Expected = { lines: 0, impersonatedRequests: 0, refused: 0 };
  let written = 0;
  let batch: string[] = [];
  let batchBytes = 0;
  let clock = Date.UTC(2026, 0, 5, 0, 0, 0);
  let seq = 0;
  const flush = async (): Promise<void> => {
    const chunk = batch.join('');
    batch = [];
    batchBytes = 0;
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  };
  const emit = (line: string): void => {
    batch.push(line, '\n');
    batchBytes += line.length + 1;
    written += line.length + 1;
    expected.lines++;
  };
  while (written < targetBytes) {
    clock += Math.floor(rand() * 3);
    const id = `${(seq++).toString(16).padStart(8, '0')}-4e1c-4b7a-9d2f-${Math.floor(rand() * 1e12)
      .toString(16)
      .padStart(12, '0')}`;
    const t0 = timestamp(clock, Math.floor(rand() * 1e6));
    const t1 = timestamp(clock + 1, Math.floor(rand() * 1e6));
    const r = pick(RESOURCES);
    const verb = pick(VERBS);
    const name = `obj-${Math.floor(rand() * 5000)}`;
    const dice = rand();
    const withRequestReceived = rand() < 0.5;
    let user: string;
    let impersonated = '';
    let status = '{"metadata":{},"code":200}';
    let agent: string;
    let decision = 'allow';
    let reason =
      'RBAC: allowed by ClusterRoleBinding \\"system:basic-user\\" of ClusterRole \\"system:basic-user\\" to Group \\"system:authenticated\\"';
    if (dice < 0.02) {
      // An access proxy acting as a person with their role groups (~2% of requests).
      const person = pick(PEOPLE);
      const groups = [pick(ROLES), 'system:authenticated'];
      user = '{"username":"access-proxy","groups":["proxies","system:authenticated"]}';
      impersonated = `,"impersonatedUser":{"username":"${person}","groups":${JSON.stringify(groups)}}`;
      agent = 'access-proxy/2.4.1';
      if (rand() < 0.1) {
        decision = 'forbid';
        reason = '';
        status = `{"metadata":{},"status":"Failure","message":"${r.resource} \\"${name}\\" is forbidden: User \\"${person}\\" cannot ${verb} resource \\"${r.resource}\\" in API group \\"${r.group}\\" in the namespace \\"${r.ns}\\"","reason":"Forbidden","details":{"name":"${name}","kind":"${r.resource}"},"code":403}`;
      }
      expected.impersonatedRequests++;
    } else if (dice < 0.021) {
      // A refused impersonation (~0.1%): no impersonatedUser, the refusal is in the message.
      user = '{"username":"intruder","groups":["system:authenticated"]}';
      agent = 'kubectl/v1.37.2 (linux/amd64) kubernetes/abcdef0';
      decision = '';
      const person = pick(PEOPLE);
      status = `{"metadata":{},"status":"Failure","message":"users \\"${person}\\" is forbidden: User \\"intruder\\" cannot impersonate resource \\"users\\" in API group \\"\\" at the cluster scope","reason":"Forbidden","details":{"name":"${person}","kind":"users"},"code":403}`;
      expected.refused++;
    } else {
      const u = pick(USERS);
      user = `{"username":"${u.username}","groups":${JSON.stringify(u.groups)}}`;
      agent = u.agent;
    }
    const uri = uriOf(r, name);
    const head = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"${id}"`;
    const body = `"requestURI":"${uri}","verb":"${verb}","user":${user}${impersonated},"sourceIPs":["10.0.${Math.floor(rand() * 255)}.${Math.floor(rand() * 255)}"],"userAgent":"${agent}","objectRef":${objectRefOf(r, name)}`;
    if (withRequestReceived) {
      emit(
        `${head},"stage":"RequestReceived",${body},"requestReceivedTimestamp":"${t0}","stageTimestamp":"${t0}"}`,
      );
    }
    const annotations =
      decision === ''
        ? ''
        : `,"annotations":{"authorization.k8s.io/decision":"${decision}","authorization.k8s.io/reason":"${reason}"}`;
    emit(
      `${head},"stage":"ResponseComplete",${body},"responseStatus":${status},"requestReceivedTimestamp":"${t0}","stageTimestamp":"${t1}"${annotations}}`,
    );
    if (batchBytes >= 1 << 22) await flush();
  }
  await flush();
  await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
  return expected;
}

async function gzipFile(from: string, to: string): Promise<void> {
  const { pipeline } = await import('node:stream/promises');
  await pipeline(createReadStream(from), createGzip({ level: 6 }), createWriteStream(to));
}

interface Run {
  seconds: number;
  maxRssMB: number;
  stdout: string;
}

/** Runs a Node script in a child and reads its peak RSS from process.resourceUsage() at exit. */
function runChild(script: string, args: string[]): Promise<Run> {
  const wrapper = `
    const started = process.hrtime.bigint();
    process.on('exit', () => {
      const s = Number(process.hrtime.bigint() - started) / 1e9;
      process.stderr.write('\\nBENCH ' + JSON.stringify({ seconds: s, maxRSS: process.resourceUsage().maxRSS }) + '\\n');
    });
    process.argv = [process.argv[0], ${JSON.stringify(script)}, ...${JSON.stringify(args)}];
    await import(${JSON.stringify(`file://${script}`)});
  `;
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', wrapper], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => {
      const m = /BENCH (\{.*\})/.exec(stderr);
      if (code !== 0 || !m?.[1]) {
        rej(new Error(`child exited ${code}: ${stderr.slice(-2000)}`));
        return;
      }
      const r = JSON.parse(m[1]) as { seconds: number; maxRSS: number };
      res({ seconds: r.seconds, maxRssMB: r.maxRSS / 1024, stdout });
    });
  });
}

/** Baselines run in the child too: a plain read that counts newlines, and readline + JSON.parse of every line. */
const BASELINES = {
  read: `import { createReadStream } from 'node:fs';
let n = 0;
for await (const c of createReadStream(process.argv[2], { highWaterMark: 1 << 20 })) { let i = -1; while ((i = c.indexOf(10, i + 1)) !== -1) n++; }
console.log(n);`,
  naive: `import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
let n = 0;
for await (const line of createInterface({ input: createReadStream(process.argv[2]), crlfDelay: Infinity })) { const e = JSON.parse(line); if (e.impersonatedUser) n++; }
console.log(n);`,
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mb': { type: 'string', default: '1000' },
      gzip: { type: 'boolean', default: false },
      naive: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  });
  const targetBytes = Number(values['size-mb']) * 1e6;
  const dir = await mkdtemp(join(tmpdir(), 'impop-audit-bench-'));
  const log = join(dir, 'audit.log');
  try {
    process.stderr.write(`Generating ${values['size-mb']} MB synthetic audit log in ${dir} ...\n`);
    const genStart = Date.now();
    const expected = await generate(log, targetBytes);
    const size = (await stat(log)).size;
    process.stderr.write(
      `  ${expected.lines} lines, ${size} bytes in ${((Date.now() - genStart) / 1000).toFixed(1)} s\n`,
    );

    const rows: { name: string; bytes: number; run: Run }[] = [];
    const baselineDir = join(dir, 'baselines');
    await mkdir(baselineDir);
    const readScript = join(baselineDir, 'read.mjs');
    await writeFile(readScript, BASELINES.read);
    process.stderr.write('Baseline: read + count newlines ...\n');
    rows.push({
      name: 'baseline: read file, count lines',
      bytes: size,
      run: await runChild(readScript, [log]),
    });

    process.stderr.write('audit --output json ...\n');
    const audit = await runChild(CLI, ['audit', log, '--output', 'json', '--no-progress']);
    rows.push({ name: 'kubectl-impersonation audit', bytes: size, run: audit });
    const report = JSON.parse(audit.stdout) as {
      summary: { requests: number; refused: { count: number }[] };
      sources: { lines: number }[];
    };
    const found = {
      lines: report.sources[0]?.lines,
      impersonatedRequests: report.summary.requests,
      refused: report.summary.refused.reduce((s, r) => s + r.count, 0),
    };
    const correct = JSON.stringify(found) === JSON.stringify(expected);
    process.stderr.write(`  expected ${JSON.stringify(expected)}, found ${JSON.stringify(found)}\n`);

    if (values.gzip) {
      const gz = `${log}.gz`;
      process.stderr.write('Compressing (gzip -6) ...\n');
      await gzipFile(log, gz);
      const gzSize = (await stat(gz)).size;
      process.stderr.write('audit over .gz ...\n');
      rows.push({
        name: `audit over gzip (${(gzSize / 1e6).toFixed(0)} MB compressed; MB/s of uncompressed data)`,
        bytes: size,
        run: await runChild(CLI, ['audit', gz, '--output', 'json', '--no-progress']),
      });
    }
    if (values.naive) {
      const naiveScript = join(baselineDir, 'naive.mjs');
      await writeFile(naiveScript, BASELINES.naive);
      process.stderr.write('Baseline: readline + JSON.parse of every line ...\n');
      rows.push({
        name: 'baseline: readline + JSON.parse every line',
        bytes: size,
        run: await runChild(naiveScript, [log]),
      });
    }

    const table = [
      `| run | seconds | MB/s | peak RSS (MB) |`,
      `| --- | ---: | ---: | ---: |`,
      ...rows.map(
        (r) =>
          `| ${r.name} | ${r.run.seconds.toFixed(2)} | ${(r.bytes / 1e6 / r.run.seconds).toFixed(0)} | ${r.run.maxRssMB.toFixed(0)} |`,
      ),
    ].join('\n');
    const header = `Audit log: ${(size / 1e6).toFixed(0)} MB, ${expected.lines} lines, ${expected.impersonatedRequests} impersonated requests, ${expected.refused} refused impersonations; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}`;
    console.log(`${header}\n\n${table}\n\nSummary correct: ${correct ? 'yes' : 'NO'}`);
    await mkdir(RESULTS, { recursive: true });
    await writeFile(
      join(RESULTS, 'audit-bench.json'),
      `${JSON.stringify({ date: new Date().toISOString(), size, expected, found, correct, cpus: cpus().length, node: process.version, rows: rows.map((r) => ({ name: r.name, seconds: r.run.seconds, mbPerSecond: r.bytes / 1e6 / r.run.seconds, peakRssMB: r.run.maxRssMB })) }, null, 2)}\n`,
    );
    if (!correct) process.exitCode = 1;
  } finally {
    if (values.keep) process.stderr.write(`Kept ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  }
}

await main();
