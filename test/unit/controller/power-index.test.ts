// Which targets already hold cluster-admin powers, from the cluster's ClusterRoleBindings and the
// rules of the ClusterRoles they bind (the operator's caches), including the implicit groups of an
// impersonated request (system:authenticated, a service account's groups).
import { describe, expect, it } from '@jest/globals';
import { PowerIndex } from '../../../src/controller/power-index.js';
import { Store } from '../../../src/kube/store.js';
import type { KubeObject } from '../../../src/kube/types.js';

const role = (name: string, rules: unknown[]) => ({ metadata: { name }, rules }) as KubeObject;
const binding = (name: string, clusterRole: string, subjects: unknown[]) =>
  ({ metadata: { name }, roleRef: { kind: 'ClusterRole', name: clusterRole }, subjects }) as KubeObject;

function setup() {
  const roles = new Store<KubeObject>();
  const bindings = new Store<KubeObject>();
  roles.upsert(role('cluster-admin', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]));
  roles.upsert(role('view', [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]));
  roles.upsert(
    role('escalator', [
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['escalate'] },
    ]),
  );
  bindings.upsert(binding('kubeadm', 'cluster-admin', [{ kind: 'Group', name: 'kubeadm:cluster-admins' }]));
  bindings.upsert(
    binding('viewers', 'view', [
      { kind: 'Group', name: 'viewers' },
      { kind: 'User', name: 'alice' },
    ]),
  );
  bindings.upsert(binding('ci', 'escalator', [{ kind: 'ServiceAccount', namespace: 'ci', name: 'admin' }]));
  return { roles, bindings, index: new PowerIndex(bindings, roles) };
}

describe('PowerIndex', () => {
  it.each([
    { target: { kind: 'Group', name: 'kubeadm:cluster-admins' } as const, powerful: true },
    { target: { kind: 'Group', name: 'viewers' } as const, powerful: false },
    { target: { kind: 'User', name: 'alice' } as const, powerful: false },
    { target: { kind: 'ServiceAccount', namespace: 'ci', name: 'admin' } as const, powerful: true },
    { target: { kind: 'ServiceAccount', namespace: 'ci', name: 'deployer' } as const, powerful: false },
  ])('$target.kind $target.name powerful: $powerful', ({ target, powerful }) => {
    expect(setup().index.powersOf(target).length > 0).toBe(powerful);
  });

  it('names the power and the ClusterRole', () => {
    expect(setup().index.powersOf({ kind: 'ServiceAccount', namespace: 'ci', name: 'admin' })).toEqual([
      'escalate on clusterroles (ClusterRole escalator)',
    ]);
  });

  it('follows implicit groups: a powerful system:serviceaccounts:<ns> or system:authenticated makes its members powerful', () => {
    const { bindings, index } = setup();
    bindings.upsert(
      binding('ns-admins', 'cluster-admin', [{ kind: 'Group', name: 'system:serviceaccounts:team' }]),
    );
    index.invalidate();
    expect(index.powersOf({ kind: 'ServiceAccount', namespace: 'team', name: 'x' }).length).toBeGreaterThan(
      0,
    );
    expect(index.powersOf({ kind: 'User', name: 'alice' })).toEqual([]);
    bindings.upsert(binding('everyone', 'escalator', [{ kind: 'Group', name: 'system:authenticated' }]));
    index.invalidate();
    expect(index.powersOf({ kind: 'User', name: 'alice' })).toEqual([
      'escalate on clusterroles (ClusterRole escalator)',
    ]);
  });

  it('sees a ClusterRole that gains powers without a rebuild, and tells which roles are bound and dangerous', () => {
    const { roles, index } = setup();
    expect(index.powersOf({ kind: 'Group', name: 'viewers' })).toEqual([]);
    roles.upsert(role('view', [{ apiGroups: [''], resources: ['users'], verbs: ['impersonate'] }]));
    expect(index.powersOf({ kind: 'Group', name: 'viewers' })).toEqual([
      'impersonate on users (ClusterRole view)',
    ]);
    expect(index.isBound('view')).toBe(true);
    expect(index.isBound('escalator')).toBe(true);
    expect(index.isBound('edit')).toBe(false);
    expect(index.isDangerous('cluster-admin')).toBe(true);
    expect(index.isDangerous('missing')).toBe(false);
  });
});
