// Writes the Grafana dashboard (scripts/dashboard.ts) to the chart and to manifests/monitoring/.
// The unit test test/unit/monitoring/dashboard.test.ts fails when a committed copy is stale.
// Run: npm run gen:dashboard

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DASHBOARD_PATHS, renderDashboard } from './dashboard.js';

const root = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const text = renderDashboard();
for (const file of DASHBOARD_PATHS) {
  const path = resolve(root, file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  console.log(`Wrote ${path}`);
}
