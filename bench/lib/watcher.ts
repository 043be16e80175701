// The independent observer: informers (list + watch, as admin) on the policies and on the generated
// RBAC, compared against an expectation. It stamps the moment the world first matches — every
// expected policy Ready for its generation, every expected object present with the expected content,
// nothing else labelled as ours — from watch events, never by polling objects one by one.
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/api/index.js';
import { IMPERSONATION_POLICIES } from '../../src/controller/resources.js';
import type { RbacKind } from '../../src/core/index.js';
import type { KubeClient } from '../../src/kube/client.js';
import { createInformer, type Informer } from '../../src/kube/informer.js';
import {
  CLUSTER_ROLE_BINDINGS,
  CLUSTER_ROLES,
  ROLE_BINDINGS,
  ROLES,
  type ResourceRef,
} from '../../src/kube/resources.js';
import type { KubeObject, ReadonlyDeep } from '../../src/kube/types.js';
import { objectKey, signature } from './workload.js';

const RBAC_RESOURCES: Record<RbacKind, ResourceRef> = {
  ClusterRole: CLUSTER_ROLES,
  ClusterRoleBinding: CLUSTER_ROLE_BINDINGS,
  Role: ROLES,
  RoleBinding: ROLE_BINDINGS,
};

interface PolicyView {
  generation: number;
  observedGeneration: number | undefined;
  ready: boolean;
}

interface ObjectView {
  signature: string;
  uid: string;
}

type Policy = KubeObject & {
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
};

export class Watcher {
  private readonly informers: Informer<KubeObject>[] = [];
  private readonly livePolicies = new Map<string, PolicyView>();
  private readonly liveObjects = new Map<string, ObjectView>();
  /** Expected generation per policy that must be Ready; a live policy not listed here is a mismatch. */
  private expectedPolicies = new Map<string, number>();
  /** Expected signature per object key; a live labelled object not listed here is a mismatch. */
  private expectedObjects = new Map<string, string>();
  /** Keys that must be seen again with a uid other than the one given (recreated after a delete). */
  private readonly recreate = new Map<string, string>();
  private readonly bad = new Set<string>();
  private waiters: ((at: number) => void)[] = [];
  private readonly started: Promise<boolean>[] = [];

  constructor(client: KubeClient) {
    const policies = createInformer<Policy>(client, IMPERSONATION_POLICIES, { name: 'bench-policies' });
    policies.addHandler({
      onAdd: (p) => this.onPolicy(p, false),
      onUpdate: (_o, p) => this.onPolicy(p, false),
      onDelete: (p) => this.onPolicy(p, true),
    });
    this.informers.push(policies as unknown as Informer<KubeObject>);
    for (const [kind, resource] of Object.entries(RBAC_RESOURCES)) {
      const informer = createInformer<KubeObject>(client, resource, {
        name: `bench-${resource.plural}`,
        labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
      });
      const on = (o: ReadonlyDeep<KubeObject>, deleted: boolean) => this.onObject(kind, o, deleted);
      informer.addHandler({
        onAdd: (o) => on(o, false),
        onUpdate: (_old, o) => on(o, false),
        onDelete: (o) => on(o, true),
      });
      this.informers.push(informer);
    }
  }

  async start(): Promise<void> {
    for (const i of this.informers) {
      i.start();
      this.started.push(i.waitForSync());
    }
    if (!(await Promise.all(this.started)).every(Boolean)) throw new Error('watcher did not sync');
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  get policyCount(): number {
    return this.livePolicies.size;
  }

  get objectCount(): number {
    return this.liveObjects.size;
  }

  /** Live object keys (for picking drift victims). */
  objectKeys(): string[] {
    return [...this.liveObjects.keys()];
  }

  uidOf(key: string): string | undefined {
    return this.liveObjects.get(key)?.uid;
  }

  /** Replaces the whole expectation; `waitConverged` then resolves when the world matches it. */
  expect(policies: Map<string, number>, objects: Map<string, string>): void {
    this.expectedPolicies = policies;
    this.expectedObjects = objects;
    this.recreate.clear();
    this.bad.clear();
    for (const name of new Set([...policies.keys(), ...this.livePolicies.keys()])) this.checkPolicy(name);
    for (const key of new Set([...objects.keys(), ...this.liveObjects.keys()])) this.checkObject(key);
  }

  /** Changes one policy's expectation (and its objects'): `undefined` means absent. */
  expectPolicy(name: string, generation: number | undefined): void {
    if (generation === undefined) this.expectedPolicies.delete(name);
    else this.expectedPolicies.set(name, generation);
    this.checkPolicy(name);
  }

  expectObject(key: string, sig: string | undefined): void {
    if (sig === undefined) this.expectedObjects.delete(key);
    else this.expectedObjects.set(key, sig);
    this.checkObject(key);
  }

  /** The object at `key` must be seen again with a different uid than `uid` (it is about to be deleted). */
  expectRecreated(key: string, uid: string): void {
    this.recreate.set(key, uid);
    this.checkObject(key);
  }

  /** How many expected things do not match yet. */
  get mismatches(): number {
    return this.bad.size;
  }

  /** Resolves with `performance.now()` of the first moment the world matched (at once if it does now). */
  waitConverged(timeoutMs: number): Promise<number> {
    if (this.bad.size === 0) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(
          new Error(
            `not converged after ${timeoutMs}ms: ${this.bad.size} mismatches, e.g. ${[...this.bad].slice(0, 5).join(', ')}`,
          ),
        );
      }, timeoutMs);
      const done = (at: number) => {
        clearTimeout(timer);
        resolve(at);
      };
      this.waiters.push(done);
    });
  }

  private mark(id: string, ok: boolean): void {
    if (ok) {
      if (this.bad.delete(id) && this.bad.size === 0 && this.waiters.length > 0) {
        const at = performance.now();
        for (const w of this.waiters.splice(0)) w(at);
      }
    } else this.bad.add(id);
  }

  private checkPolicy(name: string): void {
    const want = this.expectedPolicies.get(name);
    const live = this.livePolicies.get(name);
    const ok =
      want === undefined
        ? live === undefined
        : live !== undefined && live.ready && live.generation === want && live.observedGeneration === want;
    this.mark(`policy ${name}`, ok);
  }

  private checkObject(key: string): void {
    const want = this.expectedObjects.get(key);
    const live = this.liveObjects.get(key);
    let ok = want === undefined ? live === undefined : live !== undefined && live.signature === want;
    const oldUid = this.recreate.get(key);
    if (oldUid !== undefined) {
      if (live !== undefined && live.uid !== oldUid) this.recreate.delete(key);
      else ok = false;
    }
    this.mark(key, ok);
  }

  private onPolicy(p: ReadonlyDeep<Policy>, deleted: boolean): void {
    const name = p.metadata?.name;
    if (!name) return;
    if (deleted) this.livePolicies.delete(name);
    else {
      this.livePolicies.set(name, {
        generation: p.metadata?.generation ?? 0,
        observedGeneration: p.status?.observedGeneration,
        ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      });
    }
    this.checkPolicy(name);
  }

  private onObject(kind: string, o: ReadonlyDeep<KubeObject>, deleted: boolean): void {
    const key = objectKey(kind, o.metadata?.namespace, o.metadata?.name ?? '');
    if (deleted) this.liveObjects.delete(key);
    else
      this.liveObjects.set(key, {
        signature: signature(o as Parameters<typeof signature>[0]),
        uid: o.metadata?.uid ?? '',
      });
    this.checkObject(key);
  }
}
