// Events about a cluster-scoped object: the API server's validation accepts what we write, and
// repeating the same event writes nothing more.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeClient, RequestEvent } from '../../src/kube/client.js';
import { EventRecorder } from '../../src/kube/events.js';
import { CLUSTER_ROLES, EVENTS } from '../../src/kube/resources.js';
import type { KubeObject } from '../../src/kube/types.js';
import { adminClient, suffix } from './kube-support.js';

interface Event extends KubeObject {
  reason?: string;
  note?: string;
  type?: string;
  regarding?: { kind?: string; name?: string; uid?: string };
  reportingController?: string;
}

const id = suffix();

describe('EventRecorder against the API server', () => {
  let client: KubeClient;
  const requests: RequestEvent[] = [];
  const name = `kube-events-${id}`;

  beforeAll(async () => {
    client = await adminClient({ onRequest: (e) => requests.push(e) });
  });
  afterAll(async () => {
    const events = await client.list<Event>(EVENTS, { namespace: 'default' });
    for (const e of events.items.filter((e) => e.regarding?.name === name)) {
      await client.remove(EVENTS, e.metadata!.name!, { namespace: 'default' });
    }
    await client.remove(CLUSTER_ROLES, name);
    client.close();
  });

  it('writes a valid events.k8s.io/v1 Event once, however often the same thing is recorded', async () => {
    const target = await client.apply(CLUSTER_ROLES, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name },
    } as KubeObject);
    const recorder = new EventRecorder({
      client,
      reportingController: 'impersonation-operator',
      reportingInstance: `test-${id}`,
    });
    for (let i = 0; i < 5; i++) {
      recorder.record(target, {
        type: 'Warning',
        reason: 'NameConflict',
        action: 'Apply',
        note: 'held by someone else',
      });
    }
    recorder.record(target, { type: 'Normal', reason: 'Revoked', action: 'Prune', note: 'removed 1 object' });
    await recorder.flush();

    const events = (await client.list<Event>(EVENTS, { namespace: 'default' })).items.filter(
      (e) => e.regarding?.name === name,
    );
    expect(events.map((e) => `${e.type} ${e.reason}: ${e.note}`).sort()).toEqual([
      'Normal Revoked: removed 1 object',
      'Warning NameConflict: held by someone else',
    ]);
    expect(events[0]).toMatchObject({
      reportingController: 'impersonation-operator',
      regarding: { kind: 'ClusterRole', name, uid: target.metadata?.uid },
    });
    expect(requests.filter((r) => r.verb === 'create' && r.resource === 'events').map((r) => r.code)).toEqual(
      [201, 201],
    );
  });
});
