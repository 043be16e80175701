// The chart's optional author check judges the groups the operator will really grant. It derived
// them with lowerAscii(), the operator with Go's lower-casing: an author allowed to impersonate
// only 'Équipe-…' could name a role 'Équipe …', pass the check, and have the operator grant
// 'équipe-…', a group they may not impersonate. Now names the check cannot lower-case like the
// operator are refused, and 'İnfra'/KELVIN SIGN names are checked as the groups they become.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { requestAs, type RawResponse } from '../harness/http.js';
import { kubeconfigFor } from '../harness/identities.js';
import { kubectl, kubectlOk } from '../harness/kubectl.js';
import { repoRoot } from '../harness/paths.js';
import { ensureTools, helmTemplateOk } from '../harness/tools.js';

const suffix = randomBytes(3).toString('hex');
const author = `norm-author-${suffix}`;
const release = `norm-author-${suffix}`;
const label = 'impop-norm-author-check';

const describeResponse = (r: RawResponse): string => {
  try {
    return `${r.status} ${(r.json() as { message?: string }).message ?? r.body.slice(0, 300)}`;
  } catch {
    return `${r.status} ${r.body.slice(0, 300)}`;
  }
};

describe('author check: role names judged as the operator lower-cases them', () => {
  let manifests = '';

  beforeAll(async () => {
    await ensureTools();
    await kubectlOk([
      'apply',
      '--server-side',
      '--force-conflicts',
      '--field-manager=impop-norm-test',
      '-f',
      join(repoRoot, 'crds'),
    ]);
    await kubectlOk([
      'wait',
      '--for=condition=Established',
      'crd/impersonationpolicies.impersonation-operator.io',
    ]);
    manifests = await helmTemplateOk({
      release,
      namespace: 'default',
      values: {
        admissionPolicy: {
          operatorGuard: { enabled: false },
          authorCheck: { enabled: true, objectSelector: { matchLabels: { [label]: suffix } } },
        },
      },
      flags: ['--show-only', 'templates/admission-policy.yaml'],
    });
    // The author may impersonate exactly these groups (note the upper-case É) and bind view.
    const groups = [`Équipe-${suffix}`, `infra-${suffix}`, `kube-${suffix}`, `été-${suffix}`];
    const authorRbac = [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: author },
        rules: [
          {
            apiGroups: ['impersonation-operator.io'],
            resources: ['impersonationpolicies'],
            verbs: ['create'],
          },
          { apiGroups: [''], resources: ['groups'], verbs: ['impersonate'], resourceNames: groups },
          {
            apiGroups: ['rbac.authorization.k8s.io'],
            resources: ['clusterroles'],
            verbs: ['bind'],
            resourceNames: ['view'],
          },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: author },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: author },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: author }],
      },
    ];
    await kubectlOk(['apply', '--server-side', '-f', '-'], {
      input: [manifests, ...authorRbac.map((o) => JSON.stringify(o))].join('\n---\n'),
    });
  }, 30 * 60_000);

  afterAll(async () => {
    await kubectl(['delete', '--ignore-not-found', '-f', '-'], { input: manifests });
    await kubectl(['delete', 'clusterrole,clusterrolebinding', author, '--ignore-not-found']);
  });

  const create = async (role: string, name: string) =>
    requestAs(
      await kubeconfigFor(author),
      'POST',
      '/apis/impersonation-operator.io/v1alpha1/impersonationpolicies?dryRun=All',
      {
        body: {
          apiVersion: 'impersonation-operator.io/v1alpha1',
          kind: 'ImpersonationPolicy',
          metadata: { name: `${name}-${suffix}`, labels: { [label]: suffix } },
          spec: {
            impersonators: [{ kind: 'User', name: `proxy-${suffix}` }],
            roles: [{ name: role, clusterRoles: ['view'] }],
          },
        },
      },
    );

  /** Retries while the freshly applied policy is not yet in force (a refusal is what it enforces). */
  async function settle(
    role: string,
    name: string,
    until: (r: RawResponse) => boolean,
  ): Promise<RawResponse> {
    const deadline = Date.now() + 60_000;
    let r = await create(role, name);
    while (!until(r) && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 250));
      r = await create(role, name);
    }
    return r;
  }

  it("refuses 'Équipe …', whose group the operator would grant as 'équipe-…'", async () => {
    // A group the author may not impersonate (the upper-case spelling they may is not it) is
    // refused by the existing check as soon as the policy is in force.
    const other = await settle(`Ops ${suffix}`, 'ops', (r) => r.status === 403);
    expect(describeResponse(other)).toMatch(/derived from\s+spec\.roles/);
    const r = await create(`Équipe ${suffix}`, 'equipe');
    expect(r.status).toBe(422);
    expect(describeResponse(r)).toMatch(/may hold upper-case letters only in ASCII/);
  });

  it.each([
    ['İnfra (U+0130)', `\u0130nfra ${suffix}`, 'infra'],
    ['KELVIN SIGN', `\u212aube ${suffix}`, 'kube'],
    ['lower-case non-ASCII', `été ${suffix}`, 'ete'],
  ])('admits %s, checked as the group the operator grants', async (_name, role, name) => {
    const r = await settle(role, name, (x) => x.status === 201);
    expect(describeResponse(r)).toMatch(/^201 /);
  });
});
