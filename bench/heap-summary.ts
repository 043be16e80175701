// A V8 heap snapshot (.heapsnapshot, e.g. from `npm run bench -- --memory --heap-snapshot`) summed by
// what holds the memory: self size and count per node type and per constructor/name, largest first.
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
function intArray(buf: Buffer, key: string): Uint32Array | Float64Array {
  const start = buf.indexOf(key);
  if (start < 0) throw new Error(`not a heap snapshot: no ${key}`);
  let i = start + key.length;
  const values: number[] = [];
  let cur = 0;
  let inNum = false;
  for (; i < buf.length; i++) {
    const c = buf[i]!;
    if (c >= 48 && c <= 57) {
      cur = cur * 10 + (c - 48);
      inNum = true;
    } else {
      if (inNum) values.push(cur);
      cur = 0;
      inNum = false;
      if (c === 93) break; // ]
    }
  }
  return Float64Array.from(values);
}

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
      ].join('\n'),
    );
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`heap-summary: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
