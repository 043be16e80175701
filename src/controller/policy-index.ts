// Which policies derive which groups, kept current from the policy informer. A reconcile reads its
// cross-policy peers from here (only the policies sharing a group, not all N), and a change of a
// policy's derived groups names the peers whose collisions may have appeared or cleared.
import {
  AUTHOR_ANNOTATION,
  parsePolicySpec,
  type ImpersonationPolicySpec,
  type ParseResult,
} from '../api/index.js';
import { derivedGroups, type PeerPolicy } from '../core/index.js';
import { NameSets } from '../kube/name-sets.js';
import type { ReadonlyStore } from '../kube/store.js';
import type { KubeObject, ReadonlyDeep } from '../kube/types.js';

export interface PolicyObject extends KubeObject {
  spec?: unknown;
  status?: unknown;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** How many recent parses are kept: an informer event's parse is usually reused by its reconcile. */
const PARSE_MEMO = 512;

export class PolicyIndex {
  /**
   * Cached objects are immutable snapshots, so a parse can be memoized on the object itself; only
   * the most recent ones are (a parse of every policy would be a second copy of every spec).
   */
  private readonly parsed = new Map<object, ParseResult<ImpersonationPolicySpec>>();
  private readonly groupsOf = new Map<string, readonly string[]>();
  private readonly byGroup = new NameSets();
  /** Target ClusterRole -> policies binding it: a change of its rules may change their verdict. */
  private readonly byClusterRole = new NameSets();
  private readonly clusterRolesOf = new Map<string, readonly string[]>();
  private readonly versionOf = new Map<string, string>();

  /**
   * `peersOnNewVersion` (the author check is on): a new generation or author stamp of a policy also
   * names the peers sharing its groups, as its verdict (and so whether it collides) may have changed.
   */
  constructor(
    private readonly policies: ReadonlyStore<PolicyObject>,
    private readonly opts: { peersOnNewVersion?: boolean } = {},
  ) {}

  parse(policy: ReadonlyDeep<PolicyObject>): ParseResult<ImpersonationPolicySpec> {
    let result = this.parsed.get(policy);
    if (result) return result;
    result = parsePolicySpec(policy.spec);
    if (this.parsed.size >= PARSE_MEMO) this.parsed.delete(this.parsed.keys().next().value!);
    this.parsed.set(policy, result);
    return result;
  }

  private groupsFor(policy: ReadonlyDeep<PolicyObject> | undefined): readonly string[] {
    if (!policy || policy.metadata?.deletionTimestamp) return [];
    const spec = this.parse(policy);
    return spec.ok ? derivedGroups(spec.value) : [];
  }

  /**
   * Records the current state of policy `name` (undefined: deleted) and returns the other policies
   * that share a group it gained or lost: their cross-policy collisions may have changed.
   */
  update(name: string, policy: ReadonlyDeep<PolicyObject> | undefined): string[] {
    this.updateClusterRoles(name, policy);
    const before = this.groupsOf.get(name) ?? [];
    const after = this.groupsFor(policy);
    // A new generation or author stamp can change whether the policy passes the author check, and so
    // whether it collides with its peers at all (a refused policy holds nothing back): tell them.
    const version = policy
      ? `${policy.metadata?.generation ?? 0}/${policy.metadata?.annotations?.[AUTHOR_ANNOTATION] ?? ''}`
      : '';
    const versionChanged = (this.versionOf.get(name) ?? '') !== version;
    if (version === '') this.versionOf.delete(name);
    else this.versionOf.set(name, version);
    if (before.length === after.length && before.every((g, i) => g === after[i])) {
      if (!this.opts.peersOnNewVersion || !versionChanged || before.length === 0) return [];
      const peers = new Set<string>();
      for (const g of after) for (const peer of this.byGroup.get(g)) if (peer !== name) peers.add(peer);
      return [...peers].sort(byString);
    }
    const changed = new Set([
      ...before.filter((g) => !after.includes(g)),
      ...after.filter((g) => !before.includes(g)),
    ]);
    for (const g of before) this.byGroup.delete(g, name);
    for (const g of after) this.byGroup.add(g, name);
    if (after.length > 0) this.groupsOf.set(name, after);
    else this.groupsOf.delete(name);
    const affected = new Set<string>();
    for (const g of changed) for (const peer of this.byGroup.get(g)) if (peer !== name) affected.add(peer);
    return [...affected].sort(byString);
  }

  private updateClusterRoles(name: string, policy: ReadonlyDeep<PolicyObject> | undefined): void {
    for (const cr of this.clusterRolesOf.get(name) ?? []) this.byClusterRole.delete(cr, name);
    const spec = policy && !policy.metadata?.deletionTimestamp ? this.parse(policy) : undefined;
    const after = spec?.ok ? [...new Set(spec.value.roles.flatMap((r) => r.clusterRoles))] : [];
    for (const cr of after) this.byClusterRole.add(cr, name);
    if (after.length > 0) this.clusterRolesOf.set(name, after);
    else this.clusterRolesOf.delete(name);
  }

  /** The policies whose roles bind this ClusterRole. */
  bindersOf(clusterRole: string): string[] {
    return [...this.byClusterRole.get(clusterRole)].sort(byString);
  }

  /** The other live policies deriving any of `groups`, parsed: the peers a collision check needs. */
  peersOf(name: string, groups: readonly string[]): PeerPolicy[] {
    const names = new Set<string>();
    for (const g of groups) for (const peer of this.byGroup.get(g)) if (peer !== name) names.add(peer);
    const peers: PeerPolicy[] = [];
    for (const peerName of [...names].sort(byString)) {
      const peer = this.policies.get(peerName);
      if (!peer || peer.metadata?.deletionTimestamp) continue;
      const spec = this.parse(peer);
      if (spec.ok) peers.push({ metadata: { name: peerName }, spec: spec.value });
    }
    return peers;
  }
}
