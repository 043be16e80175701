// /metrics, /healthz and /readyz over a real local HTTP server, fed by the controller's hooks.
import { afterEach, describe, expect, it } from '@jest/globals';
import { Health, startHttpServer, type HttpServer } from '../../../src/http.js';
import { Metrics } from '../../../src/metrics.js';
import { createLogger } from '../../../src/logger.js';
import { KubeApiError } from '../../../src/kube/errors.js';

async function get(
  server: HttpServer,
  path: string,
): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(`http://127.0.0.1:${server.address.port}${path}`);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

describe('metrics and probes', () => {
  let server: HttpServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves the operator metrics fed through the queue, controller, client and informer hooks', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const c = metrics.controllerMetrics();
    c.reconciled?.('success', 0.02);
    c.reconciled?.('error', 0.5);
    c.queue?.added?.();
    c.queue?.depth?.(7);
    c.queue?.retried?.();
    metrics.requestObserver()({ verb: 'apply', resource: 'clusterroles', code: 200, durationMs: 4 });
    metrics.requestObserver()({ verb: 'apply', resource: 'clusterroles', code: 409, durationMs: 3 });
    metrics.informerObserver().watchRestarted?.('clusterroles', 'expired');
    metrics.trackManagedObjects('ClusterRole', () => 42);
    metrics.trackCache('policies', () => 5);
    const ready = { state: 'ready', anyUser: false } as const;
    metrics.setPolicy('a', { ...ready, collisions: 2, deniedEntries: 1 });
    metrics.setPolicy('b', { ...ready, collisions: 1, deniedEntries: 0 });
    metrics.setPolicy('a', { ...ready, collisions: 1, deniedEntries: 1 });
    metrics.forgetPolicy('b');
    metrics.setLeader(true);
    metrics.eventDropped()('duplicate');

    server = await startHttpServer({ address: { host: '127.0.0.1', port: 0 }, metrics });
    const { status, body, type } = await get(server, '/metrics');
    expect(status).toBe(200);
    expect(type).toContain('text/plain');
    for (const line of [
      'impersonation_operator_reconcile_total{result="success"} 1',
      'impersonation_operator_reconcile_total{result="error"} 1',
      'impersonation_operator_reconcile_duration_seconds_count{result="error"} 1',
      'impersonation_operator_workqueue_depth 7',
      'impersonation_operator_workqueue_adds_total 1',
      'impersonation_operator_workqueue_retries_total 1',
      'impersonation_operator_api_requests_total{verb="apply",resource="clusterroles",code="409"} 1',
      'impersonation_operator_informer_watch_restarts_total{informer="clusterroles",reason="expired"} 1',
      'impersonation_operator_managed_objects{kind="ClusterRole"} 42',
      'impersonation_operator_informer_cache_objects{informer="policies"} 5',
      'impersonation_operator_collisions 1',
      'impersonation_operator_denied_entries 1',
      'impersonation_operator_leader 1',
      'impersonation_operator_events_dropped_total{reason="duplicate"} 1',
    ]) {
      expect(body).toContain(line);
    }
    expect((await get(server, '/readyz')).status).toBe(404); // no Health given to this server
  });

  it('known label values start at 0, so the first error or restart is an increase', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.informerObserver().listed?.('clusterroles', 3);
    const { body } = await metrics.exposition();
    for (const result of ['success', 'requeue', 'error'])
      expect(body).toContain(`impersonation_operator_reconcile_total{result="${result}"} 0`);
    for (const reason of ['closed', 'expired', 'error']) {
      expect(body).toContain(
        `impersonation_operator_informer_watch_restarts_total{informer="clusterroles",reason="${reason}"} 0`,
      );
    }
    expect(body).toContain('impersonation_operator_events_dropped_total{reason="rate-limited"} 0');
  });

  it('readyz: not ready until caches sync; while leading, only when writes work; never while shutting down', async () => {
    const health = new Health();
    server = await startHttpServer({ address: { host: '127.0.0.1', port: 0 }, health });
    expect(await get(server, '/readyz')).toMatchObject({ status: 503 });
    expect((await get(server, '/readyz')).body).toContain('[-]informer-sync failed: caches have not synced');
    health.setCachesSynced(true);
    expect(await get(server, '/readyz')).toEqual({
      status: 200,
      body: 'ok\n',
      type: 'text/plain; charset=utf-8',
    });
    health.setWritable(false, 'apply returned 403');
    expect((await get(server, '/readyz')).status).toBe(200); // a standby does not write
    health.setLeading(true);
    expect(await get(server, '/readyz')).toMatchObject({ status: 503 });
    expect((await get(server, '/readyz')).body).toContain('[-]writes failed: apply returned 403');
    health.setWritable(true);
    expect((await get(server, '/readyz?verbose')).body).toContain('[+]writes ok');
    health.addReadinessCheck('lease', () => 'lease expired');
    expect((await get(server, '/readyz')).status).toBe(503);
    health.addReadinessCheck('lease', () => undefined);
    health.setShuttingDown();
    expect((await get(server, '/readyz')).body).toContain('[-]shutdown failed: shutting down');
  });

  it('healthz is ok unless a liveness check fails', async () => {
    const health = new Health();
    server = await startHttpServer({ address: { host: '127.0.0.1', port: 0 }, health });
    expect(await get(server, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    health.addLivenessCheck('event-loop', () => {
      throw new Error('stuck');
    });
    expect(await get(server, '/livez')).toMatchObject({ status: 503 });
    expect((await get(server, '/healthz')).body).toContain('[-]event-loop failed: check failed: stuck');
    expect((await get(server, '/nope')).status).toBe(404);
  });

  it('fails to start on a port in use', async () => {
    server = await startHttpServer({ address: { host: '127.0.0.1', port: 0 }, health: new Health() });
    await expect(
      startHttpServer({ address: { host: '127.0.0.1', port: server.address.port } }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('logger', () => {
  it('writes JSON lines with level names, ISO time, and API errors with code and reason but no stack', () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (line: string) => lines.push(line) });
    log.debug('not written at info');
    const err = new KubeApiError({
      code: 409,
      verb: 'apply',
      path: '/x',
      status: { reason: 'Conflict', message: 'm' },
    });
    log.warn({ policy: 'p', err }, 'Reconcile failed');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      level: 'warn',
      name: 'impersonation-operator',
      policy: 'p',
      msg: 'Reconcile failed',
    });
    expect(entry.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(entry.err).toMatchObject({ type: 'KubeApiError', code: 409, reason: 'Conflict' });
    expect((entry.err as Record<string, unknown>).stack).toBeUndefined();
  });
});
