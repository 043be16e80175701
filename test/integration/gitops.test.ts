// GitOps health: the Argo CD Lua health check, run by gopher-lua in Argo CD's argocd-cm sandbox
// over the status fixtures, and the kstatus rules Flux applies to the same fixtures. It lives in
// the integration project because it needs the Go-built Lua runner.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { STALLED_REASONS } from '../../src/core/conditions.js';
import { GROUP, KIND } from '../../src/api/group.js';
import { parsePolicySpec } from '../../src/api/index.js';
import { DEFAULT_CORE_CONFIG, planPolicy, policyLifetime, policyStatus } from '../../src/core/index.js';
import { repoRoot } from '../harness/controlplane.js';
import { crdSchemas, schemaLocation } from '../harness/kubeconform-schemas.js';
import { ensureTools, luaHealth, run } from '../harness/tools.js';

const fixtures = join(repoRoot, 'test', 'fixtures', 'status');
const argocd = join(repoRoot, 'manifests', 'gitops', 'argocd');
const HEALTH_KEY = `resource.customizations.health.${GROUP}_${KIND}`;

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface StatusObject {
  kind: string;
  metadata: { generation?: number; deletionTimestamp?: string };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

type KStatus = 'InProgress' | 'Failed' | 'Current' | 'Terminating';

/**
 * kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute) for a kind without built-in rules,
 * which is how Flux assesses an ImpersonationPolicy:
 *  1. metadata.deletionTimestamp set -> Terminating;
 *  2. status.observedGeneration present and != metadata.generation -> InProgress;
 *  3. the first condition that is Reconciling=True -> InProgress, or Stalled=True -> Failed,
 *     with that condition's message;
 *  4. otherwise Current (kstatus does not read Ready, and a missing status is not "in progress").
 */
function kstatus(obj: StatusObject): { status: KStatus; message: string } {
  if (obj.metadata.deletionTimestamp)
    return { status: 'Terminating', message: 'Resource scheduled for deletion' };
  const generation = obj.metadata.generation;
  const observed = obj.status?.observedGeneration;
  if (generation !== undefined && observed !== undefined && observed !== generation) {
    return {
      status: 'InProgress',
      message: `${obj.kind} generation is ${generation}, but latest observed generation is ${observed}`,
    };
  }
  for (const c of obj.status?.conditions ?? []) {
    if (c.type === 'Reconciling' && c.status === 'True')
      return { status: 'InProgress', message: c.message ?? '' };
    if (c.type === 'Stalled' && c.status === 'True') return { status: 'Failed', message: c.message ?? '' };
  }
  return { status: 'Current', message: 'Resource is current' };
}

/** Fixture -> what Argo CD (our Lua) and Flux (kstatus) must say. */
const expected: Record<string, { argo: string; argoMessage: RegExp; flux: KStatus }> = {
  'healthy.yaml': { argo: 'Healthy', argoMessage: /^Provisioned 1 ClusterRole/, flux: 'Current' },
  'progressing-reconciling.yaml': {
    argo: 'Progressing',
    argoMessage: /connection refused; retrying/,
    flux: 'InProgress',
  },
  'degraded-stalled.yaml': { argo: 'Degraded', argoMessage: /deny list/, flux: 'Failed' },
  'degraded-ready-false-stalled-reason.yaml': {
    argo: 'Degraded',
    argoMessage: /both map to group my-role/,
    flux: 'Current',
  },
  'generation-mismatch.yaml': {
    argo: 'Progressing',
    argoMessage: /observe generation 4 \(last observed 3\)$/,
    flux: 'InProgress',
  },
  'no-status.yaml': { argo: 'Progressing', argoMessage: /Waiting for the operator/, flux: 'Current' },
  'ready-condition-stale.yaml': { argo: 'Progressing', argoMessage: /^Provisioned\.$/, flux: 'Current' },
  // Lifetime (issue 12): outside its window or suspended, "nothing granted" is the desired state, in force.
  'active-window.yaml': { argo: 'Healthy', argoMessage: /^Provisioned 2 RBAC objects/, flux: 'Current' },
  'expired.yaml': { argo: 'Healthy', argoMessage: /^Expired at 2026-12-24T18:00:00Z/, flux: 'Current' },
  'not-yet-valid.yaml': {
    argo: 'Healthy',
    argoMessage: /^Not yet valid: nothing the policy grants exists until 2026-12-25T08:00:00Z/,
    flux: 'Current',
  },
  // Argo CD's own convention for a paused resource (a suspended CronJob): Suspended, not Degraded.
  'suspended.yaml': { argo: 'Suspended', argoMessage: /^Suspended \(spec\.suspend\)/, flux: 'Current' },
};

/** The lifetime fixtures were written by the core at this time; they must stay what it writes. */
const LIFETIME_FIXTURES_AT = new Date('2026-12-24T18:00:05Z');
const LIFETIME_FIXTURES = ['active-window.yaml', 'expired.yaml', 'not-yet-valid.yaml', 'suspended.yaml'];

describe('GitOps health of ImpersonationPolicy', () => {
  beforeAll(async () => {
    await ensureTools();
  }, 30 * 60_000);

  it('has an expectation for every status fixture', async () => {
    const files = (await readdir(fixtures)).filter((f) => f.endsWith('.yaml')).sort();
    expect(files).toEqual(Object.keys(expected).sort());
  });

  it('ships the same Lua in argocd-cm.yaml as in health.lua, under the key Argo CD looks up', async () => {
    const cm = load(await readFile(join(argocd, 'argocd-cm.yaml'), 'utf8')) as {
      metadata: { name: string };
      data: Record<string, string>;
    };
    expect(cm.metadata.name).toBe('argocd-cm');
    expect(Object.keys(cm.data)).toEqual([HEALTH_KEY]);
    expect(cm.data[HEALTH_KEY]).toBe(await readFile(join(argocd, 'health.lua'), 'utf8'));
  });

  it('uses fixtures the CRD accepts, status included (kubeconform -strict against crds/)', async () => {
    const { kubeconform } = await ensureTools();
    const files = (await readdir(fixtures)).filter((f) => f.endsWith('.yaml')).map((f) => join(fixtures, f));
    const r = await run(kubeconform, [
      '-strict',
      '-summary',
      '-schema-location',
      schemaLocation(await crdSchemas()),
      ...files,
    ]);
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({
      code: 0,
      out: expect.stringMatching(/Invalid: 0, Errors: 0/),
    });
  });

  it("knows every reason the operator's core uses for Stalled", async () => {
    const lua = await readFile(join(argocd, 'health.lua'), 'utf8');
    for (const reason of STALLED_REASONS) expect(lua).toContain(`${reason} = true`);
  });

  it.each(Object.entries(expected))(
    'Argo CD (gopher-lua, argocd-cm sandbox) rates %s as expected',
    async (file, want) => {
      // Run the script exactly as installed: extracted from the argocd-cm snippet.
      const cm = load(await readFile(join(argocd, 'argocd-cm.yaml'), 'utf8')) as {
        data: Record<string, string>;
      };
      const dir = await mkdtemp(join(tmpdir(), 'impop-lua-'));
      const script = join(dir, 'health.lua');
      await writeFile(script, cm.data[HEALTH_KEY]!);
      const [result] = await luaHealth(script, [join(fixtures, file)]);
      expect(result?.error).toBeUndefined();
      expect(result?.status).toBe(want.argo);
      expect(result?.message).toMatch(want.argoMessage);
    },
  );

  it.each(Object.entries(expected))('Flux (kstatus rules) rates %s as expected', async (file, want) => {
    const obj = load(await readFile(join(fixtures, file), 'utf8')) as StatusObject;
    expect(kstatus(obj).status).toBe(want.flux);
  });

  it('Argo CD and Flux agree wherever the operator writes all three conditions', async () => {
    const agree: Record<string, KStatus> = {
      Healthy: 'Current',
      Progressing: 'InProgress',
      Degraded: 'Failed',
    };
    for (const file of [
      'healthy.yaml',
      'progressing-reconciling.yaml',
      'degraded-stalled.yaml',
      'generation-mismatch.yaml',
    ]) {
      const want = expected[file]!;
      expect([file, agree[want.argo]]).toEqual([file, want.flux]);
    }
  });

  it.each(LIFETIME_FIXTURES)('%s is the status the core writes for its spec', async (file) => {
    const obj = load(await readFile(join(fixtures, file), 'utf8')) as StatusObject & {
      metadata: { name: string; generation: number };
      spec: unknown;
    };
    const spec = parsePolicySpec(obj.spec);
    if (!spec.ok) throw new Error(spec.message);
    const policy = {
      metadata: { name: obj.metadata.name, uid: 'u1', generation: obj.metadata.generation },
      spec: spec.value,
    };
    const observed = { clusterRoles: [], clusterRoleBindings: [], roles: [], roleBindings: [] };
    const now = LIFETIME_FIXTURES_AT;
    const plan = planPolicy({ policy, peers: [], config: DEFAULT_CORE_CONFIG, observed, now });
    const lifetime = policyLifetime(spec.value, now);
    expect(policyStatus({ generation: obj.metadata.generation, now, plan, lifetime })).toEqual(obj.status);
  });

  it('the runner is a faithful sandbox: no string library, invalid statuses become Unknown', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'impop-lua-'));
    const usesString = join(dir, 'string.lua');
    await writeFile(usesString, 'return { status = string.upper("healthy") }');
    const invalid = join(dir, 'invalid.lua');
    await writeFile(invalid, 'return { status = "Fine", message = "x" }');
    const fixture = join(fixtures, 'healthy.yaml');
    const [withString] = await luaHealth(usesString, [fixture]);
    expect(withString?.error).toMatch(/string/);
    const [withInvalid] = await luaHealth(invalid, [fixture]);
    expect(withInvalid).toMatchObject({
      status: 'Unknown',
      message: 'Lua returned an invalid health status',
    });
  });
});
