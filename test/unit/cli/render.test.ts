import { describe, expect, it } from '@jest/globals';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { parsePolicy } from '../../../src/api/index.js';
import { DEFAULT_CORE_CONFIG, decidePolicy, desiredRbac } from '../../../src/core/index.js';
import { main } from '../../../src/cli/kubectl-impersonation.js';
import { capture } from './capture.js';

const fixture = (name: string): string => join(import.meta.dirname, 'fixtures', name);

async function render(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = capture();
  const code = await main(['render', ...args], c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/** What the core itself produces for one policy document (peers: the other documents). */
async function coreObjects(file: string, uid: string): Promise<unknown[]> {
  const { readFile } = await import('node:fs/promises');
  const docs = loadAll(await readFile(file, 'utf8')).map((d) => {
    const parsed = parsePolicy(d);
    if (!parsed.ok) throw new Error(parsed.message);
    return parsed.value;
  });
  return docs.flatMap((p) => {
    const peers = docs
      .filter((o) => o !== p)
      .map((o) => ({ metadata: { name: o.metadata.name }, spec: o.spec }));
    const identity = { name: p.metadata.name, uid };
    const decisions = decidePolicy({ metadata: identity, spec: p.spec }, peers, DEFAULT_CORE_CONFIG);
    return desiredRbac(identity, decisions.grants);
  });
}

function withoutOwners(objects: unknown[]): unknown[] {
  return objects.map((o) => {
    const obj = o as { metadata: Record<string, unknown> };
    const { ownerReferences: _drop, annotations: _record, ...metadata } = obj.metadata;
    return { ...obj, metadata };
  });
}

describe('render', () => {
  it.each([{ file: 'proxy.yaml' }, { file: 'collisions.yaml' }])(
    'prints exactly the objects of the core for $file, without ownerReferences when the uid is unknown',
    async ({ file }) => {
      const r = await render([fixture(file)]);
      expect(r.code).toBe(0);
      const printed = loadAll(r.stdout).filter((d) => d !== null);
      expect(printed).toEqual(withoutOwners(await coreObjects(fixture(file), 'x')));
      expect(r.stdout).not.toContain('ownerReferences:');
    },
  );

  it('adds ownerReferences with --owner-uid', async () => {
    const r = await render([fixture('proxy.yaml'), '--owner-uid', 'access-proxy=uid-1,cicd=uid-2']);
    const printed = loadAll(r.stdout).filter((d) => d !== null);
    const expected = await coreObjects(fixture('proxy.yaml'), 'uid-1');
    const cicd = await coreObjects(fixture('proxy.yaml'), 'uid-2');
    // access-proxy objects come first (5), then cicd's (2).
    expect(printed).toEqual([...expected.slice(0, 5), ...cicd.slice(5)]);
  });

  it('keeps the uid a policy already carries (kubectl get -o yaml)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'impop-render-'));
    await writeFile(
      join(dir, 'p.yaml'),
      `apiVersion: impersonation-operator.io/v1alpha1
kind: ImpersonationPolicy
metadata: { name: p, uid: 0c1d2e3f-aaaa-bbbb-cccc-000000000001 }
spec:
  impersonators: [{ kind: User, name: proxy }]
  targets: { users: [alice] }
`,
    );
    const r = await render([dir]);
    expect(r.stdout).toContain('uid: 0c1d2e3f-aaaa-bbbb-cccc-000000000001');
    expect(r.stdout).toContain('controller: true');
  });

  it('says in comments what was held back, and warns on stderr', async () => {
    const r = await render([fixture('collisions.yaml')]);
    expect(r.stdout).toContain("#   held back: group myrole (collision: 'MyRole', 'myrole')");
    expect(r.stdout).toContain("#   held back: group my-role (collision: 'My-Role', 'My role' in other)");
    expect(r.stdout).toContain("#   denied: ClusterRole cluster-admin (role 'Admins'): DeniedClusterRole");
    expect(r.stderr).toContain('warning:');
  });

  it('prints a v1 List with --output json', async () => {
    const r = await render([fixture('proxy.yaml'), '-o', 'json']);
    const list = JSON.parse(r.stdout) as { apiVersion: string; kind: string; items: unknown[] };
    expect(list).toMatchObject({ apiVersion: 'v1', kind: 'List' });
    expect(list.items).toEqual(withoutOwners(await coreObjects(fixture('proxy.yaml'), 'x')));
  });

  it.each([
    { name: 'an invalid policy', args: [fixture('invalid.yaml')], message: 'InvalidPolicy' },
    { name: 'a missing file', args: ['/nonexistent.yaml'], message: 'no such file or directory' },
    { name: 'a bad --owner-uid', args: [fixture('proxy.yaml'), '--owner-uid', 'x'], message: 'NAME=UID' },
    {
      name: 'an --owner-uid for no policy',
      args: [fixture('proxy.yaml'), '--owner-uid', 'zz=1'],
      message: 'names zz',
    },
    { name: 'a bad --output', args: [fixture('proxy.yaml'), '-o', 'text'], message: '"yaml" or "json"' },
  ])('renders nothing and exits 2 on $name', async ({ args, message }) => {
    const r = await render(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
  });
});
