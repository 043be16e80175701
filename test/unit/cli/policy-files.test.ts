import { describe, expect, it } from '@jest/globals';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { documentAtLine, fieldOffsets, lineOf, loadPolicies } from '../../../src/cli/policy-files.js';

const fixtures = join(import.meta.dirname, 'fixtures');

async function tempFiles(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'impop-policies-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

const policy = (name: string, extra = ''): string =>
  `apiVersion: impersonation-operator.io/v1alpha1
kind: ImpersonationPolicy
metadata:
  name: ${name}${extra}
spec:
  impersonators: [{ kind: User, name: proxy }]
  targets: { users: [alice] }
`;

describe('documentAtLine', () => {
  it.each([
    { name: 'no marker', text: 'a: 1\nb: 2\n', line: 1, expected: 1 },
    { name: 'leading marker', text: '---\na: 1\n---\nb: 2\n', line: 3, expected: 2 },
    { name: 'content before the first marker', text: 'a: 1\n---\nb: 2\n', line: 2, expected: 2 },
    { name: 'comment before the first marker', text: '# c\n---\nb: 2\n', line: 2, expected: 1 },
    {
      name: 'error at the start of a marker line ends the previous document',
      text: 'a: 1\n---\nb: [\n---\n',
      line: 3,
      column: 0,
      expected: 2,
    },
  ])('$name', ({ text, line, column, expected }) => {
    expect(documentAtLine(text, line, column)).toBe(expected);
  });
});

describe('field lines', () => {
  const text = `a: 1
---
kind: X
spec:
  roles:
    - name: one
      clusterRoles: [view]
    - name: two
  flow: { x: [1, 2] }
`;
  it.each([
    { path: 'kind', expected: 3 },
    { path: 'spec', expected: 4 },
    { path: 'spec.roles[0].name', expected: 6 },
    { path: 'spec.roles[0].clusterRoles[0]', expected: 7 },
    { path: 'spec.roles[1]', expected: 8 },
    { path: 'spec.flow.x[1]', expected: 9 },
    { path: 'spec.roles[1].clusterRoles', expected: 8, why: 'missing field: its parent' },
    { path: 'metadata.name', expected: 3, why: 'missing subtree: the document' },
  ])('$path -> line $expected', ({ path, expected }) => {
    expect(lineOf(text, fieldOffsets(text)[1], path)).toBe(expected);
  });

  it('knows nothing about a document that does not exist', () => {
    expect(lineOf(text, fieldOffsets(text)[5], 'kind')).toBeUndefined();
  });
});

describe('loadPolicies', () => {
  it('expands folders recursively (YAML and JSON, sorted, hidden entries skipped)', async () => {
    const dir = await tempFiles({
      'b.yaml': policy('b'),
      'a/x.yml': policy('x'),
      'a/y.json': JSON.stringify({
        apiVersion: 'impersonation-operator.io/v1alpha1',
        kind: 'ImpersonationPolicy',
        metadata: { name: 'y' },
        spec: { impersonators: [{ kind: 'User', name: 'p' }] },
      }),
      'a/notes.txt': 'not read',
      '.hidden/z.yaml': policy('z'),
    });
    const set = await loadPolicies([dir]);
    expect(set.files).toEqual([join(dir, 'a/x.yml'), join(dir, 'a/y.json'), join(dir, 'b.yaml')]);
    expect(set.policies.map((p) => p.policy.metadata.name)).toEqual(['x', 'y', 'b']);
    expect(set.problems).toEqual([]);
  });

  it('reads the fixtures: policies, invalid policies with field paths and lines, skipped kinds', async () => {
    const set = await loadPolicies([fixtures]);
    expect(set.policies.map((p) => [p.policy.metadata.name, p.source.document])).toEqual([
      ['colliding', 1],
      ['other', 2],
      ['access-proxy', 1],
      ['cicd', 2],
    ]);
    expect(set.invalid.map((i) => [i.policy, i.document, i.field, i.line])).toEqual([
      ['broken', 2, 'spec.impersonators[0]', 13],
      ['broken', 2, 'spec.targets.users[0]', 16],
      ['broken', 2, 'spec.roles[0].clusterRoles', 19],
    ]);
    expect(set.skipped).toEqual([
      {
        file: join(fixtures, 'invalid.yaml'),
        document: 1,
        apiVersion: 'v1',
        kind: 'ConfigMap',
        name: 'not-a-policy',
      },
    ]);
  });

  it('reads a kind: List from stdin (kubectl get -o yaml)', async () => {
    const list = `apiVersion: v1
kind: List
items:
  - ${policy('one').trimEnd().split('\n').join('\n    ')}
  - apiVersion: impersonation-operator.io/v1alpha1
    kind: ImpersonationPolicy
    metadata: { name: two }
    spec: { impersonators: [] }
`;
    const set = await loadPolicies(['-'], Readable.from([Buffer.from(list)]));
    expect(set.policies.map((p) => [p.policy.metadata.name, p.source])).toEqual([
      ['one', { file: '-', document: 1, item: 0 }],
    ]);
    expect(set.invalid).toEqual([
      expect.objectContaining({ item: 1, field: 'spec.impersonators', line: 14, policy: 'two' }),
    ]);
  });

  it.each([
    {
      name: 'a YAML syntax error, in the document it occurs in',
      text: `${policy('a')}---\nspec: [\n`,
      expected: { document: 2, line: 10, message: expect.stringContaining('YAML parse error') },
    },
    {
      name: 'duplicate keys',
      text: 'a: 1\na: 2\n',
      expected: { document: 1, line: 2, message: expect.stringContaining('duplicated mapping key') },
    },
    {
      name: 'a document that is not a mapping',
      text: `${policy('a')}---\n- a\n- b\n`,
      expected: { document: 2, line: 9, message: expect.stringContaining('not a Kubernetes object') },
    },
    {
      name: 'a mapping without kind',
      text: 'apiVersion: v1\nmetadata: {}\n',
      expected: {
        document: 1,
        line: 1,
        field: 'kind',
        message: expect.stringContaining('apiVersion and kind are required'),
      },
    },
  ])('reports $name as unusable input', async ({ text, expected }) => {
    const dir = await tempFiles({ 'p.yaml': text });
    const set = await loadPolicies([join(dir, 'p.yaml')]);
    expect(set.problems).toEqual([{ file: join(dir, 'p.yaml'), ...expected }]);
  });

  it('reports a missing path', async () => {
    const set = await loadPolicies(['/nonexistent/policies']);
    expect(set.problems).toEqual([
      { file: '/nonexistent/policies', document: 0, message: 'no such file or directory' },
    ]);
  });

  it('reports a wrong apiVersion of an ImpersonationPolicy as invalid, naming the right one', async () => {
    const dir = await tempFiles({ 'p.yaml': policy('a').replace('v1alpha1', 'v1') });
    const set = await loadPolicies([dir]);
    expect(set.invalid).toEqual([
      expect.objectContaining({
        field: 'apiVersion',
        line: 1,
        message: 'must be impersonation-operator.io/v1alpha1',
      }),
    ]);
  });
});
