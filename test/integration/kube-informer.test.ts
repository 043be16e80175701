// The informer against the real API server: label-selected list+watch, and recovery from real
// failures (every connection cut, the server unreachable for a while). A real 410 Gone cannot be provoked
// on a fresh control plane (the watch cache serves any resourceVersion since it started), so relisting
// after 410 is covered by test/unit/kube/informer.test.ts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeClient } from '../../src/kube/client.js';
import { createInformer, Informer } from '../../src/kube/informer.js';
import { CLUSTER_ROLES } from '../../src/kube/resources.js';
import type { KubeObject } from '../../src/kube/types.js';
import { adminKubeConfig } from '../harness/identities.js';
import { clusterInfo } from '../harness/cluster-info.js';
import { adminClient, eventually, kubeConfigVia, suffix, TcpProxy } from './kube-support.js';

interface ClusterRole extends KubeObject {
  rules?: { apiGroups?: string[]; resources?: string[]; verbs: string[] }[];
}

const id = suffix();
const LABEL = 'kube-informer-test';
const role = (name: string, labelValue: string | undefined, verbs = ['get']): ClusterRole => ({
  metadata: { name, ...(labelValue ? { labels: { [LABEL]: labelValue } } : {}) },
  rules: [{ apiGroups: [''], resources: ['configmaps'], verbs }],
});

describe('Informer against the API server', () => {
  let admin: KubeClient;
  const informers: Informer<ClusterRole>[] = [];
  const names: string[] = [];
  const track = (n: string): string => (names.push(n), n);

  beforeAll(async () => {
    admin = await adminClient();
  });
  afterEach(async () => {
    await Promise.all(informers.splice(0).map((i) => i.stop()));
  });
  afterAll(async () => {
    for (const n of names) await admin.remove(CLUSTER_ROLES, n);
    admin.close();
  });

  it('lists and watches ClusterRoles with a label selector and sees add, update and delete', async () => {
    const value = `sel-${id}`;
    const pre = track(`kube-informer-${id}-pre`);
    await admin.apply(CLUSTER_ROLES, role(pre, value));
    await admin.apply(CLUSTER_ROLES, role(track(`kube-informer-${id}-other`), undefined));

    const seen: string[] = [];
    const informer = createInformer<ClusterRole>(admin, CLUSTER_ROLES, {
      labelSelector: `${LABEL}=${value}`,
      backoff: { initialMs: 100 },
    });
    informers.push(informer);
    informer.addHandler({
      onAdd: (o) => seen.push(`add ${o.metadata?.name}`),
      onUpdate: (old, o) =>
        seen.push(
          `update ${o.metadata?.name} ${old.rules?.[0]?.verbs.join()}->${o.rules?.[0]?.verbs.join()}`,
        ),
      onDelete: (o) => seen.push(`delete ${o.metadata?.name}`),
    });
    informer.start();
    await expect(informer.waitForSync()).resolves.toBe(true);
    expect([...informer.cache.keys()]).toEqual([pre]);
    const cached = informer.cache.get(pre)!;
    expect(cached.kind).toBe('ClusterRole');
    expect(cached.apiVersion).toBe('rbac.authorization.k8s.io/v1');
    expect(cached.metadata?.managedFields).toBeUndefined();

    const added = track(`kube-informer-${id}-added`);
    await admin.apply(CLUSTER_ROLES, role(added, value));
    await admin.apply(CLUSTER_ROLES, role(added, value, ['get', 'list']));
    await admin.apply(CLUSTER_ROLES, role(track(`kube-informer-${id}-unlabelled`), undefined));
    await admin.remove(CLUSTER_ROLES, added);
    // Removing the label takes an object out of the selection: the informer sees a delete.
    await admin.apply(CLUSTER_ROLES, role(pre, `not-${value}`));

    await eventually(() => seen.length >= 5, 10_000, 'five events');
    expect(seen).toEqual([
      `add ${pre}`,
      `add ${added}`,
      `update ${added} get->get,list`,
      `delete ${added}`,
      `delete ${pre}`,
    ]);
    expect(informer.cache.size).toBe(0);
  });

  it('recovers after every connection is cut and after the server is unreachable, missing nothing', async () => {
    const value = `cut-${id}`;
    const proxy = await TcpProxy.start(clusterInfo().server);
    const viaProxy = await KubeClient.fromKubeConfig(kubeConfigVia(adminKubeConfig(), proxy.url));
    try {
      const restarts: string[] = [];
      const informer = createInformer<ClusterRole>(viaProxy, CLUSTER_ROLES, {
        labelSelector: `${LABEL}=${value}`,
        backoff: { initialMs: 100, maxMs: 500 },
        observer: { watchRestarted: (_n, reason) => restarts.push(reason) },
      });
      informers.push(informer);
      informer.start();
      await informer.waitForSync();

      const a = track(`kube-informer-${id}-a`);
      await admin.apply(CLUSTER_ROLES, role(a, value));
      await eventually(() => informer.cache.get(a), 10_000, 'the first object');

      // 1. Every connection reset: the watch fails; the informer re-watches from its resourceVersion.
      proxy.cut();
      const b = track(`kube-informer-${id}-b`);
      await admin.apply(CLUSTER_ROLES, role(b, value));
      await eventually(() => informer.cache.get(b), 10_000, 'an object created after the cut');
      expect(restarts).toContain('error');

      // 2. The server unreachable for a while; changes made meanwhile arrive after it is back.
      await proxy.pause();
      const c = track(`kube-informer-${id}-c`);
      await admin.apply(CLUSTER_ROLES, role(c, value));
      await admin.remove(CLUSTER_ROLES, a);
      await new Promise((r) => setTimeout(r, 1500));
      expect(informer.cache.get(c)).toBeUndefined();
      await proxy.resume();
      await eventually(
        () => informer.cache.get(c) && !informer.cache.get(a),
        15_000,
        'the changes made offline',
      );
      expect([...informer.cache.keys()].sort()).toEqual([b, c].sort());
    } finally {
      viaProxy.close();
      await proxy.close();
    }
  });
});
