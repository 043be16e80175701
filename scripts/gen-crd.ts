// Writes crds/impersonationpolicies.impersonation-operator.io.yaml from the zod schemas in src/api,
// formatted with the repository's prettier settings. The unit test test/unit/api/crd.test.ts fails
// when the committed file no longer matches the schemas.
// Run: npm run build && node dist/scripts/gen-crd.js [repo root]

import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { crdPath, renderCrd } from '../src/api/crd-yaml.js';

const root = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const path = resolve(root, crdPath);
const options = (await prettier.resolveConfig(path)) ?? {};
writeFileSync(path, await prettier.format(renderCrd(), { ...options, filepath: path }));
console.log(`Wrote ${path}`);
