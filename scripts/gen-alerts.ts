// Writes the alert rules, from src/monitoring/alerts.ts, as the plain Prometheus rules file and as the
// chart's PrometheusRule template. test/unit/monitoring/alerts.test.ts fails when either is stale.
// Run: npm run build && node dist/scripts/gen-alerts.js [repo root]

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CHART_TEMPLATE,
  renderChartTemplate,
  renderRulesFile,
  RULES_FILE,
} from '../src/monitoring/alerts.js';

const root = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..');
for (const [file, text] of [
  [RULES_FILE, renderRulesFile()],
  [CHART_TEMPLATE, renderChartTemplate()],
] as const) {
  const path = resolve(root, file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  console.log(`Wrote ${path}`);
}
