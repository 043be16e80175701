// The API server's audit log as the ground truth of what each client cost: read incrementally,
// kept as slim records, and summarized per user and time window (stageTimestamp).
import { open } from 'node:fs/promises';

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
  private partial = '';
  records: AuditRecord[] = [];

  constructor(private readonly path: string) {}

  /** Appends what the API server wrote since the last call. */
  async catchUp(): Promise<void> {
    const fh = await open(this.path, 'r');
    try {
      const { size } = await fh.stat();
      if (size <= this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      await fh.read(buf, 0, buf.length, this.offset);
      this.offset = size;
      const text = this.partial + buf.toString('utf8');
      const lines = text.split('\n');
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
    } finally {
      await fh.close();
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
