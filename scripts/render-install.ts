// Syncs the chart with the repo: copies crds/*.yaml into the chart's crds/ and writes
// manifests/install.yaml from the chart (test/integration/chart.test.ts checks both).
// Run after changing the CRD or the chart: npm run build && node dist/scripts/render-install.js
import { copyFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../test/harness/controlplane.js';
import { chartDir, INSTALL_YAML, renderInstallYaml } from '../test/harness/tools.js';

for (const file of (await readdir(join(repoRoot, 'crds'))).filter((f) => f.endsWith('.yaml'))) {
  await copyFile(join(repoRoot, 'crds', file), join(chartDir, 'crds', file));
  process.stdout.write(`copied crds/${file} into the chart\n`);
}
await writeFile(INSTALL_YAML, await renderInstallYaml());
process.stdout.write(`wrote ${INSTALL_YAML}\n`);
