// NameSets stores a lone name as itself: whatever the adds and deletes, it answers as a Map of Sets.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { NameSets } from '../../../src/kube/name-sets.js';

describe('NameSets', () => {
  it('answers like a Map of Sets for any sequence of adds and deletes', () => {
    const key = fc.constantFrom('g1', 'g2', 'g3');
    const name = fc.constantFrom('a', 'b', 'c', 'd');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), key, name), { maxLength: 60 }), (ops) => {
        const sets = new NameSets();
        const model = new Map<string, Set<string>>();
        for (const [add, k, n] of ops) {
          if (add) {
            sets.add(k, n);
            model.set(k, (model.get(k) ?? new Set()).add(n));
          } else {
            sets.delete(k, n);
            model.get(k)?.delete(n);
            if (model.get(k)?.size === 0) model.delete(k);
          }
          for (const g of ['g1', 'g2', 'g3']) {
            expect([...sets.get(g)].sort()).toEqual([...(model.get(g) ?? [])].sort());
            expect(sets.has(g)).toBe(model.has(g));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
