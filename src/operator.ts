// Wiring of one operator process: clients -> informers -> controller -> reconciler, metrics and
// probes, leader election. `runOperator` returns once it is serving; `stop()` shuts down gracefully.
import type { KubeConfig } from '@kubernetes/client-node';
import { KIND, MANAGED_BY_LABEL, MANAGED_BY_VALUE, POLICY_LABEL } from './api/index.js';
import type { Config } from './config.js';
import { AuthorCheck } from './controller/author-check.js';
import { constrainedSupport } from './controller/constrained-support.js';
import { LegacyGrantReviewer } from './controller/legacy-review.js';
import { Controller, watch } from './controller/controller.js';
import { PolicyIndex, type PolicyObject } from './controller/policy-index.js';
import { RecentWrites } from './controller/recent-writes.js';
import { BY_POLICY, createReconciler, RESOURCES, writeKey } from './controller/reconciler.js';
import { IMPERSONATION_POLICIES } from './controller/resources.js';
import { reviewTargets, type ClusterFacts, type RbacKind, type RuleLike } from './core/index.js';
import type { ImpersonationPolicySpec } from './api/index.js';
import { PowerIndex } from './controller/power-index.js';
import {
  FOREIGN_BINDING_SHAPE,
  FOREIGN_CLUSTER_ROLE_SHAPE,
  MANAGED_RBAC_SHAPE,
  POLICY_SHAPE,
} from './controller/cache-shapes.js';
import { StringTable } from './kube/compact.js';
import { CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES } from './kube/resources.js';
import { KubeClient } from './kube/client.js';
import { KubeApiError, KubeConnectionError } from './kube/errors.js';
import { EventRecorder } from './kube/events.js';
import { createInformer, type Informer } from './kube/informer.js';
import { defaultIdentity, LeaderElector } from './kube/lease.js';
import { inClusterNamespace } from './kube/credentials.js';
import { labelIndex } from './kube/store.js';
import type { KubeObject, ReadonlyDeep } from './kube/types.js';
import { Health, startHttpServer, type HttpServer } from './http.js';
import type { Logger } from './logger.js';
import { Metrics, policyReport } from './metrics.js';

export interface RunningOperator {
  readonly health: Health;
  readonly metrics: Metrics;
  readonly servers: readonly HttpServer[];
  /** Resolves when leadership is lost unexpectedly (the caller should exit non-zero). */
  readonly lostLeadership: Promise<void>;
  stop(): Promise<void>;
}

function leaseNamespace(config: Config): string {
  return config.leaderElection.namespace ?? process.env.POD_NAMESPACE ?? inClusterNamespace() ?? 'default';
}

export async function runOperator(
  config: Config,
  log: Logger,
  /** Credentials from a loaded client-node KubeConfig; by default they are read without client-node (~90 MB less RSS). */
  kc?: KubeConfig,
): Promise<RunningOperator> {
  const metrics = new Metrics();
  const health = new Health();
  const identity = config.leaderElection.identity ?? defaultIdentity();
  // The identity in the User-Agent tells replicas apart in the API server's audit log.
  const clientOptions = {
    onRequest: metrics.requestObserver(),
    userAgent: `impersonation-operator (${identity})`,
  };
  const client = kc
    ? await KubeClient.fromKubeConfig(kc, clientOptions)
    : await KubeClient.connect(config, clientOptions);
  const informerObserver = metrics.informerObserver?.();
  if (config.testOnlyRbacWatchDelayMs > 0 || config.testOnlyPolicyWatchDelayMs > 0) {
    log.warn(
      { rbacMs: config.testOnlyRbacWatchDelayMs, policyMs: config.testOnlyPolicyWatchDelayMs },
      'TEST ONLY: watch events are delayed; never run like this in production',
    );
  }

  // One string table for every cache: label keys, policy names and owner uids recur across resources.
  const strings = new StringTable();
  const policies = createInformer<PolicyObject>(client, IMPERSONATION_POLICIES, {
    shape: POLICY_SHAPE,
    strings,
    resyncPeriodMs: config.resyncPeriodMs,
    watchDelayMs: config.testOnlyPolicyWatchDelayMs,
    log,
    ...(informerObserver ? { observer: informerObserver } : {}),
  });
  const managedSelector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
  const rbacInformers = Object.fromEntries(
    (Object.keys(RESOURCES) as RbacKind[]).map((kind) => [
      kind,
      createInformer<KubeObject>(client, RESOURCES[kind], {
        labelSelector: managedSelector,
        indexers: { [BY_POLICY]: labelIndex(POLICY_LABEL) },
        shape: MANAGED_RBAC_SHAPE,
        strings,
        watchDelayMs: config.testOnlyRbacWatchDelayMs,
        log,
        ...(informerObserver ? { observer: informerObserver } : {}),
      }),
    ]),
  ) as Record<RbacKind, Informer<KubeObject>>;

  // Every ClusterRole we did not generate, to judge the rules of those a policy binds or a foreign
  // binding grants (ours are in the managed informer above; a lookup asks both). Only rules are kept.
  const foreignClusterRoles = createInformer<KubeObject>(client, CLUSTER_ROLES, {
    labelSelector: `${MANAGED_BY_LABEL}!=${MANAGED_BY_VALUE}`,
    shape: FOREIGN_CLUSTER_ROLE_SHAPE,
    strings,
    log,
    ...(informerObserver ? { observer: informerObserver } : {}),
  });
  const clusterRoles = {
    get: (name: string) => foreignClusterRoles.cache.get(name) ?? rbacInformers.ClusterRole.cache.get(name),
  };
  // Every ClusterRoleBinding we did not generate (roleRef and subjects only): who already holds what.
  const foreignBindings = createInformer<KubeObject>(client, CLUSTER_ROLE_BINDINGS, {
    labelSelector: `${MANAGED_BY_LABEL}!=${MANAGED_BY_VALUE}`,
    shape: FOREIGN_BINDING_SHAPE,
    strings,
    log,
    ...(informerObserver ? { observer: informerObserver } : {}),
  });
  const powers = new PowerIndex(foreignBindings.cache, clusterRoles);
  const constrained = constrainedSupport(client, config.constrainedImpersonation, log);
  const legacyGrants = new LegacyGrantReviewer({ client, ttlMs: config.accessReviewTtlMs });
  // ClusterRoles and targets' powers come from caches (no request); only constrained policies ask
  // the API server (whether it enforces constraints, and which legacy grants would bypass them).
  const facts = async (spec: ImpersonationPolicySpec): Promise<ClusterFacts> => {
    return {
      targetPowers: (target) => powers.powersOf(target),
      ...(spec.allowedActions === undefined
        ? {}
        : {
            constrainedImpersonation: await constrained(),
            legacyGrant: await legacyGrants.prepare(
              spec.impersonators.map((i) =>
                i.kind === 'ServiceAccount'
                  ? { kind: 'ServiceAccount', name: i.name, namespace: i.namespace ?? '' }
                  : { kind: i.kind, apiGroup: 'rbac.authorization.k8s.io', name: i.name },
              ),
              reviewTargets(spec),
            ),
          }),
      clusterRole: (name) => {
        const cr = clusterRoles.get(name) as { rules?: RuleLike[] } | undefined;
        return cr === undefined ? null : (cr.rules ?? []);
      },
    };
  };

  metrics.trackCache(policies.name, () => policies.cache.size);
  for (const [kind, informer] of Object.entries(rbacInformers)) {
    metrics.trackCache(informer.name, () => informer.cache.size);
    metrics.trackManagedObjects(kind, () => informer.cache.size);
  }

  const index = new PolicyIndex(policies.cache, { peersOnNewVersion: config.authorCheck.enabled });
  const recent = new RecentWrites();
  const events = new EventRecorder({
    client,
    reportingController: 'impersonation-operator',
    reportingInstance: identity,
    log,
    onDropped: (reason) => metrics.eventsDropped?.inc({ reason }),
  });

  const reconcile = createReconciler({
    policies: policies.cache,
    rbac: Object.fromEntries(Object.entries(rbacInformers).map(([k, i]) => [k, i.cache])) as Record<
      RbacKind,
      Informer<KubeObject>['cache']
    >,
    index,
    recent,
    client,
    config: {
      deniedClusterRoles: config.deniedClusterRoles,
      allowedSystemIdentities: config.allowedSystemIdentities,
      // The operator's own namespace holds its ServiceAccount: becoming it is becoming the operator.
      protectedNamespaces: [...new Set([...config.protectedNamespaces, leaseNamespace(config)])],
      allowAnyUser: config.allowAnyUser,
    },
    facts,
    events,
    authorCheck: config.authorCheck.enabled
      ? new AuthorCheck({
          client,
          exemptUsers: config.authorCheck.exemptUsers,
          cacheTtlMs: config.authorCheck.cacheTtlMs,
        })
      : undefined,
    log,
    now: () => new Date(),
    refusalRecheckMs: config.refusalRecheckMs,
    onReconciled: (name, stats, status, spec) => {
      // A reconcile that finished after the policy's deletion event must not bring its series back.
      if (policies.cache.get(name) !== undefined) {
        metrics.setPolicy(
          name,
          policyReport(status, { collisions: stats.collisions, deniedEntries: stats.denied }, spec),
        );
      }
      health.setWritable(true);
    },
  });

  // A watch event can beat the response to the write it reports: while its policy is being reconciled,
  // whether it is our echo is decided when the reconcile ends (the queue would run the key again after
  // it anyway), so a write's own echo does not cost a second reconcile.
  const reconciling = new Map<string, { key: string; obj: ReadonlyDeep<KubeObject>; deleted: boolean }[]>();
  const judgeLater = (
    policy: string,
    key: string,
    obj: ReadonlyDeep<KubeObject>,
    deleted: boolean,
  ): boolean => {
    const pending = reconciling.get(policy);
    if (pending === undefined) return false;
    pending.push({ key, obj, deleted });
    return true;
  };

  // Keys are queued by the handlers below rather than by the controller's key mappers: they need the
  // event type to recognise the echo of our own writes, and policy events also update the group index.
  const controller = new Controller({
    name: 'impersonationpolicy',
    watches: [policies, foreignClusterRoles, foreignBindings, ...Object.values(rbacInformers)].map((i) =>
      watch(i, () => undefined),
    ),
    reconcile: async (key) => {
      const pending: { key: string; obj: ReadonlyDeep<KubeObject>; deleted: boolean }[] = [];
      reconciling.set(key, pending);
      try {
        return await reconcile(key);
      } catch (err) {
        // Readiness reports an API server we cannot write to, not a conflict or a refusal.
        if (err instanceof KubeConnectionError || (err instanceof KubeApiError && err.code >= 500)) {
          health.setWritable(false, err.message);
        }
        throw err;
      } finally {
        reconciling.delete(key);
        // Every event is judged (isEcho drops what it recognises), and any foreign one queues the key.
        const foreign = pending.filter((e) => !recent.isEcho(e.key, e.obj, e.deleted));
        if (foreign.length > 0) controller.enqueue(key);
      }
    },
    workers: config.workers,
    metrics: metrics.controllerMetrics(),
    log,
  });

  const onPolicy = (obj: ReadonlyDeep<PolicyObject>, deleted: boolean) => {
    const name = obj.metadata?.name;
    if (!name) return;
    for (const peer of index.update(name, deleted ? undefined : obj)) controller.enqueue(peer);
    if (deleted) {
      recent.forget(writeKey(KIND, undefined, name));
      metrics.forgetPolicy(name);
      controller.enqueue(name);
    } else {
      const key = writeKey(KIND, undefined, name);
      if (!recent.isEcho(key, obj, false) && !judgeLater(name, key, obj, false)) controller.enqueue(name);
    }
  };
  policies.addHandler({
    onAdd: (obj) => onPolicy(obj, false),
    onUpdate: (_old, obj) => onPolicy(obj, false),
    onDelete: (obj) => onPolicy(obj, true),
  });
  for (const [kind, informer] of Object.entries(rbacInformers)) {
    const onObject = (obj: ReadonlyDeep<KubeObject>, deleted: boolean) => {
      const policy = obj.metadata?.labels?.[POLICY_LABEL];
      if (!policy) return;
      const key = writeKey(kind, obj.metadata?.namespace, obj.metadata?.name ?? '');
      if (recent.isEcho(key, obj, deleted)) return;
      if (!deleted && judgeLater(policy, key, obj, deleted)) return;
      // Deleted by someone else: whatever we wrote before is gone, so the next reconcile recreates it.
      if (deleted) recent.forget(key);
      controller.enqueue(policy);
    };
    informer.addHandler({
      onAdd: (obj) => onObject(obj, false),
      onUpdate: (old, obj) => {
        const before = old.metadata?.labels?.[POLICY_LABEL];
        if (before && before !== obj.metadata?.labels?.[POLICY_LABEL]) controller.enqueue(before);
        onObject(obj, false);
      },
      onDelete: (obj) => onObject(obj, true),
    });
  }
  // A bound ClusterRole that appears, changes or goes may change its binders' verdicts. Our own
  // generated ClusterRoles are never bound by a policy's roles, so their events are skipped.
  const requeueAll = () => {
    for (const key of policies.cache.keys()) controller.enqueue(key);
  };
  const onClusterRole = (obj: ReadonlyDeep<KubeObject>) => {
    if (obj.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE) return;
    const name = obj.metadata?.name ?? '';
    for (const policy of index.bindersOf(name)) controller.enqueue(policy);
    // Rules of a role someone is bound to changed: whether its subjects are powerful may have too.
    if (powers.isBound(name)) requeueAll();
  };
  // A foreign binding to a powerful ClusterRole (added, changed or gone) may make a targeted identity
  // powerful or harmless: every policy is judged again (rare; such bindings are few).
  const onForeignBinding = (obj: ReadonlyDeep<KubeObject>, old?: ReadonlyDeep<KubeObject>) => {
    powers.invalidate();
    const roleOf = (o: ReadonlyDeep<KubeObject> | undefined) =>
      (o as { roleRef?: { name?: string } } | undefined)?.roleRef?.name;
    if (powers.isDangerous(roleOf(obj)) || powers.isDangerous(roleOf(old))) requeueAll();
  };
  foreignBindings.addHandler({
    onAdd: (obj) => onForeignBinding(obj),
    onUpdate: (old, obj) => {
      if (old !== obj) onForeignBinding(obj, old);
    },
    onDelete: (obj) => onForeignBinding(obj),
  });
  foreignClusterRoles.addHandler({
    onAdd: onClusterRole,
    onUpdate: (old, obj) => {
      const rules = (o: ReadonlyDeep<KubeObject>) => JSON.stringify((o as { rules?: unknown }).rules);
      if (old !== obj && rules(old) !== rules(obj)) onClusterRole(obj);
    },
    onDelete: onClusterRole,
  });
  const sweeper = setInterval(() => recent.sweep(), 60_000);
  sweeper.unref();

  const servers: HttpServer[] = [];
  const addresses = [config.metricsAddress, config.probeAddress];
  const same =
    config.metricsAddress &&
    config.probeAddress &&
    config.metricsAddress.host === config.probeAddress.host &&
    config.metricsAddress.port === config.probeAddress.port;
  if (same) servers.push(await startHttpServer({ address: config.metricsAddress!, metrics, health, log }));
  else {
    if (addresses[0]) servers.push(await startHttpServer({ address: addresses[0], metrics, log }));
    if (addresses[1]) servers.push(await startHttpServer({ address: addresses[1], health, log }));
  }

  // Warm the caches at once (a standby takes over with a synced cache); workers start when leading.
  controller.startInformers();
  void controller.waitForCacheSync().then((synced) => {
    if (synced) health.setCachesSynced(true);
  });

  let stopping = false;
  let signalLost: () => void = () => {};
  const lostLeadership = new Promise<void>((resolve) => (signalLost = resolve));
  let elector: LeaderElector | undefined;
  if (config.leaderElection.enabled) {
    elector = new LeaderElector({
      client,
      name: config.leaderElection.leaseName,
      namespace: leaseNamespace(config),
      identity,
      leaseDurationMs: config.leaderElection.leaseDurationMs,
      renewDeadlineMs: config.leaderElection.renewDeadlineMs,
      retryPeriodMs: config.leaderElection.retryPeriodMs,
      log,
      onStartedLeading: () => {
        log.info({ identity }, 'Became leader; starting workers');
        health.setLeading(true);
        metrics.leader?.set(1);
        void controller.start();
      },
      onStoppedLeading: () => {
        health.setLeading(false);
        metrics.leader?.set(0);
        // Only the leader reports policy series: a former leader's would go stale without changing.
        metrics.forgetPolicies();
        if (!stopping) {
          log.error({ identity }, 'Lost leadership; stopping so that only the new leader writes');
          signalLost();
        }
      },
    });
    elector.start();
  } else {
    health.setLeading(true);
    metrics.leader?.set(1);
    void controller.start();
  }

  return {
    health,
    metrics,
    servers,
    lostLeadership,
    async stop() {
      if (stopping) return;
      stopping = true;
      health.setShuttingDown();
      clearInterval(sweeper);
      const drained = await controller.stop(config.shutdownTimeoutMs);
      log.info({ drained }, 'Stopped controller');
      if (elector) await elector.stop();
      await events.flush();
      await Promise.all(servers.map((s) => s.close()));
      client.close();
    },
  };
}
