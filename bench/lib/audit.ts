// The API server's audit log as the ground truth of what each client cost: read incrementally,
// kept as slim records, and summarized per user and time window (stageTimestamp).
import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';

const CHUNK = 16 * 2 ** 20;

export interface AuditRecord {
  /** stageTimestamp, ms since the epoch. */
  at: number;
  user: string;
  verb: string;
  /** `resource` or `resource/subresource`. */
  resource: string;
  code: number;
  userAgent: string;
}

interface RawEvent {
  auditID: string;
  stage: string;
  verb: string;
  user?: { username?: string };
  objectRef?: { resource?: string; subresource?: string };
  responseStatus?: { code?: number };
  userAgent?: string;
  stageTimestamp: string;
}

export const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

export interface AuditSummary {
  requests: number;
  /** `verb resource` -> count. */
  byVerbResource: Record<string, number>;
  /** Writes to anything but Events. */
  writes: number;
  /** Writes to Events (core or events.k8s.io). */
  eventWrites: number;
  /** SubjectAccessReviews (a `create` that stores nothing: counted here, not as writes). */
  accessReviews: number;
  gets: number;
  lists: number;
  watches: number;
  conflicts409: number;
  throttled429: number;
  /** Other 4xx/5xx answers. */
  otherErrors: number;
}

export class AuditLog {
  private offset = 0;
  private ino: number | undefined;
  private partial = '';
  private readonly decoder = new StringDecoder('utf8');
  records: AuditRecord[] = [];

  constructor(private readonly path: string) {}

  /**
   * Appends what the API server wrote since the last call, in chunks (a 10,000-policy run writes
   * more than one JavaScript string can hold). The harness turns the API server's log rotation off;
   * a log that shrank or was replaced is an error, never a silently empty window.
   */
  async catchUp(): Promise<void> {
    const fh = await open(this.path, 'r');
    try {
      const { size, ino } = await fh.stat();
      if (this.ino !== undefined && (ino !== this.ino || size < this.offset))
        throw new Error(`${this.path} was rotated or truncated: the audit figures would be incomplete`);
      this.ino = ino;
      const chunk = Buffer.alloc(Math.min(CHUNK, Math.max(0, size - this.offset)));
      while (this.offset < size) {
        const { bytesRead } = await fh.read(
          chunk,
          0,
          Math.min(chunk.length, size - this.offset),
          this.offset,
        );
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        this.addLines(this.decoder.write(chunk.subarray(0, bytesRead)));
      }
    } finally {
      await fh.close();
    }
  }

  private addLines(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') continue;
      const e = JSON.parse(line) as RawEvent;
      // One record per request: the end of an ordinary request, the start of a watch.
      const isWatch = e.verb === 'watch';
      if (isWatch ? e.stage !== 'ResponseStarted' : e.stage !== 'ResponseComplete') continue;
      const ref = e.objectRef;
      this.records.push({
        at: Date.parse(e.stageTimestamp),
        user: e.user?.username ?? '',
        verb: e.verb,
        resource: ref?.resource
          ? ref.subresource
            ? `${ref.resource}/${ref.subresource}`
            : ref.resource
          : '',
        code: e.responseStatus?.code ?? 0,
        userAgent: e.userAgent ?? '',
      });
    }
  }

  /** Drops records older than `before` (ms since the epoch), to bound memory. */
  forgetBefore(before: number): void {
    this.records = this.records.filter((r) => r.at >= before);
  }

  select(from: number, to: number, pred: (r: AuditRecord) => boolean): AuditRecord[] {
    return this.records.filter((r) => r.at >= from && r.at <= to && pred(r));
  }

  summarize(from: number, to: number, user: string): AuditSummary {
    return summarize(this.select(from, to, (r) => r.user === user));
  }

  /** Last time `pred` matched a record at or after `from`, or undefined. */
  lastMatch(from: number, pred: (r: AuditRecord) => boolean): number | undefined {
    let last: number | undefined;
    for (const r of this.records)
      if (r.at >= from && pred(r) && (last === undefined || r.at > last)) last = r.at;
    return last;
  }
}

export function summarize(records: readonly AuditRecord[]): AuditSummary {
  const s: AuditSummary = {
    requests: records.length,
    byVerbResource: {},
    writes: 0,
    eventWrites: 0,
    accessReviews: 0,
    gets: 0,
    lists: 0,
    watches: 0,
    conflicts409: 0,
    throttled429: 0,
    otherErrors: 0,
  };
  for (const r of records) {
    const k = `${r.verb} ${r.resource}`;
    s.byVerbResource[k] = (s.byVerbResource[k] ?? 0) + 1;
    if (r.resource === 'subjectaccessreviews') s.accessReviews++;
    else if (WRITE_VERBS.has(r.verb)) {
      if (r.resource === 'events') s.eventWrites++;
      else s.writes++;
    }
    if (r.verb === 'get') s.gets++;
    if (r.verb === 'list') s.lists++;
    if (r.verb === 'watch') s.watches++;
    if (r.code === 409) s.conflicts409++;
    else if (r.code === 429) s.throttled429++;
    else if (r.code >= 400) s.otherErrors++;
  }
  s.byVerbResource = Object.fromEntries(
    Object.entries(s.byVerbResource).sort(([a], [b]) => a.localeCompare(b)),
  );
  return s;
}
