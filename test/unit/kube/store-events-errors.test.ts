// Our own bookkeeping in kube/: the cache's indexes, Event de-duplication and rate limiting, error
// classification, URL building. What the API server does with the requests is in the integration tests.
import { describe, expect, it } from '@jest/globals';
import type { KubeClient } from '../../../src/kube/client.js';
import {
  isAlreadyExists,
  isConflict,
  isGone,
  isNotFound,
  isTransient,
  KubeApiError,
  KubeConnectionError,
  retryAfterMs,
} from '../../../src/kube/errors.js';
import { EventRecorder } from '../../../src/kube/events.js';
import { microTime } from '../../../src/kube/lease.js';
import { CLUSTER_ROLES, LEASES, resourcePath } from '../../../src/kube/resources.js';
import { labelIndex, Store } from '../../../src/kube/store.js';
import type { KubeObject } from '../../../src/kube/types.js';

const obj = (name: string, labels?: Record<string, string>, namespace?: string): KubeObject => ({
  metadata: { name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}) },
});

describe('Store', () => {
  it('keys namespaced objects as namespace/name and cluster-scoped ones by name', () => {
    const s = new Store<KubeObject>();
    s.upsert(obj('a'));
    s.upsert(obj('b', undefined, 'ns'));
    expect([...s.keys()]).toEqual(['a', 'ns/b']);
    expect(s.get('ns/b')?.metadata?.name).toBe('b');
  });

  it('maintains indexes through upsert, relabel and delete, including an index added later', () => {
    const s = new Store<KubeObject>({ policy: labelIndex('p') });
    s.upsert(obj('x', { p: 'one' }));
    s.upsert(obj('y', { p: 'one' }));
    s.upsert(obj('z'));
    s.addIndex('team', labelIndex('team'));
    s.upsert(obj('y', { p: 'two', team: 'blue' }));
    expect(s.byIndex('policy', 'one').map((o) => o.metadata?.name)).toEqual(['x']);
    expect(s.byIndex('policy', 'two').map((o) => o.metadata?.name)).toEqual(['y']);
    expect(s.byIndex('team', 'blue').map((o) => o.metadata?.name)).toEqual(['y']);
    expect(s.delete('x')?.metadata?.name).toBe('x');
    expect(s.byIndex('policy', 'one')).toEqual([]);
    expect(s.delete('missing')).toBeUndefined();
    expect(() => s.byIndex('nope', 'x')).toThrow(/no index/);
    expect(() => s.addIndex('team', labelIndex('t'))).toThrow(/already exists/);
  });
});

describe('EventRecorder', () => {
  function recorder(opts: { burst?: number; refillMs?: number; dedupWindowMs?: number } = {}) {
    const written: Record<string, unknown>[] = [];
    const dropped: string[] = [];
    let now = Date.parse('2030-01-01T00:00:00Z');
    const client = {
      create: async (_ref: unknown, body: Record<string, unknown>) => {
        written.push(body);
        return body;
      },
    } as unknown as KubeClient;
    const r = new EventRecorder({
      client,
      reportingController: 'impersonation-operator',
      reportingInstance: 'pod-1',
      now: () => now,
      onDropped: (reason) => dropped.push(reason),
      ...opts,
    });
    return { r, written, dropped, advance: (ms: number) => (now += ms) };
  }
  const policy = {
    apiVersion: 'impersonation-operator.io/v1alpha1',
    kind: 'ImpersonationPolicy',
    metadata: { name: 'p', uid: 'u1', resourceVersion: '5' },
  };
  const collision = {
    type: 'Warning',
    reason: 'Collision',
    action: 'Reconcile',
    note: 'MyRole and myrole',
  } as const;

  it('writes an events.k8s.io/v1 Event in default for a cluster-scoped object', async () => {
    const { r, written } = recorder();
    expect(r.record(policy, collision)).toBe(true);
    await r.flush();
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { namespace: 'default' },
      eventTime: '2030-01-01T00:00:00.000000Z',
      reportingController: 'impersonation-operator',
      reportingInstance: 'pod-1',
      type: 'Warning',
      reason: 'Collision',
      action: 'Reconcile',
      note: 'MyRole and myrole',
      regarding: { kind: 'ImpersonationPolicy', name: 'p', uid: 'u1' },
    });
    expect((written[0]!.metadata as { name: string }).name).toMatch(/^p\.[0-9a-f]+$/);
  });

  it('writes an identical event once per window, so repeated reconciles write nothing', async () => {
    const { r, written, dropped, advance } = recorder({ dedupWindowMs: 60_000 });
    for (let i = 0; i < 10; i++) r.record(policy, collision);
    r.record(policy, { ...collision, note: 'something else' });
    advance(60_000);
    r.record(policy, collision);
    await r.flush();
    expect(written.map((w) => w.note)).toEqual(['MyRole and myrole', 'something else', 'MyRole and myrole']);
    expect(dropped).toEqual(Array(9).fill('duplicate'));
  });

  it('rate-limits each object with a token bucket', async () => {
    const { r, written, dropped, advance } = recorder({ burst: 3, refillMs: 1000 });
    for (let i = 0; i < 5; i++) r.record(policy, { ...collision, note: `n${i}` });
    r.record({ ...policy, metadata: { ...policy.metadata, uid: 'u2' } }, collision); // another object
    advance(1000);
    r.record(policy, { ...collision, note: 'later' });
    await r.flush();
    expect(written.map((w) => w.note)).toEqual(['n0', 'n1', 'n2', 'MyRole and myrole', 'later']);
    expect(dropped).toEqual(['rate-limited', 'rate-limited']);
  });

  it('truncates long notes to 1 kB and never throws when the write fails', async () => {
    const failing = new EventRecorder({
      client: {
        create: async () => {
          throw new Error('forbidden');
        },
      } as unknown as KubeClient,
      reportingController: 'x',
      reportingInstance: 'y',
    });
    expect(failing.record(policy, { ...collision, note: 'é'.repeat(2000) })).toBe(true);
    await expect(failing.flush()).resolves.toBeUndefined();
    const { r, written } = recorder();
    r.record(policy, { ...collision, note: 'é'.repeat(2000) });
    await r.flush();
    expect(Buffer.byteLength(written[0]!.note as string)).toBeLessThanOrEqual(1024);
  });
});

describe('errors', () => {
  const apiError = (code: number, reason?: string) =>
    new KubeApiError({ code, verb: 'apply', path: '/p', status: { kind: 'Status', reason, message: 'msg' } });

  it.each([
    { err: apiError(404, 'NotFound'), notFound: true, conflict: false, gone: false, transient: false },
    { err: apiError(409, 'Conflict'), notFound: false, conflict: true, gone: false, transient: true },
    { err: apiError(410, 'Gone'), notFound: false, conflict: false, gone: true, transient: false },
    { err: apiError(500, 'Expired'), notFound: false, conflict: false, gone: true, transient: true },
    { err: apiError(429, 'TooManyRequests'), notFound: false, conflict: false, gone: false, transient: true },
    { err: apiError(403, 'Forbidden'), notFound: false, conflict: false, gone: false, transient: false },
    {
      err: new KubeConnectionError('get', '/p', new Error('ECONNREFUSED')),
      notFound: false,
      conflict: false,
      gone: false,
      transient: true,
    },
    { err: new Error('plain'), notFound: false, conflict: false, gone: false, transient: false },
  ])('classifies $err.message', ({ err, notFound, conflict, gone, transient }) => {
    expect([isNotFound(err), isConflict(err), isGone(err), isTransient(err)]).toEqual([
      notFound,
      conflict,
      gone,
      transient,
    ]);
  });

  it('carries the status message, reason and Retry-After', () => {
    const err = new KubeApiError({
      code: 429,
      verb: 'apply',
      path: '/apis/x',
      status: { reason: 'TooManyRequests', message: 'slow down', details: { retryAfterSeconds: 2 } },
    });
    expect(err.message).toBe('apply /apis/x: 429 TooManyRequests: slow down');
    expect(retryAfterMs(err)).toBe(2000);
    expect(new KubeApiError({ code: 429, verb: 'v', path: '/', retryAfterMs: 500 }).retryAfterMs).toBe(500);
    expect(isAlreadyExists(apiError(409, 'AlreadyExists'))).toBe(true);
    expect(isAlreadyExists(apiError(409, 'Conflict'))).toBe(false);
    expect(new KubeApiError({ code: 503, verb: 'get', path: '/', body: 'upstream down' }).message).toBe(
      'get /: 503: upstream down',
    );
  });
});

describe('resources', () => {
  it('builds core, group, namespaced, named and subresource paths', () => {
    expect(resourcePath(CLUSTER_ROLES)).toBe('/apis/rbac.authorization.k8s.io/v1/clusterroles');
    expect(resourcePath(CLUSTER_ROLES, 'ignored', 'a:b')).toBe(
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/a%3Ab',
    );
    expect(resourcePath(LEASES, 'kube-system', 'x')).toBe(
      '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x',
    );
    expect(resourcePath(LEASES)).toBe('/apis/coordination.k8s.io/v1/leases');
    expect(
      resourcePath(
        { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
        'd',
        'p',
        'status',
      ),
    ).toBe('/api/v1/namespaces/d/pods/p/status');
  });

  it('formats MicroTime with six fractional digits', () => {
    expect(microTime(Date.parse('2030-01-02T03:04:05.678Z'))).toBe('2030-01-02T03:04:05.678000Z');
  });
});
