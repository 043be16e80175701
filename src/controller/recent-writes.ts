// Our own writes, remembered until the informer catches up with them. A reconcile that runs before
// the watch delivers a write we just made then neither repeats it nor mistakes the object for a
// foreign one, and the watch event that merely echoes our write does not trigger another reconcile.
// (client-go's MutationCache solves the same problem for its own controllers.) Writes are also listed
// per policy, so pruning sees an object the operator created a moment ago even while the informer has
// not delivered it yet: a plan is computed from the cache plus our unacknowledged writes.
//
// Ordering uses resourceVersion as an integer. The API conventions call it opaque; every API server
// backed by etcd returns the etcd revision, and an unparsable value falls back to trusting the cache.

/** Any API object: only `metadata.resourceVersion` is read. */
type Versioned = object;

interface Entry {
  resourceVersion: bigint | undefined;
  object: unknown;
  deleted: boolean;
  expiresAt: number;
  /** The policy the object was written for (RBAC objects), to list a policy's recent writes. */
  policy: string | undefined;
}

function rv(obj: Versioned | undefined): bigint | undefined {
  const v = (obj as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion;
  if (typeof v !== 'string') return undefined;
  if (!/^\d+$/.test(v)) return undefined;
  return BigInt(v);
}

export class RecentWrites {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Remembers the object the API server returned for our create/apply/status write. */
  wrote(key: string, object: Versioned, policy?: string): void {
    this.entries.set(key, {
      resourceVersion: rv(object),
      object,
      deleted: false,
      expiresAt: this.clock() + this.ttlMs,
      policy,
    });
  }

  /** Remembers that we deleted the object whose last known state is `object`. */
  deleted(key: string, object: Versioned | undefined, policy?: string): void {
    this.entries.set(key, {
      resourceVersion: rv(object),
      object: undefined,
      deleted: true,
      expiresAt: this.clock() + this.ttlMs,
      policy,
    });
  }

  /**
   * Keys of the objects we wrote for `policy` (not deleted since) that we still remember: the
   * informer may not have delivered them yet. A linear scan: the memory holds only recent writes.
   */
  writtenFor(policy: string): string[] {
    const keys: string[] = [];
    for (const key of [...this.entries.keys()]) {
      const entry = this.live(key);
      if (entry && !entry.deleted && entry.policy === policy) keys.push(key);
    }
    return keys;
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= this.clock()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /**
   * True when a watch event only reports what we wrote ourselves (same resourceVersion, or the
   * deletion we made). The entry is dropped: the cache has caught up.
   */
  isEcho(key: string, object: Versioned, deletedEvent: boolean): boolean {
    const entry = this.live(key);
    if (!entry) return false;
    if (deletedEvent) {
      if (!entry.deleted) return false;
      this.entries.delete(key);
      return true;
    }
    const v = rv(object);
    if (!entry.deleted && v !== undefined && v === entry.resourceVersion) {
      this.entries.delete(key);
      return true;
    }
    return false;
  }

  /** Forgets `key`: the informer saw the object deleted, which outranks any write we remember. */
  forget(key: string): void {
    this.entries.delete(key);
  }

  /** The newer of the cached object and our own last write of it (undefined: absent). */
  observe<T>(key: string, cached: T | undefined): T | undefined {
    const entry = this.live(key);
    if (!entry) return cached;
    const cachedRv = rv(cached as Versioned | undefined);
    if (cached !== undefined) {
      const ours = entry.resourceVersion;
      if (cachedRv === undefined || ours === undefined || cachedRv > ours) {
        this.entries.delete(key); // the cache has moved past our write
        return cached;
      }
      if (!entry.deleted && cachedRv === ours) {
        this.entries.delete(key);
        return cached;
      }
    }
    return entry.deleted ? undefined : (entry.object as T);
  }

  /** Drops expired entries (call now and then; entries are also dropped as the cache catches up). */
  sweep(): void {
    const now = this.clock();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
