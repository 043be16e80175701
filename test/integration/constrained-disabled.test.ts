// Constrained impersonation where the API server cannot enforce it: a second control plane started
// with --feature-gates=ConstrainedImpersonation=false. A constrained policy must be Stalled with that
// reason and grant nothing (never the unconstrained verb instead), and the probe must tell both
// control planes apart, also for an operator that may impersonate anyone.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/client.js';
import { probeConstrainedImpersonation } from '../../src/kube/constrained-probe.js';
import { ControlPlane } from '../harness/controlplane.js';
import { requestAs } from '../harness/http.js';
import { startOperator, type OperatorProcess } from '../harness/operator.js';
import { eventually, type PolicyObject } from '../harness/policies.js';
import { repoRoot } from '../unit/api/fixtures.js';
import { adminClient } from './kube-support.js';

const POLICIES = '/apis/impersonation-operator.io/v1alpha1/impersonationpolicies';

describe('constrained impersonation on an API server with the feature gate off (integration)', () => {
  let cp: ControlPlane;
  let admin: string;
  let operator: OperatorProcess | undefined;

  beforeAll(async () => {
    cp = await ControlPlane.start({
      crds: [join(repoRoot, 'crds')],
      apiServerArgs: ['--feature-gates=ConstrainedImpersonation=false'],
      log: () => undefined,
    });
    admin = cp.info!.adminKubeconfig;
  }, 180_000);

  afterAll(async () => {
    await operator?.stop();
    await cp?.stop();
  });

  const clientFor = async (kubeconfig: string) => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    return KubeClient.fromKubeConfig(kc);
  };

  it('the probe tells the two control planes apart, for an operator that may impersonate anyone', async () => {
    expect(await probeConstrainedImpersonation(await clientFor(admin))).toEqual({
      enforced: false,
      message: expect.stringContaining('feature gate ConstrainedImpersonation is off'),
    });
    expect(await probeConstrainedImpersonation(await adminClient())).toEqual({ enforced: true });
  });

  it('a constrained policy is Stalled, nothing is granted, and the impersonator can do nothing as its target', async () => {
    const ok = async (method: string, path: string, body?: unknown) => {
      const r = await requestAs(admin, method, path, body === undefined ? {} : { body });
      expect([200, 201]).toContain(r.status);
      return r;
    };
    for (const name of ['ci', 'my-namespace']) await ok('POST', '/api/v1/namespaces', { metadata: { name } });
    await ok('POST', '/api/v1/namespaces/ci/serviceaccounts', { metadata: { name: 'runner' } });
    await ok('POST', '/api/v1/namespaces/my-namespace/serviceaccounts', { metadata: { name: 'deployer' } });
    await ok('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/my-namespace/rolebindings', {
      metadata: { name: 'deployer-edit' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: 'my-namespace' }],
    });

    operator = await startOperator({ kubeconfig: admin, args: ['--no-leader-elect', '--resync-period=2s'] });
    await operator.waitReady();
    await ok('POST', POLICIES, {
      apiVersion: 'impersonation-operator.io/v1alpha1',
      kind: 'ImpersonationPolicy',
      metadata: { name: 'ci-runner' },
      spec: {
        impersonators: [{ kind: 'ServiceAccount', namespace: 'ci', name: 'runner' }],
        targets: { serviceAccounts: [{ namespace: 'my-namespace', name: 'deployer' }] },
        allowedActions: [
          {
            verbs: ['create', 'patch'],
            apiGroups: ['apps'],
            resources: ['deployments'],
            namespaces: ['my-namespace'],
          },
        ],
      },
    });
    const stalled = await eventually('the policy to be Stalled', async () => {
      const p = (await requestAs(admin, 'GET', `${POLICIES}/ci-runner`)).json() as PolicyObject;
      const c = p.status?.conditions?.find((x) => x.type === 'Stalled');
      return c?.status === 'True' && p.status?.observedGeneration === p.metadata.generation ? c : undefined;
    });
    expect(stalled.reason).toBe('ConstrainedImpersonationUnavailable');
    expect(stalled.message).toContain('feature gate ConstrainedImpersonation is off');

    const selector = 'labelSelector=app.kubernetes.io%2Fmanaged-by%3Dimpersonation-operator';
    for (const path of [
      `/apis/rbac.authorization.k8s.io/v1/clusterroles?${selector}`,
      `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?${selector}`,
      `/apis/rbac.authorization.k8s.io/v1/roles?${selector}`,
      `/apis/rbac.authorization.k8s.io/v1/rolebindings?${selector}`,
    ]) {
      expect(((await requestAs(admin, 'GET', path)).json() as { items: unknown[] }).items).toEqual([]);
    }

    const token = (
      (
        await ok('POST', '/api/v1/namespaces/ci/serviceaccounts/runner/token', {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 600 },
        })
      ).json() as { status: { token: string } }
    ).status.token;
    const runner = join(cp.info!.workDir, 'runner.kubeconfig');
    await writeFile(
      runner,
      JSON.stringify({
        clusters: [{ cluster: { server: cp.info!.server, 'certificate-authority': cp.info!.caFile } }],
        users: [{ user: { token } }],
      }),
    );
    const asDeployer = await requestAs(runner, 'GET', '/apis/apps/v1/namespaces/my-namespace/deployments', {
      impersonate: { user: 'system:serviceaccount:my-namespace:deployer' },
    });
    expect(asDeployer.status).toBe(403);
  });
});
