// What defeats a constraint across policies (pure): the API server combines every grant an
// impersonator holds. A classic policy that lets the same impersonator become one of a constrained
// policy's targets gives it the legacy `impersonate` verb, which the API server falls back to; and
// two constrained policies of one impersonator add their actions up, for all of its targets
// ("alice only for pods, bob only for secrets" cannot be expressed for one impersonator).
import type { Grants, Subject } from './types.js';

export interface ConstraintConflict {
  /** The constrained policy whose constraint is affected. */
  policy: string;
  other: string;
  kind: 'LegacyBypass' | 'ActionsAddUp';
  impersonator: string;
  /** LegacyBypass: the shared targets (`User x`, `Group g`, `ServiceAccount ns/n`). */
  targets: string[];
}

const subjectKey = (s: Subject): string =>
  `${s.kind} ${s.namespace === undefined ? '' : `${s.namespace}/`}${s.name}`;

function targetsOf(g: Grants): { keys: Set<string>; anyUser: boolean } {
  return {
    anyUser: g.anyUser,
    keys: new Set([
      ...g.users.map((u) => `User ${u}`),
      ...g.groups.map((x) => `Group ${x}`),
      ...g.serviceAccounts.flatMap((sa) => sa.names.map((n) => `ServiceAccount ${sa.namespace}/${n}`)),
    ]),
  };
}

export function constraintConflicts(
  policies: readonly { name: string; grants: Grants }[],
): ConstraintConflict[] {
  const out: ConstraintConflict[] = [];
  for (const p of policies) {
    if (p.grants.constraint === undefined) continue;
    const mine = targetsOf(p.grants);
    for (const q of policies) {
      if (q === p || q.name === p.name) continue;
      for (const i of p.grants.impersonators) {
        if (!q.grants.impersonators.some((j) => subjectKey(j) === subjectKey(i))) continue;
        if (q.grants.constraint === undefined) {
          const theirs = targetsOf(q.grants);
          const shared = [...mine.keys].filter(
            (k) => theirs.keys.has(k) || (theirs.anyUser && k.startsWith('User ')),
          );
          if (shared.length > 0) {
            out.push({
              policy: p.name,
              other: q.name,
              kind: 'LegacyBypass',
              impersonator: subjectKey(i),
              targets: shared.sort(),
            });
          }
        } else if (
          JSON.stringify(q.grants.constraint.actions) !== JSON.stringify(p.grants.constraint.actions)
        ) {
          out.push({
            policy: p.name,
            other: q.name,
            kind: 'ActionsAddUp',
            impersonator: subjectKey(i),
            targets: [],
          });
        }
      }
    }
  }
  return out;
}
