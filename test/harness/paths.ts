// Where the repository is, whether the harness runs from test/harness (ts-jest) or dist/test/harness (built).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(
  here,
  existsSync(join(here, '..', '..', 'package.json')) ? '../..' : '../../..',
);
