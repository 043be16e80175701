// Streams audit log files (or stdin) through the line scanner, gunzipping when the data starts with
// the gzip magic bytes. Never holds more than a chunk and one line in memory.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { eventsOf, IMPERSONATION_NEEDLE, toAuditRecord, type AuditRecord } from './event.js';
import { LineScanner } from './lines.js';

export interface SourceStats {
  /** The path as given (`-` for stdin). */
  path: string;
  gzip: boolean;
  /** Bytes read from the file (compressed size for gzip). */
  bytes: number;
  /** Decompressed bytes. */
  dataBytes: number;
  lines: number;
  /** Lines that contained the needle and were decoded. */
  decoded: number;
  /** Decoded lines that were not valid JSON. */
  malformed: number;
  /** Impersonation records found (before de-duplication of stages). */
  records: number;
}

export interface Malformed {
  path: string;
  line: number;
  error: string;
}

export interface Progress {
  path: string;
  index: number;
  count: number;
  /** Raw bytes read from this source so far, and its size when known (not for stdin). */
  bytes: number;
  size: number | undefined;
  records: number;
}

export interface ReadOptions {
  onRecord: (rec: AuditRecord) => void;
  onProgress?: (p: Progress) => void;
  /** Up to this many malformed lines are reported with their position (the rest are only counted). */
  maxMalformedReported?: number;
  stdin?: NodeJS.ReadableStream;
  chunkSize?: number;
}

export interface ReadResult {
  sources: SourceStats[];
  malformed: Malformed[];
}

/** An error about one input file, naming it. */
export class InputError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'InputError';
  }
}

const GZIP_MAGIC = [0x1f, 0x8b];

/** Yields the data of a byte stream, gunzipped if it starts with the gzip magic; counts raw bytes. */
async function* decoded(
  raw: AsyncIterable<Buffer | string>,
  onRaw: (n: number) => void,
  onGzip: () => void,
): AsyncGenerator<Buffer> {
  const it = raw[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  let done = false;
  while (head.length < GZIP_MAGIC.length) {
    const next = await it.next();
    if (next.done) {
      done = true;
      break;
    }
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    onRaw(chunk.length);
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
  }
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (done) return;
    for (;;) {
      const next = await it.next();
      if (next.done) return;
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
      onRaw(chunk.length);
      yield chunk;
    }
  }
  if (head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1]) {
    onGzip();
    // pipeline() destroys the gunzip stream with any error (either side), which ends this
    // iteration with that error (compose() left a truncated-gzip error uncaught).
    const gunzip = createGunzip({ chunkSize: 1 << 18 });
    pipeline(Readable.from(rest()), gunzip, () => undefined);
    yield* gunzip as AsyncIterable<Buffer>;
  } else {
    yield* rest();
  }
}

function describe(err: unknown): string {
  // Duck-typed: errors from node:fs may come from another realm (jest's vm modules).
  if (typeof err === 'object' && err !== null && 'message' in err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'no such file';
    if (code === 'EACCES') return 'permission denied';
    if (code === 'EISDIR') return 'is a directory';
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR')
      return `corrupt gzip data (${String(err.message)})`;
    return String(err.message);
  }
  return String(err);
}

/**
 * Reads every source in turn and reports impersonation records (all stages; de-duplicate them
 * with StageDeduper). Throws InputError naming the source when one cannot be read.
 */
export async function readAuditLogs(paths: string[], opts: ReadOptions): Promise<ReadResult> {
  const sources: SourceStats[] = [];
  const malformed: Malformed[] = [];
  const maxReported = opts.maxMalformedReported ?? 10;
  const chunkSize = opts.chunkSize ?? 1 << 20;
  for (const [index, path] of paths.entries()) {
    const stats: SourceStats = {
      path,
      gzip: false,
      bytes: 0,
      dataBytes: 0,
      lines: 0,
      decoded: 0,
      malformed: 0,
      records: 0,
    };
    let size: number | undefined;
    let raw: AsyncIterable<Buffer | string>;
    if (path === '-') {
      raw = (opts.stdin ?? process.stdin) as AsyncIterable<Buffer | string>;
    } else {
      try {
        const st = await stat(path);
        if (st.isDirectory()) throw new InputError(path, 'is a directory (give audit log files)');
        size = st.size;
      } catch (err) {
        if (err instanceof InputError) throw err;
        throw new InputError(path, describe(err));
      }
      raw = createReadStream(path, { highWaterMark: chunkSize });
    }
    const progress = (): void =>
      opts.onProgress?.({
        path,
        index,
        count: paths.length,
        bytes: stats.bytes,
        size,
        records: stats.records,
      });
    const scanner = new LineScanner(IMPERSONATION_NEEDLE, (line, lineNumber) => {
      stats.decoded++;
      let doc: unknown;
      try {
        doc = JSON.parse(line);
      } catch (err) {
        stats.malformed++;
        if (malformed.length < maxReported) malformed.push({ path, line: lineNumber, error: describe(err) });
        return;
      }
      for (const ev of eventsOf(doc)) {
        const rec = toAuditRecord(ev);
        if (rec) {
          stats.records++;
          opts.onRecord(rec);
        }
      }
    });
    let lastProgress = 0;
    try {
      for await (const chunk of decoded(
        raw,
        (n) => (stats.bytes += n),
        () => (stats.gzip = true),
      )) {
        stats.dataBytes += chunk.length;
        scanner.push(chunk);
        const now = Date.now();
        if (now - lastProgress >= 200) {
          lastProgress = now;
          progress();
        }
      }
      scanner.end();
    } catch (err) {
      throw new InputError(path, describe(err));
    }
    stats.lines = scanner.lines;
    progress();
    sources.push(stats);
  }
  return { sources, malformed };
}
