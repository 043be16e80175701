// The ImpersonationPolicy schema: the single source of truth for the TypeScript types and the CRD.
// Every rule that the API server must enforce at admission is written once, as a CEL rule whose
// `check` is its exact TypeScript mirror (see `rule` below); scripts/gen-crd.ts turns the zod
// schema into the CRD and test fixtures prove both sides accept and reject the same policies.

import { z } from 'zod';
import { CASED_AFTER_GO_TABLES, goToLower } from '../core/normalize.js';
import { INVISIBLE, INVISIBLE_CEL, celRegexClass, jsClass } from './characters.js';
import { API_VERSION, KIND, MAX_POLICY_NAME_LENGTH } from './group.js';

/** RFC 1123 label: namespaces. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1123 subdomain: ServiceAccount and policy names. */
// `[.]` rather than an escaped dot: the pattern is also embedded in a CEL string literal.
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** RBAC object names are path segments: no '/' or '%' (and not '.' or '..', checked by a rule). */
export const RBAC_NAME = /^[^/%]+$/;
/** Keys of user extras: the API server lower-cases Impersonate-Extra-* header names. */
export const EXTRA_KEY = /^[a-z0-9]([-a-z0-9_./]*[a-z0-9])?$/;

/** Identities nobody may ever impersonate or name, whatever the operator's configuration says. */
export const FORBIDDEN_IDENTITIES: readonly string[] = ['system:masters', '*'];
/** Groups/users that stand for "everyone" and so must never be impersonators. */
export const EVERYONE_GROUPS: readonly string[] = [
  'system:authenticated',
  'system:unauthenticated',
  'system:serviceaccounts',
];
export const ANONYMOUS_USER = 'system:anonymous';
export const SERVICE_ACCOUNT_USER_PREFIX = 'system:serviceaccount:';
/** The prefix Kubernetes reserves for its own users and groups. */
export const SYSTEM_PREFIX = 'system:';

/**
 * A `system:` name in any ASCII letter case. RBAC compares names exactly, but a binding subject or
 * impersonator that merely differs in case from a system identity is refused too: nothing legitimate
 * needs one, and it makes look-alikes of built-in groups impossible.
 */
export function isSystemName(name: string): boolean {
  return lowerAscii(name).startsWith(SYSTEM_PREFIX);
}

/** CEL's `lowerAscii()`, so the zod mirror of a rule lower-cases exactly like the API server. */
export function lowerAscii(value: string): string {
  return value.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * `self` lower-cased as Go does (core/normalize.ts `goToLower`), as far as a comparison with an
 * ASCII string can tell: CEL has only `lowerAscii()`, and the only code points outside ASCII that Go
 * lower-cases INTO ASCII are U+0130 ('İ' -> 'i') and U+212A (KELVIN SIGN -> 'k'). Mapping those two
 * first gives, at every position, Go's character wherever Go's is ASCII and a non-ASCII one wherever
 * Go's is not, so equality with (or a prefix of) an ASCII string is judged as Go would. The zod
 * twin of a rule using this calls goToLower (test/unit/api/go-lower-cel.test.ts proves the claim).
 */
export const CEL_GO_LOWER = "self.replace('\\u0130', 'i').replace('\\u212a', 'k').lowerAscii()";

const CASED_AFTER = jsClass(CASED_AFTER_GO_TABLES);

const celList = (values: readonly string[]): string => `[${values.map((v) => `'${v}'`).join(', ')}]`;

/** A CEL rule for the CRD plus its TypeScript twin for zod. */
interface Rule<T> {
  rule: string;
  message: string;
  check: (value: T) => boolean;
}

/** Attaches a description and CEL rules (as `x-kubernetes-validations`) and their zod refinements. */
function documented<S extends z.ZodType>(
  schema: S,
  description: string,
  rules: readonly Rule<z.output<S>>[] = [],
  extra: Record<string, unknown> = {},
): S {
  let refined = schema;
  for (const r of rules) {
    refined = refined.refine((v) => r.check(v as z.output<S>), { message: r.message }) as S;
  }
  const validations = rules.map(({ rule, message }) => ({ rule, message }));
  return refined.meta({
    description,
    ...(validations.length > 0 ? { 'x-kubernetes-validations': validations } : {}),
    ...extra,
  }) as S;
}

const unique = (values: readonly string[]): boolean => new Set(values).size === values.length;

/** A list of distinct strings (`x-kubernetes-list-type: set`, which the API server enforces). */
function stringSet(item: z.ZodString, items: { min?: number; max: number }, description: string) {
  return documented(
    z
      .array(item)
      .min(items.min ?? 0)
      .max(items.max)
      .refine(unique, { message: 'Duplicate value: list entries must be unique' }),
    description,
    [],
    { 'x-kubernetes-list-type': 'set' },
  );
}

const notForbidden = (field: string, fix: string): Rule<string> => ({
  rule: `!(self in ${celList(FORBIDDEN_IDENTITIES)})`,
  message: `${field} must not be 'system:masters' or '*': these can never be impersonated; ${fix}`,
  check: (v) => !FORBIDDEN_IDENTITIES.includes(v),
});

/** Refuses the characters of INVISIBLE_RANGES (see api/characters.ts). */
const visible = (field: string): Rule<string> => ({
  rule: `!self.matches('${INVISIBLE_CEL}')`,
  message:
    `${field} must not contain control, format, private-use or invisible characters, or white space other ` +
    "than ' ' (such as U+200B, U+00A0 or bidi controls): they make look-alike names; retype it with visible characters",
  check: (v) => !INVISIBLE.test(v),
});

/** A free-form identity string: visible characters only, then the field's own rules. */
const identity = (field: string, maxLength: number, description: string, rules: Rule<string>[] = []) =>
  documented(z.string().min(1).max(maxLength), description, [visible(field), ...rules]);

// ---------------------------------------------------------------------------------------------
// spec.impersonators

export const IMPERSONATOR_KINDS = ['User', 'Group', 'ServiceAccount'] as const;

export const ImpersonatorSchema = documented(
  z.object({
    kind: documented(
      z.enum(IMPERSONATOR_KINDS),
      'Kind of subject: User (e.g. the CN of a client certificate), Group, or ServiceAccount.',
    ),
    name: identity(
      'impersonators[].name',
      253,
      'Name of the user, group or service account that may impersonate. For a ServiceAccount, ' +
        'the name only (not system:serviceaccount:...).',
      [notForbidden('impersonators[].name', "name the proxy's or runner's own identity")],
    ),
    namespace: documented(
      z.string().min(1).max(63).regex(DNS_LABEL),
      'Namespace of the ServiceAccount. Required for kind ServiceAccount; must be omitted for User and Group.',
    ).optional(),
  }),
  'An identity that may impersonate the targets: the shared identity of an access proxy or a CI/CD runner.',
  [
    {
      rule: "self.kind != 'ServiceAccount' || has(self.namespace)",
      message:
        "impersonators[].namespace is required for kind ServiceAccount: set it to the service account's namespace",
      check: (v) => v.kind !== 'ServiceAccount' || v.namespace !== undefined,
    },
    {
      rule: "self.kind == 'ServiceAccount' || !has(self.namespace)",
      message:
        'impersonators[].namespace is only valid for kind ServiceAccount: remove it from this User or Group',
      check: (v) => v.kind === 'ServiceAccount' || v.namespace === undefined,
    },
    {
      rule: `self.kind != 'ServiceAccount' || (size(self.name) <= 253 && self.name.matches('${DNS_SUBDOMAIN.source}'))`,
      message:
        "impersonators[].name of a ServiceAccount must be a DNS subdomain (lower-case letters, digits, '-' and '.'): " +
        'give the bare service account name, e.g. cicd-agent',
      check: (v) => v.kind !== 'ServiceAccount' || DNS_SUBDOMAIN.test(v.name),
    },
    {
      rule: `self.kind == 'ServiceAccount' || !self.name.lowerAscii().startsWith('${SYSTEM_PREFIX}')`,
      message:
        'impersonators[].name must not be a system: user or group (in any letter case): system: identities are the ' +
        "cluster's own components and built-in groups (system:nodes, system:serviceaccounts:<ns>, system:bootstrappers, " +
        '...), so such an impersonator stands for many clients or for the control plane; name the proxy or runner ' +
        'itself, and a service account as kind ServiceAccount',
      check: (v) => v.kind === 'ServiceAccount' || !isSystemName(v.name),
    },
    {
      rule:
        `!(self.kind == 'Group' && self.name in ${celList(EVERYONE_GROUPS)}) && ` +
        `!(self.kind == 'User' && self.name == '${ANONYMOUS_USER}')`,
      message:
        'impersonators[] must not be everyone (system:authenticated, system:unauthenticated, system:serviceaccounts ' +
        'or system:anonymous): that would let every client impersonate; name the specific proxy or runner identity',
      check: (v) =>
        !(v.kind === 'Group' && EVERYONE_GROUPS.includes(v.name)) &&
        !(v.kind === 'User' && v.name === ANONYMOUS_USER),
    },
  ],
);

// ---------------------------------------------------------------------------------------------
// spec.targets

export const ServiceAccountRefSchema = documented(
  z.object({
    namespace: documented(
      z.string().min(1).max(63).regex(DNS_LABEL),
      'Namespace of the service account. The grant is a Role and RoleBinding in this namespace only.',
    ),
    name: documented(z.string().min(1).max(253).regex(DNS_SUBDOMAIN), 'Name of the service account.'),
  }),
  'A service account the impersonators may become (kubectl --as=system:serviceaccount:<namespace>:<name>).',
);

export const UserExtraSchema = documented(
  z.object({
    key: documented(
      z.string().min(1).max(253).regex(EXTRA_KEY),
      'Extra key, lower case (the API server lower-cases Impersonate-Extra-<key> headers), e.g. scopes.',
    ),
    values: stringSet(
      identity('userExtras[].values', 256, 'A value the impersonators may assert for this key.', [
        {
          rule: "self != '*'",
          message: "userExtras[].values must not contain '*': list the literal values",
          check: (v) => v !== '*',
        },
      ]),
      { min: 1, max: 64 },
      'Values the impersonators may assert for this key (Impersonate-Extra-<key>). At least one.',
    ),
  }),
  'An extra user attribute the impersonators may assert, with the values they may assert for it.',
);

export const TargetsSchema = documented(
  z.object({
    users: stringSet(
      identity('targets.users', 320, 'A user name (typically an email address).', [
        notForbidden('targets.users', 'list real user names, or set targets.allowAnyUser'),
        {
          rule: `!self.startsWith('${SERVICE_ACCOUNT_USER_PREFIX}')`,
          message:
            'targets.users must not name a service account (system:serviceaccount:...): ' +
            'list it under targets.serviceAccounts, which grants it in its own namespace only',
          check: (v) => !v.startsWith(SERVICE_ACCOUNT_USER_PREFIX),
        },
      ]),
      { max: 1024 },
      'User names the impersonators may become (Impersonate-User). Names starting with system: also need ' +
        "the operator's allow list.",
    ).default([]),
    allowAnyUser: documented(
      z.boolean(),
      'DANGER: let the impersonators become ANY user name, including system: users that RBAC cannot exclude ' +
        '(for example system:kube-controller-manager). This is the only grant without resourceNames. ' +
        'Access proxies that impersonate every person need it; status.allowAnyUserInForce reports it.',
    ).default(false),
    serviceAccounts: documented(
      z
        .array(ServiceAccountRefSchema)
        .max(256)
        .refine((list) => unique(list.map((sa) => `${sa.namespace}/${sa.name}`)), {
          message: 'Duplicate value: serviceAccounts entries must be unique',
        }),
      'Service accounts the impersonators may become. Granted by a Role and RoleBinding in each ' +
        "service account's namespace, never cluster-wide.",
      [],
      { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['namespace', 'name'] },
    ).default([]),
    groups: stringSet(
      identity('targets.groups', 320, 'A group name.', [
        notForbidden('targets.groups', 'list the groups the impersonated users really belong to'),
      ]),
      { max: 256 },
      'Literal groups the impersonators may assert (Impersonate-Group), in addition to the groups derived ' +
        "from spec.roles. Names starting with system: also need the operator's allow list.",
    ).default([]),
    uids: stringSet(
      identity('targets.uids', 256, 'A user UID.', [
        {
          rule: "self != '*'",
          message: "targets.uids must not contain '*': list literal UIDs",
          check: (v) => v !== '*',
        },
      ]),
      { max: 256 },
      'UIDs the impersonators may assert (Impersonate-Uid).',
    ).default([]),
    userExtras: documented(
      z
        .array(UserExtraSchema)
        .max(32)
        .refine((list) => unique(list.map((e) => e.key)), {
          message: 'Duplicate value: userExtras keys must be unique',
        }),
      'Extra user attributes the impersonators may assert (Impersonate-Extra-<key>), key by key.',
      [],
      { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['key'] },
    ).default([]),
  }),
  'Whom the impersonators may become, and what they may assert about that identity.',
);

// ---------------------------------------------------------------------------------------------
// spec.roles

export const RoleSchema = documented(
  z.object({
    name: identity(
      'roles[].name',
      253,
      "The external role name exactly as the proxy knows it, e.g. 'SRE On Call'. It becomes a group name " +
        'through spec.groupNameNormalization.',
      [
        {
          rule: `!(${CEL_GO_LOWER} in ${celList(FORBIDDEN_IDENTITIES)})`,
          message: "roles[].name must not be 'system:masters' or '*' in any letter case: rename the role",
          check: (v) => !FORBIDDEN_IDENTITIES.includes(goToLower(v)),
        },
        {
          rule: `!self.matches('${celRegexClass(CASED_AFTER_GO_TABLES)}')`,
          message:
            "roles[].name must not contain letters that only Unicode versions newer than Go's tables lower-case " +
            '(U+1C89, U+A7CB..U+A7DC, Garay, Beria Erfe): proxies built with different Go versions would send ' +
            'different groups for it; rename the role',
          check: (v) => !CASED_AFTER.test(v),
        },
        {
          rule: `!self.lowerAscii().startsWith('${SYSTEM_PREFIX}')`,
          message:
            'roles[].name must not start with system: in any letter case: its group would be a binding subject, and ' +
            'system: groups (system:authenticated, system:serviceaccounts, system:nodes, ...) are held by clients ' +
            'nobody impersonates, so the binding would grant the ClusterRoles to them directly; rename the role',
          check: (v) => !isSystemName(v),
        },
      ],
    ),
    clusterRoles: stringSet(
      documented(z.string().min(1).max(253).regex(RBAC_NAME), 'Name of a ClusterRole.', [
        {
          rule: "self != '.' && self != '..'",
          message: "roles[].clusterRoles entries must be ClusterRole names, not '.' or '..'",
          check: (v) => v !== '.' && v !== '..',
        },
      ]),
      { min: 1, max: 16 },
      "ClusterRoles granted to the role's group. At least one. ClusterRoles on the operator's deny list " +
        '(default cluster-admin) are refused.',
    ),
    namespaces: stringSet(
      documented(z.string().min(1).max(63).regex(DNS_LABEL), 'A namespace.'),
      { max: 64 },
      'Namespaces where the ClusterRoles are granted through RoleBindings. Empty (the default): cluster-wide, ' +
        'through ClusterRoleBindings.',
    ).default([]),
  }),
  "An external role (for example an access proxy's role): its group is bound to ClusterRoles.",
);

export const GROUP_NAME_NORMALIZATIONS = ['AccessProxy', 'Lowercase', 'Verbatim'] as const;

// ---------------------------------------------------------------------------------------------
// spec.validFrom / spec.validUntil / spec.suspend / spec.groupPrefix (issue 12: lifetime, pause, group mapping)

/**
 * RFC 3339 to the second, with an explicit zone ('Z' or +hh:mm): the API server's `date-time` format
 * alone also takes zone-less local times and fractions, which zod would judge differently, so the
 * pattern is enforced too (crd.ts keeps it, see KEEP_PATTERN). The calendar (Feb 30) is checked by
 * the API server's `date-time` format and by `isCalendarDate` here.
 */
export const RFC3339_SECONDS =
  /^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$/;

/** A marker for crd.ts: keep `pattern` on this `date-time` string (it drops zod's own date-time regex). */
export const KEEP_PATTERN = 'x-impersonation-operator-keep-pattern';

/** Whether the date part of an RFC3339_SECONDS string exists (no Feb 30, Feb 29 only in leap years). */
export function isCalendarDate(value: string): boolean {
  const year = Number(value.slice(0, 4));
  const month = Number(value.slice(5, 7));
  const day = Number(value.slice(8, 10));
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  return day >= 1 && day <= days;
}

const timestampField = (description: string) =>
  documented(
    z
      .string()
      .min(20)
      .max(25)
      .regex(RFC3339_SECONDS, {
        message: "must be an RFC 3339 time to the second with a zone, e.g. '2026-12-24T18:00:00Z'",
      })
      .refine(isCalendarDate, { message: 'must be a date that exists (no February 30)' }),
    description,
    [],
    { format: 'date-time', [KEEP_PATTERN]: true },
  );

export const MAX_GROUP_PREFIX_LENGTH = 64;

const GroupPrefixSchema = identity(
  'groupPrefix',
  MAX_GROUP_PREFIX_LENGTH,
  "Prefix put before every role-derived group name, after normalization, as a proxy or the cluster's " +
    "authentication config does (for example 'sdm:' makes role 'SRE On Call' the group 'sdm:sre-on-call'). " +
    'The prefixed name is what the bindings name and what the impersonators may assert; collisions are judged ' +
    'on it. Literal targets.groups are not prefixed. Must not start with system: in any letter case.',
  [
    {
      rule: `!self.lowerAscii().startsWith('${SYSTEM_PREFIX}')`,
      message:
        'groupPrefix must not start with system: in any letter case: every role group would be a system: group ' +
        '(those are held by clients nobody impersonates); choose a prefix of your own, e.g. sdm:',
      check: (v) => !isSystemName(v),
    },
    {
      rule: `!self.matches('${celRegexClass(CASED_AFTER_GO_TABLES)}')`,
      message:
        "groupPrefix must not contain letters that only Unicode versions newer than Go's tables lower-case: " +
        'proxies built with different Go versions would disagree about such names; choose another prefix',
      check: (v) => !CASED_AFTER.test(v),
    },
  ],
);

/** The lifetime and group-mapping fields of the spec, kept in one block (merged into the spec below). */
const lifetimeFields = {
  validFrom: timestampField(
    'Start of the window in which the policy grants anything (RFC 3339, to the second, with a zone). Before ' +
      "it, nothing the policy grants exists. The operator's clock rules; it acts within a second of the time.",
  ).optional(),
  validUntil: timestampField(
    'End of the window (exclusive: at this second the grants are gone). After it, nothing the policy grants ' +
      'exists; the policy stays (status Expired) until someone deletes it. Must be after validFrom.',
  ).optional(),
  suspend: documented(
    z.boolean(),
    'Pause switch: true removes every grant of the policy and keeps the spec (status Suspended); false ' +
      'restores them.',
  ).default(false),
  groupPrefix: GroupPrefixSchema.optional(),
};

/** validFrom < validUntil, compared as times (offsets apply), in CEL and in zod. */
const WINDOW_RULE: Rule<{ validFrom?: string | undefined; validUntil?: string | undefined }> = {
  rule: '!has(self.validFrom) || !has(self.validUntil) || self.validFrom < self.validUntil',
  message: 'validFrom must be before validUntil: the window would be empty; fix one of the two times',
  check: (v) =>
    v.validFrom === undefined ||
    v.validUntil === undefined ||
    Date.parse(v.validFrom) < Date.parse(v.validUntil),
};

// ---------------------------------------------------------------------------------------------
// spec.allowedActions (constrained impersonation, KEP-5284)

/** A Kubernetes verb as RBAC names it: lower-case letters (no '*': see ActionSchema). */
export const ACTION_VERB = /^[a-z][a-zA-Z]*$/;
/** An API group as RBAC names it: '' (core), a DNS subdomain, or '*'. */
export const ACTION_API_GROUP = /^(|[*]|[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;
/** A resource, optionally with a subresource, either of them possibly '*': pods, deployments/scale, pods/*. */
export const ACTION_RESOURCE = /^([*]|[a-z0-9][-a-z0-9.]*)([/]([*]|[a-z0-9][-a-z0-9.]*))?$/;
/**
 * The key form constrained impersonation accepts for user extras: a DNS-subdomain prefix, '/', a
 * path (the API server's IsDomainPrefixedPath), all lower case. Anything else it refuses outright.
 * (The path's characters are already limited by EXTRA_KEY.)
 */
export const DOMAIN_PREFIXED_EXTRA_KEY =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*[/].+$/;

export const ActionSchema = documented(
  z.object({
    verbs: stringSet(
      documented(
        z.string().min(1).max(63).regex(ACTION_VERB),
        'A verb: get, list, watch, create, patch, ...',
        [
          {
            rule: "self != '*'",
            message:
              "allowedActions[].verbs must not contain '*': RBAC's '*' would also grant legacy, unconstrained " +
              'impersonation; list the verbs',
            check: (v) => v !== '*',
          },
        ],
      ),
      { min: 1, max: 16 },
      'The verbs the impersonators may use while acting as a target (granted as ' +
        'impersonate-on:<mode>:<verb>). At least one; never *.',
    ),
    apiGroups: stringSet(
      documented(
        z.string().max(253).regex(ACTION_API_GROUP),
        "An API group: '' for the core group (pods, secrets, ...), apps, batch, ..., or '*'.",
      ),
      { min: 1, max: 16 },
      "API groups of the resources. At least one; '' is the core group.",
    ),
    resources: stringSet(
      documented(
        z.string().min(1).max(253).regex(ACTION_RESOURCE),
        'A resource (plural, lower case), optionally with a subresource: deployments, pods/log, deployments/*.',
      ),
      { min: 1, max: 32 },
      'Resources the verbs apply to. At least one.',
    ),
    resourceNames: stringSet(
      documented(z.string().min(1).max(253).regex(RBAC_NAME), 'An object name.'),
      { max: 64 },
      'Only these objects. Empty (the default): every object of the resources.',
    ).default([]),
    namespaces: stringSet(
      documented(z.string().min(1).max(63).regex(DNS_LABEL), 'A namespace.'),
      { max: 64 },
      'Only in these namespaces (a Role and RoleBinding in each). Empty (the default): cluster-wide, ' +
        'cluster-scoped resources included (a ClusterRole and ClusterRoleBinding).',
    ).default([]),
  }),
  'Requests the impersonators may make while acting as a target. The target must itself be allowed the ' +
    "request too: the API server checks both (the impersonator's impersonate-on rule, then the target's own RBAC).",
);

/** The part of the spec that makes a policy constrained (see ImpersonationPolicySpecSchema). */
export const allowedActionsField = documented(
  z.array(ActionSchema).max(64),
  'Constrained impersonation (Kubernetes 1.36+, KEP-5284). When set, even to [], the policy is ' +
    'constrained: the impersonators may act as their targets ONLY for these requests (impersonate:user-info / ' +
    'impersonate:serviceaccount plus impersonate-on:<mode>:<verb> rules, never the unconstrained impersonate ' +
    'verb). [] allows no request at all. Unset: classic impersonation, as the target for everything the target ' +
    'may do. On a cluster that cannot enforce constrained impersonation the policy is Stalled and nothing is ' +
    'granted. Grants of one impersonator add up across policies and any other RBAC: an unconstrained grant to ' +
    'the same impersonator bypasses the constraint.',
).optional();

/** Spec-level rules of constrained policies (zod twins of CEL rules on the spec). */
export const constrainedSpecRules: Rule<{
  allowedActions?: unknown[] | undefined;
  targets: { userExtras: { key: string }[] };
}>[] = [
  {
    rule:
      '!has(self.allowedActions) || !has(self.targets) || !has(self.targets.userExtras) || ' +
      `self.targets.userExtras.all(e, e.key.matches('${DOMAIN_PREFIXED_EXTRA_KEY.source}'))`,
    message:
      'targets.userExtras[].key of a constrained policy (spec.allowedActions set) must be domain-prefixed, e.g. ' +
      'example.com/scopes: constrained impersonation refuses any other extra key; rename the key',
    check: (v) =>
      v.allowedActions === undefined ||
      v.targets.userExtras.every((e) => DOMAIN_PREFIXED_EXTRA_KEY.test(e.key)),
  },
];

// ---------------------------------------------------------------------------------------------
// spec

export const ImpersonationPolicySpecSchema = documented(
  z.object({
    impersonators: documented(
      z.array(ImpersonatorSchema).min(1).max(100),
      'Who may impersonate. At least one subject.',
    ),
    targets: TargetsSchema.prefault({}),
    roles: documented(
      z
        .array(RoleSchema)
        .max(128)
        .refine((list) => unique(list.map((r) => r.name)), {
          message: 'Duplicate value: roles[].name must be unique',
        }),
      'External roles whose groups the impersonators may assert, each bound to ClusterRoles. Role names are ' +
        'unique; names that differ but map to the same group are collisions: that group is not provisioned ' +
        'and status.collisions says why.',
      [],
      { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
    ).default([]),
    groupNameNormalization: documented(
      z.enum(GROUP_NAME_NORMALIZATIONS),
      "How role names become group names. AccessProxy (default): lower-case as a Go proxy's strings.ToLower " +
        "does (letter by letter: 'İnfra' -> infra), and each space becomes a hyphen, literally " +
        "('SRE On Call' -> sre-on-call). Lowercase: Go's lower-casing only, spaces kept ('SRE On Call' -> " +
        "'sre on call'). Verbatim: the role name is the group name. spec.groupPrefix is put before the result.",
    ).default('AccessProxy'),
    ...lifetimeFields,
    allowedActions: allowedActionsField,
  }),
  'Who may impersonate whom, and which external roles map to which ClusterRoles.',
  [WINDOW_RULE, ...constrainedSpecRules],
);

// ---------------------------------------------------------------------------------------------
// status

export const CONDITION_TYPES = ['Ready', 'Reconciling', 'Stalled', 'Active'] as const;

/** Where a policy stands in its lifetime (spec.validFrom, spec.validUntil, spec.suspend). */
export const LIFETIME_STATES = ['Active', 'NotYetValid', 'Expired', 'Suspended'] as const;

export const ConditionSchema = documented(
  z.object({
    type: documented(z.string().min(1).max(316), 'Condition type: Ready, Reconciling, Stalled or Active.'),
    status: documented(z.enum(['True', 'False', 'Unknown']), 'True, False or Unknown.'),
    observedGeneration: documented(
      z.int().min(0),
      'The metadata.generation this condition was computed from.',
      [],
      { format: 'int64' },
    ).optional(),
    lastTransitionTime: documented(z.iso.datetime(), 'When the condition last changed status.'),
    reason: documented(
      z
        .string()
        .min(1)
        .max(1024)
        .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/),
      'Machine-readable, CamelCase reason for the last transition.',
    ),
    message: documented(z.string().max(32768), 'Human-readable details.'),
  }),
  'A metav1.Condition.',
);

export const COLLISION_SCOPES = ['WithinPolicy', 'AcrossPolicies'] as const;

export const CollisionSchema = documented(
  z.object({
    group: documented(z.string(), 'The group name that several role names map to. It is not provisioned.'),
    scope: documented(
      z.enum(COLLISION_SCOPES),
      'WithinPolicy: several roles of this policy map to the group. AcrossPolicies: a differently named role ' +
        'of another policy maps to it too.',
    ),
    roles: documented(z.array(z.string()), "This policy's role names that map to the group."),
    otherPolicies: documented(
      z.array(
        documented(
          z.object({
            policy: documented(z.string(), 'Name of the other ImpersonationPolicy.'),
            role: documented(z.string(), 'Its role name that maps to the same group.'),
          }),
          'A role of another policy.',
        ),
      ),
      'For AcrossPolicies: the roles of other policies that map to the same group.',
    ).optional(),
  }),
  'Role names that map to one group. The group is held back (fail closed) until the names are made distinct.',
);

export const DENIAL_KINDS = [
  'Impersonator',
  'User',
  'Group',
  'ServiceAccount',
  'UID',
  'UserExtra',
  'ClusterRole',
  'AllowedAction',
] as const;

export const DenialSchema = documented(
  z.object({
    kind: documented(
      z.enum(DENIAL_KINDS),
      'What was refused: an Impersonator, a target User, Group, ServiceAccount (namespace/name), UID or ' +
        'UserExtra value, a ClusterRole, or an AllowedAction (named allowedActions[<index>]). A refused ' +
        "targets.allowAnyUser is kind User, name '*'.",
    ),
    name: documented(z.string(), 'The refused name (for UserExtra: key=value).'),
    role: documented(
      z.string(),
      'The role that produced the group or references the ClusterRole, if any.',
    ).optional(),
    reason: documented(z.string(), 'CamelCase reason, e.g. SystemIdentityNotAllowed or DeniedClusterRole.'),
    message: documented(z.string(), 'Why, and how to fix it.'),
  }),
  'Part of the spec that the operator refused; nothing is provisioned for it.',
);

export const RoleGroupSchema = documented(
  z.object({
    role: documented(z.string(), 'The external role name.'),
    group: documented(z.string(), 'The group it maps to.'),
    clusterRoles: documented(z.array(z.string()), 'The ClusterRoles bound to the group.'),
  }),
  'A role whose group is provisioned.',
);

export const InventoryEntrySchema = documented(
  z.object({
    kind: documented(z.string(), 'ClusterRole, ClusterRoleBinding, Role or RoleBinding.'),
    name: documented(z.string(), 'Object name.'),
    namespace: documented(z.string(), 'Namespace, for Role and RoleBinding.').optional(),
  }),
  'An RBAC object the operator generated for this policy.',
);

export const ConstraintBypassSchema = documented(
  z.object({
    impersonator: documented(
      z.string(),
      'The impersonator: User <name>, Group <name> or ServiceAccount <ns>/<name>.',
    ),
    target: documented(z.string(), 'The target it may also impersonate without constraint.'),
    grantedBy: documented(
      z.string(),
      'What grants it, as the API server\'s authorizer says (e.g. ClusterRoleBinding "x" of ClusterRole "y").',
    ),
  }),
  'An unconstrained (legacy) impersonate grant of one of the impersonators on one of the targets: the API ' +
    'server falls back to it, so for this pair the constraint is bypassed.',
);

export const ImpersonationPolicyStatusSchema = documented(
  z.object({
    observedGeneration: documented(z.int().min(0), 'The metadata.generation the status describes.', [], {
      format: 'int64',
    }).optional(),
    conditions: documented(
      z.array(ConditionSchema),
      'Ready, Reconciling and Stalled, with kstatus semantics: Reconciling and Stalled are never both True.',
      [],
      { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] },
    ).optional(),
    allowAnyUserInForce: documented(
      z.boolean(),
      'True when the impersonators may become ANY user (spec.targets.allowAnyUser is provisioned).',
    ).optional(),
    roleCount: documented(z.int().min(0), 'Number of roles in the spec.').optional(),
    groupCount: documented(z.int().min(0), 'Number of role-derived groups provisioned.').optional(),
    collisionCount: documented(z.int().min(0), 'Number of groups held back by collisions.').optional(),
    roleGroups: documented(z.array(RoleGroupSchema), 'The role -> group mapping in force.').optional(),
    collisions: documented(
      z.array(CollisionSchema),
      'Groups held back because several role names map to them.',
    ).optional(),
    denied: documented(z.array(DenialSchema), 'What the operator refused, and why.').optional(),
    inventory: documented(
      z.array(InventoryEntrySchema),
      'The RBAC objects generated for this policy.',
    ).optional(),
    lifetime: documented(
      z.enum(LIFETIME_STATES),
      'Active: inside the window (spec.validFrom, spec.validUntil) and not suspended, so the grants exist. ' +
        'NotYetValid: before validFrom. Expired: at or after validUntil. Suspended: spec.suspend is true. ' +
        'Outside Active nothing the policy grants exists; that is the desired state, not a failure.',
    ).optional(),
    nextLifetimeChange: documented(
      z.iso.datetime(),
      "When the lifetime changes next by itself (validFrom or validUntil, by the operator's clock); absent when " +
        'it never does.',
    ).optional(),
    constraintBypasses: documented(
      z.array(ConstraintBypassSchema),
      'Constrained policies only: legacy impersonate grants (any RBAC in the cluster) that let an impersonator ' +
        'become a target without the constraint. Remove them, or the constraint means nothing for that pair.',
    ).optional(),
  }),
  'What the operator provisioned, what it held back and why.',
);

// ---------------------------------------------------------------------------------------------
// the whole object (metadata is checked here only as far as the API server checks it)

export const PolicyMetadataSchema = z.looseObject({
  name: z.string().min(1).max(MAX_POLICY_NAME_LENGTH).regex(DNS_SUBDOMAIN),
  uid: z.string().optional(),
  generation: z.int().optional(),
});

/** Root-level CEL rules (they may read metadata.name). */
export const ROOT_VALIDATIONS = [
  {
    rule: `size(self.metadata.name) <= ${MAX_POLICY_NAME_LENGTH}`,
    message: `metadata.name must be at most ${MAX_POLICY_NAME_LENGTH} characters: it is used as a label value on the generated RBAC; choose a shorter name`,
  },
];

export const ImpersonationPolicySchema = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: PolicyMetadataSchema,
  spec: ImpersonationPolicySpecSchema,
  status: ImpersonationPolicyStatusSchema.optional(),
});

export type Impersonator = z.output<typeof ImpersonatorSchema>;
export type ImpersonatorKind = Impersonator['kind'];
export type ServiceAccountRef = z.output<typeof ServiceAccountRefSchema>;
export type UserExtra = z.output<typeof UserExtraSchema>;
export type Targets = z.output<typeof TargetsSchema>;
export type PolicyRole = z.output<typeof RoleSchema>;
export type AllowedAction = z.output<typeof ActionSchema>;
export type GroupNameNormalization = (typeof GROUP_NAME_NORMALIZATIONS)[number];
/** A parsed spec: every default filled in. */
export type ImpersonationPolicySpec = z.output<typeof ImpersonationPolicySpecSchema>;
/** A spec as a user may write it (defaults optional). */
export type ImpersonationPolicySpecInput = z.input<typeof ImpersonationPolicySpecSchema>;
export type Condition = z.output<typeof ConditionSchema>;
export type ConditionType = (typeof CONDITION_TYPES)[number];
export type LifetimeState = (typeof LIFETIME_STATES)[number];
export type Collision = z.output<typeof CollisionSchema>;
export type CollisionScope = (typeof COLLISION_SCOPES)[number];
export type Denial = z.output<typeof DenialSchema>;
export type DenialKind = (typeof DENIAL_KINDS)[number];
export type RoleGroup = z.output<typeof RoleGroupSchema>;
export type InventoryEntry = z.output<typeof InventoryEntrySchema>;
export type ConstraintBypass = z.output<typeof ConstraintBypassSchema>;
export type ImpersonationPolicyStatus = z.output<typeof ImpersonationPolicyStatusSchema>;
export type ImpersonationPolicy = z.output<typeof ImpersonationPolicySchema>;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string };

/** Human-readable zod issues: `spec.roles[1].name: message; ...`. */
export function formatIssues(error: z.ZodError, prefix = ''): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, key) =>
          typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key),
        prefix,
      );
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** Parses a spec read from the API server (defaults filled in). */
export function parsePolicySpec(spec: unknown): ParseResult<ImpersonationPolicySpec> {
  const result = ImpersonationPolicySpecSchema.safeParse(spec);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, message: formatIssues(result.error, 'spec') };
}

/** Parses a whole ImpersonationPolicy object (as the API server would admit it). */
export function parsePolicy(object: unknown): ParseResult<ImpersonationPolicy> {
  const result = ImpersonationPolicySchema.safeParse(object);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, message: formatIssues(result.error) };
}
