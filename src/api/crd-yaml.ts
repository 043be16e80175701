// The CRD as committed YAML: one rendering shared by scripts/gen-crd.ts and the drift test.

import { dump } from 'js-yaml';
import { CRD_NAME } from './group.js';
import { impersonationPolicyCrd } from './crd.js';

/** Path of the generated CRD, relative to the repository root. */
export const crdPath = `crds/${CRD_NAME}.yaml`;

export function renderCrd(): string {
  const header =
    '# Generated from the zod schemas in src/api by scripts/gen-crd.ts. Do not edit.\n' +
    '# Regenerate: npm run build && node dist/scripts/gen-crd.js\n';
  return header + dump(impersonationPolicyCrd(), { noRefs: true, lineWidth: -1 });
}
