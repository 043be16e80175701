// Sets of names by key, for indexes where most keys name one thing.

/**
 * key -> names, where most keys have one name (a group derived by one policy, the one ClusterRole
 * of a policy): a lone name is stored as itself, a Set only from the second one on (a one-entry Set
 * costs about 200 bytes; at 10,000 policies the indexes held 10 MB of them).
 */
export class NameSets {
  private readonly map = new Map<string, string | Set<string>>();

  add(key: string, name: string): void {
    const cur = this.map.get(key);
    if (cur === undefined) this.map.set(key, name);
    else if (typeof cur === 'string') {
      if (cur !== name) this.map.set(key, new Set([cur, name]));
    } else cur.add(name);
  }

  delete(key: string, name: string): void {
    const cur = this.map.get(key);
    if (cur === name) this.map.delete(key);
    else if (typeof cur === 'object') {
      cur.delete(name);
      if (cur.size === 1) this.map.set(key, cur.values().next().value!);
    }
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  get(key: string): Iterable<string> {
    const cur = this.map.get(key);
    return cur === undefined ? [] : typeof cur === 'string' ? [cur] : cur;
  }
}
