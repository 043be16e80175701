import { describe, expect, it } from '@jest/globals';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { AuditRecord } from '../../../src/audit/event.js';
import { InputError, readAuditLogs } from '../../../src/audit/reader.js';

const fixture = (name: string): string => join(import.meta.dirname, '../../fixtures/audit', name);

async function read(paths: string[], opts: { stdin?: Readable; chunkSize?: number } = {}) {
  const records: AuditRecord[] = [];
  const result = await readAuditLogs(paths, { ...opts, onRecord: (r) => records.push(r) });
  return { records, ...result };
}

describe('readAuditLogs', () => {
  it.each([
    { name: 'plain file', paths: [fixture('basic.jsonl')], chunkSize: undefined },
    { name: 'gzip file', paths: [fixture('basic.jsonl.gz')], chunkSize: undefined },
    { name: 'plain file in 7-byte chunks', paths: [fixture('basic.jsonl')], chunkSize: 7 },
    { name: 'gzip file in 3-byte chunks', paths: [fixture('basic.jsonl.gz')], chunkSize: 3 },
  ])('reads the same records from a $name', async ({ paths, chunkSize }) => {
    const r = await read(paths, { chunkSize });
    expect(r.records.map((x) => `${x.kind}:${x.auditID}:${x.stage}`)).toEqual([
      'impersonated:a1:RequestReceived',
      'impersonated:a1:ResponseComplete',
      'impersonated:a2:ResponseComplete',
      'impersonated:a3:ResponseComplete',
      'refused:a4:ResponseComplete',
      'impersonated:a5:ResponseComplete',
      'refused:a6:ResponseComplete',
      'impersonated:a7:ResponseStarted',
      'impersonated:a8:ResponseComplete',
      'impersonated:a7:ResponseComplete',
      'impersonated:a9:ResponseComplete',
      'refused:a10:ResponseComplete',
    ]);
    expect(r.sources).toEqual([
      expect.objectContaining({ path: paths[0], lines: 14, decoded: 13, malformed: 1, records: 12 }),
    ]);
    expect(r.malformed).toEqual([{ path: paths[0], line: 12, error: expect.stringContaining('JSON') }]);
  });

  it('reads stdin, gzipped or not, and several sources in order', async () => {
    const gz = gzipSync(
      Buffer.from('{"user":{"username":"p"},"impersonatedUser":{"username":"u"},"auditID":"x"}\n'),
    );
    const r = await read(['-', fixture('basic.jsonl')], {
      stdin: Readable.from([gz.subarray(0, 1), gz.subarray(1)]),
    });
    expect(r.records[0]).toMatchObject({ kind: 'impersonated', target: { username: 'u' } });
    expect(r.sources.map((s) => [s.path, s.gzip, s.lines])).toEqual([
      ['-', true, 1],
      [fixture('basic.jsonl'), false, 14],
    ]);
  });

  it('reads an empty stdin', async () => {
    const r = await read(['-'], { stdin: Readable.from([]) });
    expect(r.sources[0]).toMatchObject({ bytes: 0, lines: 0 });
  });

  it('reads EventList lines', async () => {
    const line = JSON.stringify({
      kind: 'EventList',
      items: [
        { user: { username: 'p' }, impersonatedUser: { username: 'a' } },
        { user: { username: 'p' }, impersonatedUser: { username: 'b' } },
      ],
    });
    const r = await read(['-'], { stdin: Readable.from([Buffer.from(line)]) });
    expect(r.records.map((x) => (x.kind === 'impersonated' ? x.target.username : ''))).toEqual(['a', 'b']);
  });

  it.each([
    {
      name: 'a missing file',
      setup: async (d: string) => join(d, 'nope.log'),
      message: /nope\.log: no such file/,
    },
    { name: 'a directory', setup: async (d: string) => d, message: /is a directory/ },
    {
      name: 'corrupt gzip',
      setup: async (d: string) => {
        const p = join(d, 'bad.gz');
        await writeFile(
          p,
          Buffer.concat([gzipSync('x'.repeat(100)).subarray(0, 12), Buffer.from('garbage')]),
        );
        return p;
      },
      message: /bad\.gz: (corrupt gzip|unexpected end)/,
    },
  ])('names the file when it reads $name', async ({ setup, message }) => {
    const dir = await mkdtemp(join(tmpdir(), 'impop-audit-'));
    const path = await setup(dir);
    const p = read([path]);
    await expect(p).rejects.toBeInstanceOf(InputError);
    await expect(read([path])).rejects.toThrow(message);
  });
});
