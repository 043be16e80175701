// The committed CRD is exactly what the zod schemas generate, and it is a structural schema.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { load } from 'js-yaml';
import { crdPath, impersonationPolicyCrd, structuralSchema } from '../../../src/api/index.js';
import { repoRoot } from './fixtures.js';

type Node = Record<string, unknown>;

/** Every schema node with its path. */
function nodes(node: Node, path = ''): [string, Node][] {
  const out: [string, Node][] = [[path, node]];
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, Node>)) {
    out.push(...nodes(child, path ? `${path}.${name}` : name));
  }
  if (node.items !== undefined) out.push(...nodes(node.items as Node, `${path}[]`));
  if (typeof node.additionalProperties === 'object')
    out.push(...nodes(node.additionalProperties as Node, `${path}{}`));
  return out;
}

describe('CRD', () => {
  const crd = impersonationPolicyCrd() as {
    spec: { versions: { schema: { openAPIV3Schema: Node } }[] };
  };
  const schema = crd.spec.versions[0]!.schema.openAPIV3Schema;

  it('matches the committed file', () => {
    const committed = load(readFileSync(join(repoRoot, crdPath), 'utf8'));
    const stale = `${crdPath} is stale: regenerate it with \`npm run build && node dist/scripts/gen-crd.js\``;
    expect({ [stale]: committed }).toEqual({ [stale]: crd });
  });

  it('is structural: a type on every node, no $ref, $schema or additionalProperties: false', () => {
    for (const [path, node] of nodes(schema)) {
      if (path === 'metadata') continue;
      expect({ path, type: typeof node.type }).toEqual({ path, type: 'string' });
      for (const key of ['$ref', '$schema', '$defs', 'anyOf', 'oneOf', 'allOf', 'not', 'propertyNames']) {
        expect({ path, has: key in node }).toEqual({ path, has: false });
      }
      expect({ path, additionalProperties: node.additionalProperties === false }).toEqual({
        path,
        additionalProperties: false,
      });
    }
  });

  it('describes every field (kubectl explain)', () => {
    const undocumented = nodes(schema)
      .filter(([path]) => path !== 'metadata' && !path.endsWith('[]'))
      .filter(([, node]) => typeof node.description !== 'string' || node.description === '')
      .map(([path]) => path);
    expect(undocumented).toEqual([]);
  });

  it('bounds every string and list of the spec that a CEL rule reads', () => {
    const unbounded = nodes(schema)
      .filter(([path]) => path.startsWith('spec'))
      .filter(([, node]) => node['x-kubernetes-validations'] !== undefined)
      .flatMap(([path, node]) =>
        nodes(node, path).filter(
          ([, n]) =>
            (n.type === 'string' && n.maxLength === undefined && n.enum === undefined) ||
            (n.type === 'array' && n.maxItems === undefined),
        ),
      )
      .map(([path]) => path);
    expect(unbounded).toEqual([]);
  });

  it('gives every CEL rule a message, and only the backslash escapes CEL and RE2 agree on', () => {
    const rules = [
      ...nodes(schema).flatMap(([, node]) => (node['x-kubernetes-validations'] ?? []) as Node[]),
    ];
    expect(rules.length).toBeGreaterThan(5);
    expect(rules.filter((r) => typeof r.message !== 'string')).toEqual([]);
    // CEL string literals reject most escapes: only \\ (a backslash for RE2) and \uXXXX, \UXXXXXXXX.
    const escapes = /\\(\\|u[0-9a-f]{4}|U[0-9a-f]{8})/g;
    expect(rules.filter((r) => String(r.rule).replace(escapes, '').includes('\\'))).toEqual([]);
  });

  it.each([
    { name: 'a union', given: { anyOf: [{ type: 'string' }] }, expected: "'anyOf' cannot be expressed" },
    { name: 'a node without type', given: { description: 'x' }, expected: "needs a single 'type'" },
    { name: 'a reference', given: { $ref: '#/x', type: 'object' }, expected: "'$ref' cannot be expressed" },
  ])('refuses to convert $name', ({ given, expected }) => {
    expect(() => structuralSchema(given)).toThrow(expected);
  });

  it.each([
    {
      name: 'drops closed objects and defaults of lists',
      given: {
        type: 'object',
        additionalProperties: false,
        properties: { a: { description: 'a', type: 'array', default: [], items: { type: 'string' } } },
      },
      expected: {
        type: 'object',
        properties: { a: { description: 'a', type: 'array', items: { type: 'string' } } },
      },
    },
    {
      name: 'drops safe-integer bounds and date-time regexes',
      given: {
        type: 'object',
        properties: {
          n: { description: 'n', type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
          t: { description: 't', type: 'string', format: 'date-time', pattern: '^x$' },
        },
      },
      expected: {
        type: 'object',
        properties: {
          n: { description: 'n', type: 'integer', minimum: 0 },
          t: { description: 't', type: 'string', format: 'date-time' },
        },
      },
    },
  ])('$name', ({ given, expected }) => {
    expect(structuralSchema(given)).toEqual(expected);
  });
});
