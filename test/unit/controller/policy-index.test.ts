import { describe, expect, it } from '@jest/globals';
import { PolicyIndex, type PolicyObject } from '../../../src/controller/policy-index.js';
import { Store } from '../../../src/kube/store.js';

const policy = (name: string, roles: string[], extra: Record<string, unknown> = {}): PolicyObject => ({
  metadata: { name, uid: `uid-${name}`, ...extra },
  spec: {
    impersonators: [{ kind: 'User', name: 'proxy' }],
    roles: roles.map((r) => ({ name: r, clusterRoles: ['view'] })),
  },
});

describe('PolicyIndex', () => {
  const setup = () => {
    const store = new Store<PolicyObject>();
    const index = new PolicyIndex(store);
    const put = (p: PolicyObject) => {
      store.upsert(p);
      return index.update(p.metadata!.name!, store.get(p.metadata!.name!));
    };
    return { store, index, put };
  };

  it('names the peers whose collisions may change when a policy gains or loses a group', () => {
    const { index, put, store } = setup();
    expect(put(policy('a', ['My Role']))).toEqual([]);
    expect(put(policy('b', ['my role', 'Other']))).toEqual(['a']);
    expect(put(policy('c', ['Unrelated']))).toEqual([]);
    // b drops "my role": a must be re-checked; an unchanged spec affects nobody.
    expect(put(policy('b', ['Other']))).toEqual(['a']);
    expect(put(policy('b', ['Other']))).toEqual([]);
    store.delete('a');
    expect(index.update('a', undefined)).toEqual([]);
  });

  it('with the author check, also names the peers of a policy whose generation or author changed', () => {
    const store = new Store<PolicyObject>();
    const index = new PolicyIndex(store, { peersOnNewVersion: true });
    const put = (p: PolicyObject) => {
      store.upsert(p);
      return index.update(p.metadata!.name!, store.get(p.metadata!.name!));
    };
    const stamp = (user: string) => ({ annotations: { 'impersonation-operator.io/author': user } });
    put(policy('a', ['Shared'], { generation: 1 }));
    put(policy('c', ['Else'], { generation: 1 }));
    expect(put(policy('b', ['shared'], { generation: 1, ...stamp('writer') }))).toEqual(['a']);
    // Same groups, same generation and stamp (a status write): nobody.
    expect(put(policy('b', ['shared'], { generation: 1, ...stamp('writer') }))).toEqual([]);
    // A new generation or a new author may change b's verdict, so a's collisions.
    expect(put(policy('b', ['shared'], { generation: 2, ...stamp('writer') }))).toEqual(['a']);
    expect(put(policy('b', ['shared'], { generation: 2, ...stamp('admin') }))).toEqual(['a']);
    // Without the option the index names peers only when groups change.
    const plain = setup();
    plain.put(policy('a', ['Shared'], { generation: 1 }));
    plain.put(policy('b', ['shared'], { generation: 1 }));
    expect(plain.put(policy('b', ['shared'], { generation: 2 }))).toEqual([]);
  });

  it('returns only the live peers sharing a group, parsed', () => {
    const { index, put } = setup();
    put(policy('a', ['Shared']));
    put(policy('b', ['shared']));
    put(policy('c', ['Else']));
    put(policy('d', ['SHARED'], { deletionTimestamp: '2026-01-01T00:00:00Z' }));
    const peers = index.peersOf('a', ['shared']);
    expect(peers.map((p) => p.metadata.name)).toEqual(['b']);
    expect(peers[0]!.spec.roles[0]!.name).toBe('shared');
  });

  it('knows which policies bind a ClusterRole, as specs change', () => {
    const { index, put, store } = setup();
    put(policy('a', ['One']));
    put({
      ...policy('b', ['Two']),
      spec: {
        impersonators: [{ kind: 'User', name: 'p' }],
        roles: [{ name: 'Two', clusterRoles: ['edit', 'view'] }],
      },
    });
    expect(index.bindersOf('view')).toEqual(['a', 'b']);
    expect(index.bindersOf('edit')).toEqual(['b']);
    store.delete('a');
    index.update('a', undefined);
    expect(index.bindersOf('view')).toEqual(['b']);
  });

  it('memoizes parsing per cached object and indexes nothing for an invalid spec', () => {
    const { index, put, store } = setup();
    expect(put({ metadata: { name: 'bad' }, spec: { roles: 'nope' } })).toEqual([]);
    const cached = store.get('bad')!;
    const first = index.parse(cached);
    expect(first.ok).toBe(false);
    expect(index.parse(cached)).toBe(first);
  });
});
