// Compact copies of API objects for informer caches: a fresh object with only the metadata a
// controller reads (managedFields, timestamps and kubectl's last-applied copy never enter the cache)
// and only the fields its readers name, with repeated strings (label keys and values, apiVersion,
// kind, owner names and uids, role and subject names, verbs) stored once. A whole API object as
// JSON.parse returns it costs several times the compact copy: see bench/README.md.
import type { KubeObject, ObjectMeta, OwnerReference } from './types.js';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * One copy of each string seen, so equal strings from different objects share memory (V8's JSON
 * parser keeps only short values unique). Bounded: past `limit` entries the table starts over, so
 * names of long-deleted objects are not kept forever; strings already shared stay shared.
 */
export class StringTable {
  private readonly strings = new Map<string, string>();
  /** Leaves by a hash of their JSON (keys are numbers: a unique leaf costs its entry, not its text). */
  private readonly leaves = new Map<number, object>();

  constructor(private readonly limit = 100_000) {}

  /**
   * One shared, frozen copy of a small leaf: an array or object of at most LEAF_ENTRIES strings,
   * numbers, booleans or nulls, or an array of such objects (verbs, apiGroups, a roleRef, subjects,
   * owner references, a label map). Thousands of objects carry equal ones: the five objects of a
   * policy share its labels and owner reference, every binding to a role its roleRef, every rule its
   * verbs. Cached objects are read-only snapshots; the freeze makes a write to a shared leaf throw
   * instead of changing every object that holds it. Anything else is returned as it is.
   */
  leaf<T extends object>(value: T): T {
    const key = leafKey(value);
    if (key === undefined) return value;
    const known = this.leaves.get(key);
    if (known !== undefined) return sameLeaf(known, value) ? (known as T) : value; // a hash collision: unshared
    if (this.leaves.size >= this.limit) this.leaves.clear();
    this.leaves.set(key, Object.freeze(value));
    return value;
  }

  intern(s: string): string {
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    if (this.strings.size >= this.limit) this.strings.clear();
    this.strings.set(s, s);
    return s;
  }

  get size(): number {
    return this.strings.size;
  }
}

const LEAF_ENTRIES = 16;

const FNV_PRIME = 0x01000193;

/** Two 32-bit FNV-1a style hashes, fed strings and scalars; 53 bits of them as the table key. */
class LeafHash {
  private a = 0x811c9dc5;
  private b = 0x9747b28c;

  text(s: string): void {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      this.a = Math.imul(this.a ^ c, FNV_PRIME);
      this.b = Math.imul(this.b ^ c, 0x5bd1e995);
    }
    this.sep(0);
  }

  sep(tag: number): void {
    this.a = Math.imul(this.a ^ (0x10000 + tag), FNV_PRIME);
    this.b = Math.imul(this.b ^ (0x10000 + tag), 0x5bd1e995);
  }

  /** False when `v` is not a scalar (the value is not a leaf). */
  scalar(v: unknown): boolean {
    if (typeof v === 'string') this.text(v);
    else if (typeof v === 'number') {
      this.sep(8); // a number never hashes like the string of its digits
      this.text(String(v));
    } else if (typeof v === 'boolean') this.sep(v ? 1 : 2);
    else if (v === null) this.sep(3);
    else return false;
    return true;
  }

  /** False when `v` is not an object of at most LEAF_ENTRIES scalars. */
  scalarObject(v: unknown): boolean {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
    const keys = Object.keys(v);
    if (keys.length > LEAF_ENTRIES) return false;
    this.sep(4);
    for (const k of keys) {
      this.text(k);
      if (!this.scalar((v as Record<string, unknown>)[k])) return false;
    }
    this.sep(5);
    return true;
  }

  get key(): number {
    return (this.a >>> 0) * 0x200000 + ((this.b >>> 0) & 0x1fffff);
  }
}

/** The table key of a shareable leaf (a hash of its contents), or undefined when it is not one. */
function leafKey(value: object): number | undefined {
  const h = new LeafHash();
  if (Array.isArray(value)) {
    if (value.length > LEAF_ENTRIES) return undefined;
    h.sep(6);
    if (value.every((v) => h.scalar(v))) return h.key;
    const objects = new LeafHash();
    objects.sep(7);
    return value.every((v) => objects.scalarObject(v)) ? objects.key : undefined;
  }
  return h.scalarObject(value) ? h.key : undefined;
}

/** Equal leaves: same kind, the same keys in the same order, the same scalars (one level down for arrays). */
function sameLeaf(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i]) return false;
    const va = (a as Record<string, unknown>)[k];
    const vb = (b as Record<string, unknown>)[k];
    if (
      va !== vb &&
      !(typeof va === 'object' && typeof vb === 'object' && !Array.isArray(va) && sameLeaf(va, vb))
    )
      return false;
  }
  return true;
}

/** Which fields besides metadata (and apiVersion/kind) a compact copy keeps, and how. */
export interface CompactShape {
  /** Top-level fields kept as they are (e.g. `spec`, `status`). */
  fields?: readonly string[];
  /** Top-level fields kept with every string in them interned (e.g. `rules`, `subjects`, `roleRef`). */
  internedFields?: readonly string[];
  /**
   * Only these labels are kept (undefined: all). Annotations are kept unless `annotations: false`;
   * the last-applied copy is always dropped.
   */
  labels?: readonly string[];
  annotations?: boolean;
  /** Keep uid, generation, deletionTimestamp, finalizers and ownerReferences (default true). */
  identity?: boolean;
}

/** Every top-level field except metadata kept as is: the informer's default. */
export const WHOLE_OBJECT: CompactShape = {};

/** The compact copy of `obj` by `shape`. Without `fields`/`internedFields`, every other field is kept. */
export function compactObject<T extends KubeObject>(obj: T, shape: CompactShape, strings: StringTable): T {
  const out: Record<string, unknown> = {};
  if (obj.apiVersion !== undefined) out.apiVersion = strings.intern(obj.apiVersion);
  if (obj.kind !== undefined) out.kind = strings.intern(obj.kind);
  out.metadata = compactMetadata(obj.metadata ?? {}, shape, strings);
  const source = obj as Record<string, unknown>;
  if (shape.fields === undefined && shape.internedFields === undefined) {
    for (const key of Object.keys(source)) {
      if (key !== 'apiVersion' && key !== 'kind' && key !== 'metadata') out[key] = source[key];
    }
    return out as T;
  }
  for (const key of shape.fields ?? []) if (source[key] !== undefined) out[key] = source[key];
  for (const key of shape.internedFields ?? []) {
    if (source[key] !== undefined) out[key] = internDeep(source[key], strings);
  }
  return out as T;
}

function compactMetadata(meta: ObjectMeta, shape: CompactShape, strings: StringTable): ObjectMeta {
  const identity = shape.identity ?? true;
  // Always the same insertion order, so all compact metadata objects share one hidden class.
  const out: ObjectMeta = {};
  if (meta.name !== undefined) out.name = strings.intern(meta.name);
  if (meta.namespace !== undefined) out.namespace = strings.intern(meta.namespace);
  if (identity && meta.uid !== undefined) out.uid = strings.intern(meta.uid);
  if (meta.resourceVersion !== undefined) out.resourceVersion = meta.resourceVersion;
  if (identity && meta.generation !== undefined) out.generation = meta.generation;
  if (identity && meta.deletionTimestamp !== undefined) out.deletionTimestamp = meta.deletionTimestamp;
  if (identity && meta.finalizers !== undefined)
    out.finalizers = strings.leaf(meta.finalizers.map((f) => strings.intern(f)));
  const labels = compactMap(meta.labels, shape.labels, undefined, strings);
  if (labels) out.labels = strings.leaf(labels);
  if (shape.annotations ?? true) {
    const annotations = compactMap(meta.annotations, undefined, LAST_APPLIED, strings);
    if (annotations) out.annotations = strings.leaf(annotations);
  }
  if (identity && meta.ownerReferences !== undefined) {
    out.ownerReferences = strings.leaf(
      meta.ownerReferences.map((r) => strings.leaf(compactOwner(r, strings))),
    );
  }
  return out;
}

function compactMap(
  map: Record<string, string> | undefined,
  only: readonly string[] | undefined,
  drop: string | undefined,
  strings: StringTable,
): Record<string, string> | undefined {
  if (map === undefined) return undefined;
  const out: Record<string, string> = {};
  let any = false;
  for (const key of only ?? Object.keys(map)) {
    const value = map[key];
    if (value === undefined || key === drop) continue;
    out[strings.intern(key)] = strings.intern(value);
    any = true;
  }
  return any ? out : undefined;
}

function compactOwner(r: OwnerReference, strings: StringTable): OwnerReference {
  const out: OwnerReference = {
    apiVersion: strings.intern(r.apiVersion),
    kind: strings.intern(r.kind),
    name: strings.intern(r.name),
    uid: strings.intern(r.uid),
  };
  if (r.controller !== undefined) out.controller = r.controller;
  if (r.blockOwnerDeletion !== undefined) out.blockOwnerDeletion = r.blockOwnerDeletion;
  return out;
}

/** A copy of a JSON value with every string interned and every small leaf shared (StringTable.leaf). */
function internDeep(value: unknown, strings: StringTable): unknown {
  if (typeof value === 'string') return strings.intern(value);
  if (Array.isArray(value)) return strings.leaf(value.map((v) => internDeep(v, strings)));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[strings.intern(k)] = internDeep(v, strings);
    return strings.leaf(out);
  }
  return value;
}
