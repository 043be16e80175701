// Writes manifests/install.yaml from the Helm chart (test/integration/chart.test.ts checks it).
import { writeFile } from 'node:fs/promises';
import { INSTALL_YAML, renderInstallYaml } from '../test/harness/tools.js';

await writeFile(INSTALL_YAML, await renderInstallYaml());
process.stdout.write(`wrote ${INSTALL_YAML}\n`);
