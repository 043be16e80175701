// How external role names become Kubernetes group names.

import type { GroupNameNormalization } from '../api/index.js';

/**
 * AccessProxy applies the access proxy's rule literally: lower-case, and each space becomes a
 * hyphen (so "a  b" -> "a--b"; nothing is trimmed or collapsed). Verbatim keeps the name.
 * Both are idempotent.
 */
export function normalizeRoleName(name: string, mode: GroupNameNormalization = 'AccessProxy'): string {
  return mode === 'Verbatim' ? name : name.toLowerCase().replaceAll(' ', '-');
}
