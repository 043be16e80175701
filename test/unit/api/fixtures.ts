// Loads the shared policy fixtures (test/fixtures/policies) and the example policies, for the unit
// test (zod) and the integration test (the API server), which must reach the same verdicts.

import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const fixturesDir = join(repoRoot, 'test', 'fixtures', 'policies');
export const examplesDir = join(repoRoot, 'manifests', 'examples');

export interface PolicyFixture {
  /** File name without extension. */
  name: string;
  path: string;
  text: string;
  object: unknown;
  /** For invalid fixtures: a field path both the zod error and the API server's message must name. */
  expectField?: string;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

export function loadFixtures(kind: 'valid' | 'invalid'): PolicyFixture[] {
  const dir = join(fixturesDir, kind);
  return yamlFiles(dir).map((file) => {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    const expectField = /^# expect-field: (.+)$/m.exec(text)?.[1]?.trim();
    return {
      name: file.replace(/\.yaml$/, ''),
      path,
      text,
      object: loadAll(text)[0],
      ...(expectField === undefined ? {} : { expectField }),
    };
  });
}

/** Every ImpersonationPolicy document in manifests/examples. */
export function loadExamplePolicies(): PolicyFixture[] {
  return yamlFiles(examplesDir).flatMap((file) => {
    const path = join(examplesDir, file);
    const text = readFileSync(path, 'utf8');
    return loadAll(text)
      .filter((doc): doc is { kind: string } => typeof doc === 'object' && doc !== null && 'kind' in doc)
      .filter((doc) => doc.kind === 'ImpersonationPolicy')
      .map((object) => ({ name: `examples/${file}`, path, text, object }));
  });
}
