// Counts each request once although the audit log holds one event per stage (RequestReceived,
// ResponseStarted, ResponseComplete, Panic). Memory is bounded by the requests in flight, not by
// the size of the log.
import { isFinalStage, type AuditRecord } from './event.js';

/** How many completed auditIDs to remember, to drop a duplicate or late stage of a finished request. */
const RECENT_LIMIT = 1 << 16;

export class StageDeduper {
  /** Requests seen in a non-final stage, waiting for their final stage. */
  private readonly pending = new Map<string, AuditRecord>();
  /** Recently completed auditIDs (insertion-ordered, trimmed from the oldest). */
  private readonly recent = new Set<string>();

  constructor(private readonly recentLimit = RECENT_LIMIT) {}

  /**
   * The record to count now, if any. A final stage is counted at once; an earlier stage waits for
   * it (and is counted by `drain()` if it never comes, e.g. a log cut mid-request).
   */
  push(rec: AuditRecord): AuditRecord | undefined {
    const id = rec.auditID;
    if (id === '') return rec;
    if (this.recent.has(id)) return undefined;
    if (!isFinalStage(rec.stage)) {
      // A later non-final stage (ResponseStarted) carries more than RequestReceived: keep the latest.
      this.pending.set(id, rec);
      return undefined;
    }
    this.pending.delete(id);
    this.remember(id);
    return rec;
  }

  /** Requests whose final stage never appeared. */
  drain(): AuditRecord[] {
    const rest = [...this.pending.values()];
    this.pending.clear();
    return rest;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  private remember(id: string): void {
    this.recent.add(id);
    if (this.recent.size > this.recentLimit) {
      const oldest = this.recent.values().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }
}
