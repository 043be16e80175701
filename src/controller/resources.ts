// Where ImpersonationPolicies live on the API server.
import { GROUP, KIND, PLURAL, VERSION } from '../api/index.js';
import type { ResourceRef } from '../kube/resources.js';

export const IMPERSONATION_POLICIES: ResourceRef = {
  group: GROUP,
  version: VERSION,
  plural: PLURAL,
  kind: KIND,
  namespaced: false,
};
