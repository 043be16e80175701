// Adapter from a set of policy files to the operator's pure core: every policy is decided with the
// others of the set as its peers (cross-policy collisions), exactly as the operator decides it
// with the policies in the cluster. Nothing here re-decides anything.
import {
  decidePolicy,
  desiredRbac,
  policyLifetime,
  type Lifetime,
  type ClusterFacts,
  type CoreConfig,
  type PolicyDecisions,
  type RbacObject,
} from '../core/index.js';
import type { LoadedPolicy } from './policy-files.js';

export interface DecidedPolicy {
  loaded: LoadedPolicy;
  name: string;
  /** The uid used for ownerReferences; undefined when neither the file nor --owner-uid gave one. */
  uid: string | undefined;
  decisions: PolicyDecisions;
  /** The objects the operator applies while the policy is in force, in its order (kind, namespace, name). */
  objects: RbacObject[];
  /** Where the policy stands at the time given to decideAll; absent when no time was given. */
  lifetime?: Lifetime;
}

/** A stand-in uid for the core when the real one is unknown; its ownerReferences are then dropped. */
const UNKNOWN_UID = '00000000-0000-0000-0000-000000000000';

export function decideAll(
  policies: readonly LoadedPolicy[],
  config: CoreConfig,
  ownerUids: ReadonlyMap<string, string> = new Map(),
  facts: ClusterFacts = {},
  at?: Date,
): DecidedPolicy[] {
  return policies.map((loaded) => {
    const { metadata, spec } = loaded.policy;
    const name = metadata.name;
    const uid = ownerUids.get(name) ?? metadata.uid;
    // Peers: every other document of the set. The core ignores peers with the policy's own name.
    const peers = policies
      .filter((p) => p !== loaded)
      .map((p) => ({ metadata: { name: p.policy.metadata.name }, spec: p.policy.spec }));
    const decisions = decidePolicy(
      { metadata: { name, uid: uid ?? UNKNOWN_UID }, spec },
      peers,
      config,
      facts,
    );
    const objects = desiredRbac({ name, uid: uid ?? UNKNOWN_UID }, decisions.grants);
    // Decisions and objects are those of the policy in force (so check reports what it would refuse
    // whenever it is); `lifetime` says whether it is in force at `at` (render applies nothing if not).
    return {
      loaded,
      name,
      uid,
      decisions,
      objects,
      ...(at === undefined ? {} : { lifetime: policyLifetime(spec, at) }),
    };
  });
}

/**
 * The object as printed: without ownerReferences when the policy's uid is unknown (an owner
 * reference to a uid that does not exist makes the garbage collector delete the object).
 */
export function printable(object: RbacObject, uid: string | undefined): Record<string, unknown> {
  const { name, namespace, labels, annotations, ownerReferences } = object.metadata;
  // kubectl's order (name, namespace, labels, annotations, ownerReferences) reads best in a review.
  // The ownership record (annotation) names the uid too: without it, it is omitted with the owner.
  const metadata = {
    name,
    ...(namespace === undefined ? {} : { namespace }),
    labels,
    ...(uid === undefined ? {} : { annotations, ownerReferences }),
  };
  return { ...object, metadata };
}
