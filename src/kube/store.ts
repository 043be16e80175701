// The in-memory object cache behind an informer: a Map by `namespace/name` plus optional secondary
// indexes (e.g. "objects labelled with policy X"), so a reconcile reads in O(its objects), not O(cache).
import { NameSets } from './name-sets.js';
import { objectKey, type KubeObject, type ReadonlyDeep } from './types.js';

/** Maps an object to the index values it is filed under (e.g. the value of one label). */
export type IndexFunc<T> = (obj: ReadonlyDeep<T>) => readonly string[];

/** What readers (the reconciler) get: no way to write, and objects typed read-only. */
export interface ReadonlyStore<T> {
  get(key: string): ReadonlyDeep<T> | undefined;
  /** A snapshot array of every object (allocates; prefer `values()` or `byIndex` in hot paths). */
  list(): ReadonlyDeep<T>[];
  values(): IterableIterator<ReadonlyDeep<T>>;
  keys(): IterableIterator<string>;
  byIndex(index: string, value: string): ReadonlyDeep<T>[];
  readonly size: number;
}

interface Index<T> {
  fn: IndexFunc<T>;
  byValue: NameSets;
}

export class Store<T extends KubeObject> implements ReadonlyStore<T> {
  private readonly items = new Map<string, ReadonlyDeep<T>>();
  private readonly indexes = new Map<string, Index<T>>();

  constructor(indexers: Record<string, IndexFunc<T>> = {}) {
    for (const [name, fn] of Object.entries(indexers)) this.addIndex(name, fn);
  }

  /** Adds an index; objects already stored are indexed too. */
  addIndex(name: string, fn: IndexFunc<T>): void {
    if (this.indexes.has(name)) throw new Error(`index ${name} already exists`);
    const index: Index<T> = { fn, byValue: new NameSets() };
    this.indexes.set(name, index);
    for (const [key, obj] of this.items) this.indexInto(index, key, obj);
  }

  get size(): number {
    return this.items.size;
  }

  get(key: string): ReadonlyDeep<T> | undefined {
    return this.items.get(key);
  }

  list(): ReadonlyDeep<T>[] {
    return [...this.items.values()];
  }

  values(): IterableIterator<ReadonlyDeep<T>> {
    return this.items.values();
  }

  keys(): IterableIterator<string> {
    return this.items.keys();
  }

  byIndex(index: string, value: string): ReadonlyDeep<T>[] {
    const idx = this.indexes.get(index);
    if (!idx) throw new Error(`no index named ${index}`);
    const out: ReadonlyDeep<T>[] = [];
    for (const key of idx.byValue.get(value)) {
      const obj = this.items.get(key);
      if (obj) out.push(obj);
    }
    return out;
  }

  /** Stores `obj` under its key and returns the object it replaced. */
  upsert(obj: T | ReadonlyDeep<T>): ReadonlyDeep<T> | undefined {
    const frozen = obj as ReadonlyDeep<T>;
    const key = objectKey(frozen as KubeObject);
    const old = this.items.get(key);
    if (old) this.unindex(key, old);
    this.items.set(key, frozen);
    for (const index of this.indexes.values()) this.indexInto(index, key, frozen);
    return old;
  }

  /** Removes the object stored under `key` and returns it. */
  delete(key: string): ReadonlyDeep<T> | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.items.delete(key);
    return old;
  }

  private indexInto(index: Index<T>, key: string, obj: ReadonlyDeep<T>): void {
    for (const value of index.fn(obj)) index.byValue.add(value, key);
  }

  private unindex(key: string, obj: ReadonlyDeep<T>): void {
    for (const index of this.indexes.values()) {
      for (const value of index.fn(obj)) index.byValue.delete(value, key);
    }
  }
}

/** An index function filing objects under the value of one label (objects without it are not indexed). */
export function labelIndex<T extends KubeObject>(label: string): IndexFunc<T> {
  return (obj) => {
    const value = (obj as ReadonlyDeep<KubeObject>).metadata?.labels?.[label];
    return value === undefined ? [] : [value];
  };
}
