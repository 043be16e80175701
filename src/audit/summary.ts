// Aggregates impersonation records into the summary the `audit` command prints: impersonator ->
// impersonated identity -> verb/resource counts, plus refused impersonations. Pure and
// order-independent (the same records in any order give the same summary).
import type {
  Action,
  AttemptedTarget,
  AuditRecord,
  Identity,
  ImpersonatedRequest,
  Outcome,
} from './event.js';

export interface Counts {
  requests: number;
  allowed: number;
  forbidden: number;
  /** No response status or decision recorded (e.g. the log ended before the request finished). */
  unknown: number;
}

export interface TimeRange {
  first: string;
  last: string;
}

export interface ActionSummary extends Action, Counts {}

export interface TargetSummary extends Counts {
  /**
   * Requests whose impersonation a constrained grant allowed, by constraint verb (absent: none; the
   * rest were allowed by legacy, unconstrained impersonation).
   */
  constrained?: Record<string, number>;
  target: Identity;
  timeRange?: TimeRange;
  actions: ActionSummary[];
}

export interface ImpersonatorSummary extends Counts {
  impersonator: string;
  /** The impersonator's own groups, as authenticated (union over its requests). */
  groups: string[];
  targets: TargetSummary[];
}

export interface RefusalSummary {
  impersonator: string;
  attempted: AttemptedTarget;
  /** One request that carried it (the first in sort order), e.g. `list pods`. */
  example: Action;
  count: number;
  timeRange?: TimeRange;
}

export interface ImpersonationSummary extends Counts {
  timeRange?: TimeRange;
  impersonators: ImpersonatorSummary[];
  refused: RefusalSummary[];
}

class Range {
  private firstTime = Infinity;
  private lastTime = -Infinity;
  private firstStamp = '';
  private lastStamp = '';

  add(time: number | undefined, stamp: string | undefined): void {
    if (time === undefined || stamp === undefined) return;
    // Ties broken on the string so microseconds (lost by Date.parse) still order correctly.
    if (time < this.firstTime || (time === this.firstTime && stamp < this.firstStamp)) {
      this.firstTime = time;
      this.firstStamp = stamp;
    }
    if (time > this.lastTime || (time === this.lastTime && stamp > this.lastStamp)) {
      this.lastTime = time;
      this.lastStamp = stamp;
    }
  }

  value(): TimeRange | undefined {
    return this.firstStamp === '' ? undefined : { first: this.firstStamp, last: this.lastStamp };
  }
}

function zero(): Counts {
  return { requests: 0, allowed: 0, forbidden: 0, unknown: 0 };
}

function count(c: Counts, outcome: Outcome): void {
  c.requests++;
  c[outcome]++;
}

/** A stable key for an identity: two requests as the same user with the same groups share it. */
export function identityKey(id: Identity): string {
  return JSON.stringify([id.username, [...id.groups].sort(), id.uid ?? '', id.extra ?? {}]);
}

function actionKey(a: Action): string {
  return `${a.verb}\0${a.resource}\0${a.namespace}`;
}

function attemptKey(a: AttemptedTarget): string {
  return `${a.resource}\0${a.namespace}\0${a.name}`;
}

interface TargetAcc {
  target: Identity;
  constrained: Map<string, number>;
  counts: Counts;
  range: Range;
  actions: Map<string, ActionSummary>;
}

interface ImpersonatorAcc {
  counts: Counts;
  groups: Set<string>;
  targets: Map<string, TargetAcc>;
}

interface RefusalAcc {
  impersonator: string;
  attempted: AttemptedTarget;
  example: Action;
  count: number;
  range: Range;
}

function byRequestsThenName<T>(counts: (t: T) => number, name: (t: T) => string): (a: T, b: T) => number {
  return (a, b) => counts(b) - counts(a) || (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0);
}

export class SummaryBuilder {
  private readonly totals = zero();
  private readonly range = new Range();
  private readonly impersonators = new Map<string, ImpersonatorAcc>();
  private readonly refusals = new Map<string, RefusalAcc>();

  add(rec: AuditRecord): void {
    this.range.add(rec.time, rec.timestamp);
    if (rec.kind === 'refused') {
      const key = `${rec.impersonator.username}\0${attemptKey(rec.attempted)}`;
      let acc = this.refusals.get(key);
      if (!acc) {
        acc = {
          impersonator: rec.impersonator.username,
          attempted: rec.attempted,
          example: rec.action,
          count: 0,
          range: new Range(),
        };
        this.refusals.set(key, acc);
      }
      acc.count++;
      acc.range.add(rec.time, rec.timestamp);
      if (actionKey(rec.action) < actionKey(acc.example)) acc.example = rec.action;
      return;
    }
    this.addImpersonated(rec);
  }

  private addImpersonated(rec: ImpersonatedRequest): void {
    count(this.totals, rec.outcome);
    let imp = this.impersonators.get(rec.impersonator.username);
    if (!imp) {
      imp = { counts: zero(), groups: new Set(), targets: new Map() };
      this.impersonators.set(rec.impersonator.username, imp);
    }
    count(imp.counts, rec.outcome);
    for (const g of rec.impersonator.groups) imp.groups.add(g);
    const tk = identityKey(rec.target);
    let t = imp.targets.get(tk);
    if (!t) {
      t = {
        target: { ...rec.target, groups: [...rec.target.groups].sort() },
        constrained: new Map(),
        counts: zero(),
        range: new Range(),
        actions: new Map(),
      };
      imp.targets.set(tk, t);
    }
    count(t.counts, rec.outcome);
    if (rec.constraint !== undefined)
      t.constrained.set(rec.constraint, (t.constrained.get(rec.constraint) ?? 0) + 1);
    t.range.add(rec.time, rec.timestamp);
    const ak = actionKey(rec.action);
    let a = t.actions.get(ak);
    if (!a) {
      a = { ...rec.action, ...zero() };
      t.actions.set(ak, a);
    }
    count(a, rec.outcome);
  }

  summary(): ImpersonationSummary {
    const impersonators: ImpersonatorSummary[] = [...this.impersonators].map(([name, imp]) => ({
      impersonator: name,
      ...imp.counts,
      groups: [...imp.groups].sort(),
      targets: [...imp.targets.values()]
        .map((t) => ({
          target: t.target,
          ...t.counts,
          ...(t.constrained.size === 0
            ? {}
            : { constrained: Object.fromEntries([...t.constrained].sort(([a], [b]) => (a < b ? -1 : 1))) }),
          ...(t.range.value() ? { timeRange: t.range.value() } : {}),
          actions: [...t.actions.values()].sort(
            byRequestsThenName(
              (a) => a.requests,
              (a) => actionKey(a),
            ),
          ),
        }))
        .sort(
          byRequestsThenName(
            (t) => t.requests,
            (t) => identityKey(t.target),
          ),
        ),
    }));
    impersonators.sort(
      byRequestsThenName(
        (i) => i.requests,
        (i) => i.impersonator,
      ),
    );
    const refused: RefusalSummary[] = [...this.refusals.values()]
      .map((r) => ({
        impersonator: r.impersonator,
        attempted: r.attempted,
        example: r.example,
        count: r.count,
        ...(r.range.value() ? { timeRange: r.range.value() } : {}),
      }))
      .sort(
        byRequestsThenName(
          (r) => r.count,
          (r) => `${r.impersonator}\0${attemptKey(r.attempted)}`,
        ),
      );
    const timeRange = this.range.value();
    return { ...this.totals, ...(timeRange ? { timeRange } : {}), impersonators, refused };
  }
}
