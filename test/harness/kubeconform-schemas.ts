// Offline JSON schemas for kubeconform. kubeconform normally downloads them; here they are made
// from the local API server's own OpenAPI v3 documents (built-in kinds, cached per Kubernetes
// version) and from the repo's CRD files (our kinds, made fresh on every call). Every object
// schema that lists its properties gets additionalProperties: false, as kubeconform's "-strict"
// schemas do, so an unknown or misspelled field fails validation.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { clusterInfo } from './cluster-info.js';
import { repoRoot } from './controlplane.js';
import { cacheRoot } from './go-build.js';
import { kubectlOk } from './kubectl.js';

/** Bump when the conversion below changes, so cached schemas are regenerated. */
const GENERATOR_VERSION = 1;

type Schema = Record<string, unknown>;

interface Gvk {
  group: string;
  version: string;
  kind: string;
}

/** kubeconform's file naming: `{kind}{-first label of group}{-version}.json`, lower case. */
export function schemaFileName({ group, version, kind }: Gvk): string {
  const suffix = group === '' ? `-${version}` : `-${group.split('.')[0]}-${version}`;
  return `${kind}${suffix}.json`.toLowerCase();
}

/** kubeconform -schema-location template matching schemaFileName(). */
export function schemaLocation(dir: string): string {
  return `${dir}/{{ .ResourceKind }}{{ .KindSuffix }}.json`;
}

/** Groups compiled into kube-apiserver; CRD groups other tests install are left out. */
function isBuiltInGroup(group: string): boolean {
  return ['', 'apps', 'batch', 'autoscaling', 'policy'].includes(group) || group.endsWith('.k8s.io');
}

/** Makes an OpenAPI v3 schema node strict and JSON-Schema-valid, in place, recursively. */
export function strictify(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(strictify);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const s = node as Schema;
  if (typeof s.$ref === 'string') s.$ref = s.$ref.replace('#/components/schemas/', '#/definitions/');
  if (s.nullable === true && typeof s.type === 'string') s.type = [s.type, 'null'];
  if (
    s.properties !== undefined &&
    s.additionalProperties === undefined &&
    s['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    s.additionalProperties = false;
  }
  for (const value of Object.values(s)) strictify(value);
}

function refsOf(node: unknown, out: Set<string>): void {
  if (Array.isArray(node)) return node.forEach((n) => refsOf(n, out));
  if (node === null || typeof node !== 'object') return;
  const ref = (node as Schema).$ref;
  if (typeof ref === 'string' && ref.startsWith('#/definitions/'))
    out.add(ref.slice('#/definitions/'.length));
  for (const value of Object.values(node as Schema)) refsOf(value, out);
}

/** The schema for one kind with every definition it reaches, so the file stands alone. */
function standalone(name: string, all: Record<string, Schema>): Schema {
  const needed = new Set<string>([name]);
  const queue = [name];
  while (queue.length > 0) {
    const found = new Set<string>();
    refsOf(all[queue.pop()!], found);
    for (const ref of found) {
      if (!needed.has(ref) && all[ref]) {
        needed.add(ref);
        queue.push(ref);
      }
    }
  }
  const definitions = Object.fromEntries([...needed].sort().map((n) => [n, all[n]]));
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...all[name], definitions };
}

let builtInPromise: Promise<string> | undefined;

/** Schemas of the built-in kinds of the running API server; generated once per version. */
export function ensureBuiltInSchemas(): Promise<string> {
  builtInPromise ??= (async () => {
    const version = clusterInfo().version;
    const dir = join(cacheRoot(), `kubeconform-schemas-${version}-g${GENERATOR_VERSION}`);
    if (existsSync(join(dir, 'COMPLETE'))) return dir;
    await mkdir(cacheRoot(), { recursive: true });
    const tmp = await mkdtemp(`${dir}.tmp-`);
    const index = JSON.parse(await kubectlOk(['get', '--raw', '/openapi/v3'])) as {
      paths: Record<string, { serverRelativeURL: string }>;
    };
    let count = 0;
    for (const [path, { serverRelativeURL }] of Object.entries(index.paths)) {
      const m = /^(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
      if (!m) continue;
      const group = m[2] ?? '';
      if (!isBuiltInGroup(group)) continue;
      const doc = JSON.parse(await kubectlOk(['get', '--raw', serverRelativeURL])) as {
        components?: { schemas?: Record<string, Schema> };
      };
      const all = doc.components?.schemas ?? {};
      strictify(all);
      for (const [name, schema] of Object.entries(all)) {
        const gvks = (schema['x-kubernetes-group-version-kind'] ?? []) as Gvk[];
        for (const gvk of gvks) {
          if (gvk.group !== group || !path.endsWith(`/${gvk.version}`)) continue;
          await writeFile(join(tmp, schemaFileName(gvk)), JSON.stringify(standalone(name, all)));
          count++;
        }
      }
    }
    await writeFile(join(tmp, 'COMPLETE'), JSON.stringify({ version, count }));
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another worker finished first: its copy is the same; keep it.
      await rm(tmp, { recursive: true, force: true });
      if (!existsSync(join(dir, 'COMPLETE'))) throw err;
    }
    return dir;
  })();
  builtInPromise.catch(() => (builtInPromise = undefined));
  return builtInPromise;
}

interface CrdDoc {
  kind?: string;
  spec?: {
    group: string;
    names: { kind: string };
    versions: { name: string; served?: boolean; schema?: { openAPIV3Schema?: Schema } }[];
  };
}

/** Schemas for the custom resources defined by the CRD files in `dirs` (default: the repo's crds/). */
export async function crdSchemas(dirs: string[] = [join(repoRoot, 'crds')]): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'impop-crd-schemas-'));
  for (const dir of dirs) {
    for (const file of (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f))) {
      for (const doc of loadAll(await readFile(join(dir, file), 'utf8')) as CrdDoc[]) {
        if (doc?.kind !== 'CustomResourceDefinition' || !doc.spec) continue;
        for (const v of doc.spec.versions) {
          const schema = structuredClone(v.schema?.openAPIV3Schema ?? { type: 'object' });
          strictify(schema);
          const gvk = { group: doc.spec.group, version: v.name, kind: doc.spec.names.kind };
          await writeFile(
            join(out, schemaFileName(gvk)),
            JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...schema }),
          );
        }
      }
    }
  }
  return out;
}
