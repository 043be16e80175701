// A V8 heap snapshot (.heapsnapshot, e.g. from `npm run bench -- --memory --heap-snapshot`) summed by
// what holds the memory: self size and count per node type, per constructor/name, and per holder (the
// nearest instance of a named class on the path from the GC roots), largest first.
// Reads the file as bytes (a snapshot at 10,000 policies is larger than one JavaScript string).
//
//   node dist/bench/heap-summary.js FILE [--top 40]
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

interface Meta {
  node_fields: string[];
  node_types: [string[], ...unknown[]];
}

/** The unsigned integers of the JSON array that starts after `key` (`"nodes":[`). */
function intArray(buf: Buffer, key: string): Float64Array {
  const start = buf.indexOf(key);
  if (start < 0) throw new Error(`not a heap snapshot: no ${key}`);
  let out = new Float64Array(1 << 20);
  let n = 0;
  let cur = 0;
  let inNum = false;
  for (let i = start + key.length; i < buf.length; i++) {
    const c = buf[i]!;
    if (c >= 48 && c <= 57) {
      cur = cur * 10 + (c - 48);
      inNum = true;
      continue;
    }
    if (inNum) {
      if (n === out.length) {
        const bigger = new Float64Array(out.length * 2);
        bigger.set(out);
        out = bigger;
      }
      out[n++] = cur;
    }
    cur = 0;
    inNum = false;
    if (c === 93) break; // ]
  }
  return out.subarray(0, n);
}

/** Constructor names that say nothing about who holds the memory. */
const GENERIC = new Set(['Object', 'Array', 'Map', 'Set', 'WeakMap', 'WeakSet', 'Promise', 'Generator']);
const isHolder = (type: string, name: string) =>
  (type === 'object' || type === 'closure') && /^[A-Za-z_$][\w$]*$/.test(name) && !GENERIC.has(name);

function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '40' } },
  });
  const file = positionals[0];
  if (!file) throw new Error('usage: heap-summary FILE [--top N]');
  const top = Number(values.top);
  return readFile(file).then((buf) => {
    const metaStart = buf.indexOf('"meta":');
    const metaEnd = buf.indexOf(',"node_count"', metaStart);
    const meta = JSON.parse(buf.subarray(metaStart + 7, metaEnd).toString('utf8')) as Meta;
    const stringsAt = buf.indexOf('"strings":[');
    const strings = JSON.parse(
      buf.subarray(stringsAt + 10, buf.lastIndexOf(']') + 1).toString('utf8'),
    ) as string[];
    const nodes = intArray(buf, '"nodes":[');
    const width = meta.node_fields.length;
    const fType = meta.node_fields.indexOf('type');
    const fName = meta.node_fields.indexOf('name');
    const fSize = meta.node_fields.indexOf('self_size');
    const types = meta.node_types[0];
    const byType = new Map<string, { count: number; bytes: number }>();
    const byName = new Map<string, { count: number; bytes: number }>();
    let total = 0;
    const add = (m: Map<string, { count: number; bytes: number }>, key: string, bytes: number) => {
      const e = m.get(key) ?? { count: 0, bytes: 0 };
      e.count++;
      e.bytes += bytes;
      m.set(key, e);
    };
    for (let i = 0; i < nodes.length; i += width) {
      const type = types[nodes[i + fType]!] ?? '?';
      const bytes = nodes[i + fSize]!;
      total += bytes;
      add(byType, type, bytes);
      // Strings, numbers and code are grouped by type: their names are their contents.
      const grouped = ['string', 'concatenated string', 'sliced string', 'number', 'code', 'hidden'];
      const name = grouped.includes(type) ? '' : (strings[nodes[i + fName]!] ?? '?').slice(0, 60);
      add(byName, `${type}: ${name}`, bytes);
    }
    // Who holds it: walk the BFS tree from the GC roots (strong edges only); each node is charged to
    // its nearest ancestor that is an instance of a named class (or a named function's closure),
    // with the property by which that holder reaches it (e.g. `Store.items`).
    const edges = intArray(buf, '"edges":[');
    const edgeFields = (meta as unknown as { edge_fields: string[] }).edge_fields;
    const edgeTypes = (meta as unknown as { edge_types: [string[]] }).edge_types[0];
    const eWidth = edgeFields.length;
    const eType = edgeFields.indexOf('type');
    const eName = edgeFields.indexOf('name_or_index');
    const eTo = edgeFields.indexOf('to_node');
    const fEdges = meta.node_fields.indexOf('edge_count');
    const count = nodes.length / width;
    const firstEdge = new Float64Array(count + 1);
    for (let n = 0; n < count; n++) firstEdge[n + 1] = firstEdge[n]! + nodes[n * width + fEdges]! * eWidth;
    const holder = new Int32Array(count).fill(-1);
    const via = new Array<string>(count);
    const seen = new Uint8Array(count);
    const queue = new Int32Array(count);
    let head = 0;
    let tail = 0;
    queue[tail++] = 0;
    seen[0] = 1;
    const nameOf = (n: number) => strings[nodes[n * width + fName]!] ?? '?';
    const typeOf = (n: number) => types[nodes[n * width + fType]!] ?? '?';
    while (head < tail) {
      const n = queue[head++]!;
      const nHolds = isHolder(typeOf(n), nameOf(n));
      for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += eWidth) {
        const et = edgeTypes[edges[e + eType]!];
        if (et === 'weak' || et === 'shortcut') continue;
        const to = edges[e + eTo]! / width;
        if (seen[to]) continue;
        seen[to] = 1;
        queue[tail++] = to;
        if (nHolds) {
          holder[to] = n;
          const name = et === 'element' || et === 'hidden' ? '[]' : (strings[edges[e + eName]!] ?? '?');
          via[to] = name;
        } else {
          holder[to] = holder[n]!;
          via[to] = via[n]!;
        }
      }
    }
    const byHolder = new Map<string, { count: number; bytes: number }>();
    for (let n = 0; n < count; n++) {
      const h = holder[n]!;
      const key = h < 0 ? '(no named holder)' : `${nameOf(h).slice(0, 40)}.${(via[n] ?? '?').slice(0, 40)}`;
      add(byHolder, key, nodes[n * width + fSize]!);
    }
    const mb = (b: number) => (b / 2 ** 20).toFixed(2);
    const table = (title: string, m: Map<string, { count: number; bytes: number }>) => {
      const rows = [...m.entries()].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top);
      const lines = [`## ${title}`, '', '| what | count | self MB | share |', '|---|---|---|---|'];
      for (const [k, v] of rows)
        lines.push(
          `| ${k.replace(/\|/g, '\\|')} | ${v.count} | ${mb(v.bytes)} | ${((100 * v.bytes) / total).toFixed(1)}% |`,
        );
      return lines.join('\n');
    };
    process.stdout.write(
      [
        `# ${file}`,
        '',
        `${nodes.length / width} nodes, ${mb(total)} MB self size in all.`,
        '',
        table('By node type', byType),
        '',
        table(`By type and constructor/name (top ${top})`, byName),
        '',
        table(`By holder: the nearest instance of a named class, and its property (top ${top})`, byHolder),
        '',
      ].join('\n'),
    );
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`heap-summary: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
