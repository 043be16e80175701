import { describe, expect, it } from '@jest/globals';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck, type CheckReport } from '../../../src/cli/check.js';
import { main } from '../../../src/cli/kubectl-impersonation.js';
import { capture } from './capture.js';

const fixture = (name: string): string => join(import.meta.dirname, 'fixtures', name);

async function check(
  args: string[],
  stdin = '',
): Promise<{ code: number; report: CheckReport; stderr: string }> {
  const c = capture(stdin);
  const code = await runCheck([...args, '--output', 'json'], c.io);
  return { code, report: JSON.parse(c.stdout()) as CheckReport, stderr: c.stderr() };
}

const brief = (r: CheckReport): string[] =>
  r.findings.map(
    (f) =>
      `${f.severity} ${f.code}${f.reason ? `/${f.reason}` : ''} ${f.policy ?? '-'} ${f.field ?? '-'}:${f.line ?? '?'}`,
  );

describe('check', () => {
  it.each([
    { name: 'clean policies', args: [fixture('proxy.yaml')], code: 0, findings: [] },
    {
      name: 'collisions within and across policies, denied ClusterRole and system: user',
      args: [fixture('collisions.yaml')],
      code: 1,
      findings: [
        'error Collision colliding spec.roles[0].name:12',
        'error Collision colliding spec.roles[2].name:16',
        'error Denied/NoPermittedClusterRoles colliding spec.roles[3].name:18',
        'error Denied/DeniedClusterRole colliding spec.roles[3].clusterRoles[0]:19',
        'warning NothingProvisioned other spec.targets:31',
        'error Denied/SystemIdentityNotAllowed other spec.targets.users[0]:32',
        'error Collision other spec.roles[0].name:35',
      ],
    },
    {
      name: 'the operator configuration from flags',
      args: [
        fixture('collisions.yaml'),
        '--denied-cluster-roles=',
        '--allowed-system-identities',
        'system:authenticated,system:kube-controller-manager',
      ],
      code: 1,
      findings: [
        'error Collision colliding spec.roles[0].name:12',
        'error Collision colliding spec.roles[2].name:16',
        'error Collision other spec.roles[0].name:35',
      ],
    },
    {
      name: 'a schema violation (and a skipped ConfigMap)',
      args: [fixture('invalid.yaml')],
      code: 1,
      findings: [
        'error InvalidPolicy broken spec.impersonators[0]:13',
        'error InvalidPolicy broken spec.targets.users[0]:16',
        'error InvalidPolicy broken spec.roles[0].clusterRoles:19',
      ],
    },
    {
      name: 'a missing file among good ones',
      args: [fixture('proxy.yaml'), '/nonexistent.yaml'],
      code: 2,
      findings: ['error UnusableInput - -:?'],
    },
  ])('$name', async ({ args, code, findings }) => {
    const r = await check(args);
    expect(brief(r.report)).toEqual(findings);
    expect(r.code).toBe(code);
    expect(r.report.exitCode).toBe(code);
  });

  it('reports a policy name used twice, and a cross-policy collision only between different role names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'impop-check-'));
    const p = (name: string, role: string): string => `apiVersion: impersonation-operator.io/v1alpha1
kind: ImpersonationPolicy
metadata: { name: ${name} }
spec:
  impersonators: [{ kind: User, name: proxy }]
  roles: [{ name: ${role}, clusterRoles: [view] }]
`;
    await writeFile(join(dir, 'a.yaml'), `${p('a', 'Ops')}---\n${p('b', 'Ops')}---\n${p('a', 'Dev')}`);
    const r = await check([dir]);
    expect(brief(r.report)).toEqual(['error DuplicateName a metadata.name:17']);
    expect(r.report.findings[0]?.message).toContain(`${join(dir, 'a.yaml')} (document 1)`);
  });

  it('judges bound ClusterRoles and powerful targets with --cluster-roles, as the operator does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'impop-check-'));
    const roles = join(dir, 'clusterroles.yaml');
    await writeFile(
      roles,
      `apiVersion: v1
kind: List
items:
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata: { name: view }
    rules: [{ apiGroups: [''], resources: [pods], verbs: [get] }]
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata: { name: my-admin }
    rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRoleBinding
    metadata: { name: kubeadm-admins }
    roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: my-admin }
    subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'kubeadm:cluster-admins' }]
`,
    );
    await writeFile(
      join(dir, 'p.yaml'),
      `apiVersion: impersonation-operator.io/v1alpha1
kind: ImpersonationPolicy
metadata: { name: p }
spec:
  impersonators: [{ kind: User, name: proxy }]
  targets: { groups: ['kubeadm:cluster-admins'] }
  roles:
    - { name: Readers, clusterRoles: [view] }
    - { name: Admins, clusterRoles: [my-admin, ghost] }
`,
    );
    const r = await check(['--cluster-roles', roles, join(dir, 'p.yaml')]);
    expect(brief(r.report)).toEqual([
      'error Denied/PowerfulTarget p spec.targets.groups[0]:6',
      'error Denied/UnknownClusterRole p spec.roles[1].clusterRoles[1]:9',
      'error Denied/PowerfulClusterRole p spec.roles[1].clusterRoles[0]:9',
      'error Denied/NoPermittedClusterRoles p spec.roles[1].name:9',
    ]);
    expect(r.code).toBe(1);
    // Without the file the rules are not known here: only the operator judges them.
    expect(brief((await check([join(dir, 'p.yaml')])).report)).toEqual([]);
    const missing = capture('');
    expect(
      await main(['check', '--cluster-roles', join(dir, 'nope.yaml'), join(dir, 'p.yaml')], missing.io),
    ).toBe(2);
    expect(missing.stderr()).toContain('--cluster-roles: cannot read');
  });

  it('warns about allowAnyUser without failing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'impop-check-'));
    await writeFile(
      join(dir, 'any.yaml'),
      `apiVersion: impersonation-operator.io/v1alpha1
kind: ImpersonationPolicy
metadata: { name: any }
spec:
  impersonators: [{ kind: User, name: proxy }]
  targets: { allowAnyUser: true }
`,
    );
    const r = await check(['--allow-any-user', dir]);
    expect(brief(r.report)).toEqual(['warning AllowAnyUser any spec.targets.allowAnyUser:6']);
    expect(r.code).toBe(0);
    // Without the operator's own opt-in the operator refuses it, and so does check.
    const refused = await check([dir]);
    expect(brief(refused.report)).toEqual([
      'error Denied/AnyUserNotEnabled any spec.targets.allowAnyUser:6',
      'warning NothingProvisioned any spec.targets:6',
    ]);
    expect(refused.code).toBe(1);
  });

  it('exits 2 when no policy is found', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'impop-check-'));
    await writeFile(join(dir, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n');
    const c = capture();
    expect(await runCheck([dir], c.io)).toBe(2);
    expect(c.stdout()).toContain('No ImpersonationPolicy found in the input.');
  });

  it('prints findings for people: file:line, document, policy, field, code and message', async () => {
    const c = capture();
    expect(await main(['check', fixture('collisions.yaml')], c.io)).toBe(1);
    const out = c.stdout();
    expect(out).toContain(
      `ERROR ${fixture('collisions.yaml')}:12 (document 1) policy colliding: spec.roles[0].name\n`,
    );
    expect(out).toContain("      Collision: roles 'MyRole' and 'myrole' both map to group 'myrole'");
    expect(out).toContain(`WARN  ${fixture('collisions.yaml')}:31 (document 2) policy other: spec.targets\n`);
    expect(out).toMatch(/Checked 2 policies in 1 file\(s\): 6 error\(s\), 1 warning\(s\)\.\n$/);
  });

  it('summarizes documents of other kinds in one line', async () => {
    const c = capture();
    expect(await main(['check', fixture('invalid.yaml')], c.io)).toBe(1);
    expect(c.stdout()).toContain('Skipped 1 document(s) that are not ImpersonationPolicies: 1 ConfigMap.\n');
    expect(c.stdout()).toContain('Checked 1 policy (1 invalid) in 1 file(s): 3 error(s), 0 warning(s).');
  });

  it('reads policies from stdin', async () => {
    const r = await check(['-'], 'apiVersion: v1\nkind: List\nitems: []\n');
    expect(r.code).toBe(2);
  });

  it.each([
    { args: ['check'], message: 'give at least one policy file or folder' },
    { args: ['check', 'x', '-o', 'yaml'], message: '--output must be "text" or "json"' },
  ])('exits 2 on bad usage: $args', async ({ args, message }) => {
    const c = capture();
    expect(await main(args, c.io)).toBe(2);
    expect(c.stderr()).toContain(message);
  });
});

const CONSTRAINED = `apiVersion: impersonation-operator.io/v1alpha1
kind: ImpersonationPolicy
metadata:
  name: read-only
spec:
  impersonators: [{ kind: User, name: proxy }]
  targets: { users: [alice] }
  allowedActions:
    - { verbs: [get, list], apiGroups: [''], resources: [pods] }
---
apiVersion: impersonation-operator.io/v1alpha1
kind: ImpersonationPolicy
metadata:
  name: classic
spec:
  impersonators: [{ kind: User, name: proxy }]
  targets: { users: [alice, bob] }
---
apiVersion: impersonation-operator.io/v1alpha1
kind: ImpersonationPolicy
metadata:
  name: writes
spec:
  impersonators: [{ kind: User, name: proxy }]
  targets: { users: [carol] }
  allowedActions:
    - { verbs: [delete], apiGroups: [''], resources: [pods] }
`;

describe('check: what defeats a constraint across files', () => {
  it('reports a classic policy of the same impersonator on a shared target, and constrained policies whose actions add up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'check-constrained-'));
    const file = join(dir, 'constrained.yaml');
    await writeFile(file, CONSTRAINED);
    const { code, report } = await check([file]);
    expect(code).toBe(0); // warnings only
    expect(report.findings.map((f) => [f.code, f.policy, f.message])).toEqual([
      [
        'ConstraintBypassed',
        'read-only',
        expect.stringContaining('policy classic lets User proxy impersonate User alice without constraint'),
      ],
      [
        'ConstraintBypassed',
        'read-only',
        expect.stringContaining('policy writes also constrains User proxy'),
      ],
      [
        'ConstraintBypassed',
        'writes',
        expect.stringContaining('policy read-only also constrains User proxy'),
      ],
    ]);
  });
});
