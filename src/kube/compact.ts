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

  constructor(private readonly limit = 100_000) {}

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
    out.finalizers = meta.finalizers.map((f) => strings.intern(f));
  const labels = compactMap(meta.labels, shape.labels, undefined, strings);
  if (labels) out.labels = labels;
  if (shape.annotations ?? true) {
    const annotations = compactMap(meta.annotations, undefined, LAST_APPLIED, strings);
    if (annotations) out.annotations = annotations;
  }
  if (identity && meta.ownerReferences !== undefined) {
    out.ownerReferences = meta.ownerReferences.map((r) => compactOwner(r, strings));
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

/** A copy of a JSON value with every string interned. */
function internDeep(value: unknown, strings: StringTable): unknown {
  if (typeof value === 'string') return strings.intern(value);
  if (Array.isArray(value)) return value.map((v) => internDeep(v, strings));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[strings.intern(k)] = internDeep(v, strings);
    return out;
  }
  return value;
}
