// Reads the control plane's audit log (JSON lines, audit.k8s.io/v1 Events at Metadata level).
import { readFile } from 'node:fs/promises';
import { clusterInfo } from './cluster-info.js';

export interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  impersonatedUser?: { username: string; groups?: string[] };
  objectRef?: {
    resource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
    subresource?: string;
  };
  responseStatus?: { code?: number };
  userAgent?: string;
  stageTimestamp: string;
}

export async function readAuditEvents(): Promise<AuditEvent[]> {
  const text = await readFile(clusterInfo().auditLogPath, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AuditEvent);
}

/** Polls the audit log until an event matches (the log backend writes shortly after the response). */
export async function waitForAuditEvent(
  pred: (e: AuditEvent) => boolean,
  timeoutMs = 10_000,
): Promise<AuditEvent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = (await readAuditEvents()).find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no matching audit event within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
