// Public surface of the ImpersonationPolicy API: group/version/kind, label keys, schemas and types.
export * from './group.js';
export * from './policy.js';
export { impersonationPolicyCrd, structuralSchema } from './crd.js';
export { crdPath, renderCrd } from './crd-yaml.js';
