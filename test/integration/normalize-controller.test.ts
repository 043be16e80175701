// The operator judges role names as a Go proxy lower-cases them. The attack: tenant A names its
// role 'İnfra …' (U+0130), tenant B has 'infra …'. JavaScript's toLowerCase() made them two groups
// ('i̇nfra-…' and 'infra-…'), both provisioned, while a Go proxy sends 'infra-…' for members of
// either role: A's people would get B's rights. Both must be reported as colliding and the group
// held back in both policies (fail closed), on the real API server with the chart's identity.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { kubeconfigFor } from '../harness/identities.js';
import { requestAs } from '../harness/http.js';
import { startOperator, type OperatorProcess } from '../harness/operator.js';
import { installOperatorRbac, type OperatorRbac } from '../harness/operator-rbac.js';
import {
  adminRequest,
  applyPolicy,
  deletePolicy,
  ensureCrd,
  ensureNamespace,
  generatedObjects,
  isObserved,
  policy,
  waitForPolicy,
  type RbacObject,
} from '../harness/policies.js';

const s = Date.now().toString(36).slice(-6);
const ns = `norm-app-${s}`;
const proxyUser = `norm-proxy-${s}`;
const user = `norm-dana-${s}@example.com`;
const podReader = `norm-pod-reader-${s}`;
const group = `infra-${s}`;
/** What JavaScript's toLowerCase() made of 'İnfra …': the group the old code provisioned for A. */
const jsGroup = `i\u0307nfra-${s}`;
const names = { a: `norm-a-${s}`, b: `norm-b-${s}` };
const WAIT_MS = 120_000;

const groupSubjects = (o: RbacObject) =>
  (o.subjects ?? []).filter((x) => x.kind === 'Group').map((x) => x.name);

describe('operator: role names normalized as a Go proxy does', () => {
  let rbac: OperatorRbac;
  let operator: OperatorProcess;
  let proxy: string;

  beforeAll(async () => {
    await ensureCrd();
    await ensureNamespace(ns);
    const res = await adminRequest('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: podReader },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
    });
    expect(res.status).toBe(201);
    // The operator may grant both spellings, so only the normalization decides.
    rbac = await installOperatorRbac({
      impersonate: { users: [user], groups: [group, jsGroup] },
      bindableClusterRoles: [podReader],
    });
    operator = await startOperator({ kubeconfig: await rbac.kubeconfig(), args: ['--no-leader-elect'] });
    await operator.waitReady();
    proxy = await kubeconfigFor(proxyUser);
  });

  afterAll(async () => {
    for (const n of Object.values(names)) await deletePolicy(n).catch(() => undefined);
    const code = operator ? await operator.stop() : 0;
    await rbac?.uninstall();
    await adminRequest('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${podReader}`);
    await adminRequest('DELETE', `/api/v1/namespaces/${ns}`);
    expect(code).toBe(0);
  });

  it(
    "'İnfra' in one policy and 'infra' in another collide: the group is held back in both",
    async () => {
      const spec = (role: string) => ({
        impersonators: [{ kind: 'User', name: proxyUser }],
        targets: { users: [user] },
        roles: [{ name: role, clusterRoles: [podReader] }],
      });
      await applyPolicy(policy(names.a, spec(`\u0130nfra ${s}`)));
      await applyPolicy(policy(names.b, spec(`infra ${s}`)));

      for (const [name, own, other] of [
        [names.a, `\u0130nfra ${s}`, { policy: names.b, role: `infra ${s}` }],
        [names.b, `infra ${s}`, { policy: names.a, role: `\u0130nfra ${s}` }],
      ] as const) {
        const p = await waitForPolicy(
          name,
          (x) => isObserved(x) && (x.status?.collisions?.length ?? 0) > 0,
          'a collision',
          WAIT_MS,
        );
        expect(p.status?.collisions).toEqual([
          { group, scope: 'AcrossPolicies', roles: [own], otherPolicies: [other] },
        ]);
        expect(p.status?.roleGroups ?? []).toEqual([]);
        const bound = (await generatedObjects(name)).flatMap(groupSubjects);
        expect(bound).not.toContain(group);
        expect(bound).not.toContain(jsGroup);
      }

      // What a Go proxy asserts for a member of either role is refused.
      const pods = `/api/v1/namespaces/${ns}/pods`;
      const r = await requestAs(proxy, 'GET', pods, { impersonate: { user, groups: [group] } });
      expect(r.status).toBe(403);
    },
    2 * WAIT_MS + 30_000,
  );
});
