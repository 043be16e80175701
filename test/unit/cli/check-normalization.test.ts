// `kubectl impersonation check` judges role names as the operator (and a Go proxy) does: 'İnfra'
// and 'infra' are one group, and a name with an invisible character is a schema error.

import { describe, expect, it } from '@jest/globals';
import { runCheck, type CheckReport } from '../../../src/cli/check.js';
import { capture } from './capture.js';

const policy = (name: string, roles: string[]): string =>
  [
    'apiVersion: impersonation-operator.io/v1alpha1',
    'kind: ImpersonationPolicy',
    `metadata: { name: ${name} }`,
    'spec:',
    '  impersonators: [{ kind: User, name: proxy }]',
    '  roles:',
    ...roles.map((r) => `    - { name: ${JSON.stringify(r)}, clusterRoles: [view] }`),
    '',
  ].join('\n');

async function check(stdin: string): Promise<{ code: number; report: CheckReport }> {
  const c = capture(stdin);
  const code = await runCheck(['-', '--output', 'json'], c.io);
  return { code, report: JSON.parse(c.stdout()) as CheckReport };
}

describe('check: normalization as a Go proxy does it', () => {
  it.each([
    { name: "'İnfra' and 'infra' in one policy", stdin: policy('a', ['İnfra', 'infra']) },
    {
      name: "'İnfra' and 'infra' across policies",
      stdin: `${policy('a', ['İnfra'])}---\n${policy('b', ['infra'])}`,
    },
    { name: "'ΟΔΟΣ' and 'οδοσ' (no final sigma in Go)", stdin: policy('a', ['ΟΔΟΣ', 'οδοσ']) },
  ])('reports $name as colliding', async ({ stdin }) => {
    const { code, report } = await check(stdin);
    expect(code).toBe(1);
    expect(report.findings.filter((f) => f.code === 'Collision').length).toBeGreaterThan(0);
  });

  it('refuses a role name with a zero-width space, naming the field and the fix', async () => {
    const { code, report } = await check(policy('a', ['infra\u200b']));
    expect(code).not.toBe(0);
    expect(JSON.stringify(report.findings)).toContain('roles[].name must not contain control, format');
  });
});
