// Builds the CustomResourceDefinition from the zod schemas: zod -> JSON Schema (OpenAPI 3.0 flavour)
// -> a structural openAPIV3Schema as the API server requires it.

import { z } from 'zod';
import {
  API_VERSION,
  CATEGORIES,
  CRD_NAME,
  GROUP,
  KIND,
  LIST_KIND,
  PLURAL,
  SHORT_NAMES,
  SINGULAR,
  VERSION,
} from './group.js';
import {
  ImpersonationPolicySpecSchema,
  ImpersonationPolicyStatusSchema,
  KEEP_PATTERN,
  ROOT_VALIDATIONS,
} from './policy.js';

export type JsonSchema = { [key: string]: unknown };

const SAFE_INTEGER_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);
/** JSON Schema keywords that structural schemas do not allow or that we never emit. */
const UNSUPPORTED = [
  '$ref',
  '$defs',
  'definitions',
  'anyOf',
  'oneOf',
  'allOf',
  'not',
  'const',
  'propertyNames',
  'nullable',
];
/** Key order in the YAML: what a reader wants first. */
const KEY_ORDER = [
  'description',
  'type',
  'format',
  'enum',
  'default',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'maxProperties',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'items',
  'additionalProperties',
  'required',
  'properties',
  'x-kubernetes-validations',
];

function orderKeys(schema: JsonSchema): JsonSchema {
  const keys = Object.keys(schema).sort((a, b) => {
    const ia = KEY_ORDER.indexOf(a);
    const ib = KEY_ORDER.indexOf(b);
    return (
      (ia === -1 ? KEY_ORDER.length : ia) - (ib === -1 ? KEY_ORDER.length : ib) ||
      (a < b ? -1 : a > b ? 1 : 0)
    );
  });
  return Object.fromEntries(keys.map((k) => [k, schema[k]]));
}

/**
 * Rewrites one JSON Schema node (recursively) into a structural schema node: `type` everywhere,
 * no `additionalProperties: false`, no `$schema`/`$ref`, defaults only on scalars (the API server
 * would otherwise persist empty lists into every object), no regex on date-times.
 */
export function structuralSchema(node: JsonSchema, path = ''): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema' || key === 'id' || key === '$id' || key === 'title') continue;
    if (UNSUPPORTED.includes(key))
      throw new Error(`${path || '<root>'}: '${key}' cannot be expressed in a structural schema`);
    if (key === 'additionalProperties') {
      if (value === false || value === true) continue;
      out[key] = structuralSchema(value as JsonSchema, `${path}[*]`);
    } else if (key === 'properties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Record<string, JsonSchema>).map(([name, child]) => [
          name,
          structuralSchema(child, path ? `${path}.${name}` : name),
        ]),
      );
    } else if (key === 'items') {
      out[key] = structuralSchema(value as JsonSchema, `${path}[]`);
    } else if ((key === 'minimum' || key === 'maximum') && SAFE_INTEGER_BOUNDS.has(value as number)) {
      continue;
    } else if ((key === 'minItems' || key === 'minLength') && value === 0) {
      continue;
    } else {
      out[key] = value;
    }
  }
  // zod's own date-time regex is dropped (the format says it); a field marked KEEP_PATTERN keeps its own.
  if (out.format === 'date-time' && out[KEEP_PATTERN] !== true) delete out.pattern;
  delete out[KEEP_PATTERN];
  if ('default' in out && (out.type === 'array' || out.type === 'object')) delete out.default;
  if (typeof out.type !== 'string') throw new Error(`${path || '<root>'}: every node needs a single 'type'`);
  if (out.type === 'object' && out.properties !== undefined && out.additionalProperties !== undefined) {
    throw new Error(`${path}: an object has either properties or additionalProperties`);
  }
  if (out.description === undefined && path !== '' && !path.endsWith('[]'))
    throw new Error(`${path}: every field needs a description`);
  return orderKeys(out);
}

function toStructural(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'input',
    reused: 'inline',
    unrepresentable: 'throw',
  });
  return structuralSchema(json as JsonSchema);
}

const readyColumn = '.status.conditions[?(@.type=="Ready")]';

/** The CRD object (apiextensions.k8s.io/v1), deterministic. */
export function impersonationPolicyCrd(): Record<string, unknown> {
  const spec = toStructural(ImpersonationPolicySpecSchema);
  const status = toStructural(ImpersonationPolicyStatusSchema);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: {
        'app.kubernetes.io/name': 'impersonation-operator',
        'app.kubernetes.io/part-of': 'impersonation-operator',
      },
    },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: {
        kind: KIND,
        listKind: LIST_KIND,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: [...SHORT_NAMES],
        categories: [...CATEGORIES],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            {
              name: 'Ready',
              type: 'string',
              jsonPath: `${readyColumn}.status`,
              description: 'Whether everything the policy asks for is provisioned.',
            },
            {
              name: 'Reason',
              type: 'string',
              jsonPath: `${readyColumn}.reason`,
              priority: 1,
              description: 'Reason of the Ready condition.',
            },
            {
              name: 'Roles',
              type: 'integer',
              jsonPath: '.status.roleCount',
              description: 'Roles in the spec.',
            },
            {
              name: 'Groups',
              type: 'integer',
              jsonPath: '.status.groupCount',
              description: 'Role-derived groups provisioned.',
            },
            {
              name: 'Collisions',
              type: 'integer',
              jsonPath: '.status.collisionCount',
              description: 'Groups held back by role-name collisions.',
            },
            {
              name: 'Any-User',
              type: 'boolean',
              jsonPath: '.status.allowAnyUserInForce',
              description: 'The impersonators may become ANY user.',
            },
            {
              name: 'Lifetime',
              type: 'string',
              jsonPath: '.status.lifetime',
              description: 'Active, NotYetValid, Expired or Suspended (spec.validFrom, validUntil, suspend).',
            },
            {
              name: 'Next-Change',
              type: 'string',
              jsonPath: '.status.nextLifetimeChange',
              description: 'When the lifetime changes next by itself.',
            },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
            {
              name: 'Message',
              type: 'string',
              jsonPath: `${readyColumn}.message`,
              priority: 1,
              description: 'Message of the Ready condition.',
            },
          ],
          schema: {
            openAPIV3Schema: {
              description:
                `ImpersonationPolicy (${API_VERSION}) lets named identities impersonate named users, groups and ` +
                'service accounts, and maps external role names to groups bound to ClusterRoles. The operator turns ' +
                'it into least-privilege RBAC.',
              type: 'object',
              required: ['spec'],
              properties: {
                apiVersion: { description: 'APIVersion of this object.', type: 'string' },
                kind: { description: 'Kind of this object.', type: 'string' },
                metadata: { type: 'object' },
                spec,
                // A policy the operator has not reconciled yet reads back with observedGeneration 0, so
                // kstatus (Flux) sees it as in progress rather than Current (its verdict for no status).
                status: { ...status, default: { observedGeneration: 0 } },
              },
              'x-kubernetes-validations': ROOT_VALIDATIONS,
            },
          },
        },
      ],
    },
  };
}
