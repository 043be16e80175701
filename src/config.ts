// Operator configuration: command-line flags and IMPOP_* environment variables, parsed and validated once
// (flag beats env beats default). A bad value names the flag, the env variable and the accepted form.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from './logger.js';

/** Where a server listens; `host` '' means every interface. */
export interface BindAddress {
  host: string;
  port: number;
}

export interface LeaderElectionConfig {
  enabled: boolean;
  leaseName: string;
  /** undefined: the namespace the operator runs in (in-cluster), else `default`. */
  namespace: string | undefined;
  /** undefined: POD_NAME, else hostname plus a random suffix. */
  identity: string | undefined;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export const CONSTRAINED_IMPERSONATION_SETTINGS = ['auto', 'enforced', 'unavailable'] as const;
export type ConstrainedImpersonationSetting = (typeof CONSTRAINED_IMPERSONATION_SETTINGS)[number];

export interface Config {
  /** undefined: KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfig: string | undefined;
  context: string | undefined;
  /** ClusterRoles a policy may never grant through impersonation. */
  deniedClusterRoles: readonly string[];
  /** `system:` users/groups a policy may let someone impersonate. */
  allowedSystemIdentities: readonly string[];
  /** Namespaces whose service accounts are never targets (the operator's own is added at start). */
  protectedNamespaces: readonly string[];
  /** The operator's opt-in to policies with targets.allowAnyUser. */
  allowAnyUser: boolean;
  /** Whether the API server enforces constrained impersonation: probed (auto) or given. */
  constrainedImpersonation: ConstrainedImpersonationSetting;
  /** How long a SubjectAccessReview verdict on a legacy grant that bypasses a constraint is reused. */
  accessReviewTtlMs: number;
  workers: number;
  /** 0: no periodic resync. */
  resyncPeriodMs: number;
  /** null: disabled. */
  metricsAddress: BindAddress | null;
  probeAddress: BindAddress | null;
  leaderElection: LeaderElectionConfig;
  logLevel: LogLevel;
  /** Start the embedded local control plane and run against it. */
  local: boolean;
  /** How long shutdown waits for in-flight reconciles. */
  shutdownTimeoutMs: number;
  /** How often a policy whose writes the API server refused for good (Stalled=Refused) is retried. */
  refusalRecheckMs: number;
  /**
   * TEST ONLY: delay delivery of watch events to the caches (RBAC kinds, policies), to reproduce a
   * lagging informer against a real API server. 0 in production.
   */
  testOnlyRbacWatchDelayMs: number;
  testOnlyPolicyWatchDelayMs: number;
  /** No confused deputy: provision a policy only if its stamped author could grant it themselves. */
  authorCheck: AuthorCheckConfig;
}

export interface AuthorCheckConfig {
  enabled: boolean;
  /** Authors (exact usernames) whose policies are provisioned without the check. */
  exemptUsers: readonly string[];
  /** How long a SubjectAccessReview answer is reused for the same author and attribute. */
  cacheTtlMs: number;
}

export type ParseResult = { kind: 'config'; config: Config } | { kind: 'help'; text: string };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}\nRun with --help for every setting.`);
  }
}

/** Identities no configuration may allow: they are cluster-admin by another name, or everyone. */
export const NEVER_ALLOWED_IDENTITIES: readonly string[] = ['system:masters', '*'];

const DURATION = /^(\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses Go-style durations (`250ms`, `30s`, `1m30s`, `2h`); a bare `0` is zero. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return Math.round(total);
}

const durationSchema = (opts: { min?: number; allowZero?: boolean } = {}) =>
  z
    .string()
    .transform((s, ctx) => {
      const ms = parseDuration(s.trim());
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: '' });
        return z.NEVER;
      }
      return ms;
    })
    .refine((ms) => (opts.allowZero && ms === 0) || ms >= (opts.min ?? 1), { message: '' });

const listSchema = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== ''),
);

const booleanSchema = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no']))
  .transform((s) => s === 'true' || s === '1' || s === 'yes');

const bindSchema = z.string().transform((s, ctx): BindAddress | null => {
  const t = s.trim();
  if (t === '0' || t === 'off') return null;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*):(\d{1,5})$/.exec(t);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    ctx.addIssue({ code: 'custom', message: '' });
    return z.NEVER;
  }
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
});

const dnsName = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/);
const optionalString = z
  .string()
  .transform((s) => s.trim())
  .transform((s) => (s === '' ? undefined : s));

interface Setting {
  key: string;
  flag: string;
  env: string;
  boolean?: boolean;
  default?: string;
  /** The accepted form, shown in errors and --help. */
  form: string;
  help: string;
  schema: z.ZodType<unknown, string>;
  /** Extra env variables consulted (in order) when neither flag nor IMPOP_ variable is set. */
  fallbackEnv?: string[];
}

const SETTINGS: readonly Setting[] = [
  {
    key: 'kubeconfig',
    flag: 'kubeconfig',
    env: 'IMPOP_KUBECONFIG',
    form: 'a path to a kubeconfig file',
    help: 'Kubeconfig to use. Default: KUBECONFIG, ~/.kube/config, else the in-cluster service account.',
    schema: optionalString,
  },
  {
    key: 'context',
    flag: 'context',
    env: 'IMPOP_CONTEXT',
    form: 'a context name from the kubeconfig',
    help: "Kubeconfig context. Default: the kubeconfig's current context.",
    schema: optionalString,
  },
  {
    key: 'deniedClusterRoles',
    flag: 'denied-cluster-roles',
    env: 'IMPOP_DENIED_CLUSTER_ROLES',
    default: 'cluster-admin',
    form: 'a comma-separated list of ClusterRole names (may be empty)',
    help: 'ClusterRoles a policy may never bind.',
    schema: listSchema.pipe(z.array(dnsName)),
  },
  {
    key: 'allowedSystemIdentities',
    flag: 'allowed-system-identities',
    env: 'IMPOP_ALLOWED_SYSTEM_IDENTITIES',
    default: 'system:authenticated',
    form: 'a comma-separated list of names starting with "system:" (never system:masters or *)',
    help: '`system:` users and groups a policy may allow to be impersonated.',
    schema: listSchema.pipe(
      z.array(
        z
          .string()
          .refine((s) => !NEVER_ALLOWED_IDENTITIES.includes(s), {
            message: 'system:masters and * are never allowed',
          })
          .refine((s) => s.startsWith('system:') && s.length > 'system:'.length, { message: '' }),
      ),
    ),
  },
  {
    key: 'protectedNamespaces',
    flag: 'protected-namespaces',
    env: 'IMPOP_PROTECTED_NAMESPACES',
    default: 'kube-system,kube-public,kube-node-lease',
    form: 'a comma-separated list of namespace names (may be empty)',
    help:
      "Namespaces whose service accounts are never impersonation targets (the operator's own namespace is " +
      'always added), and where ClusterRoles granting service-account impersonation or Secrets are never bound.',
    schema: listSchema.pipe(z.array(z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/))),
  },
  {
    key: 'allowAnyUser',
    flag: 'allow-any-user',
    env: 'IMPOP_ALLOW_ANY_USER',
    boolean: true,
    default: 'false',
    form: 'true or false',
    help:
      'Grant policies with targets.allowAnyUser (impersonate every user name, system: users included). ' +
      'Off: such policies are Stalled with reason AnyUserNotEnabled.',
    schema: booleanSchema,
  },
  {
    key: 'constrainedImpersonation',
    flag: 'constrained-impersonation',
    env: 'IMPOP_CONSTRAINED_IMPERSONATION',
    default: 'auto',
    form: CONSTRAINED_IMPERSONATION_SETTINGS.join(', '),
    help:
      'Whether the API server enforces constrained impersonation (policies with spec.allowedActions). auto: ' +
      'ask it (Kubernetes 1.36+ and feature gate ConstrainedImpersonation on; see kube/constrained-probe.ts). ' +
      'enforced / unavailable: override the detection. Where it is unavailable such policies are Stalled with ' +
      'reason ConstrainedImpersonationUnavailable and nothing is granted.',
    schema: z
      .string()
      .transform((s) => s.trim().toLowerCase())
      .pipe(z.enum(CONSTRAINED_IMPERSONATION_SETTINGS)),
  },
  {
    key: 'accessReviewTtlMs',
    flag: 'access-review-ttl',
    env: 'IMPOP_ACCESS_REVIEW_TTL',
    default: '10m',
    form: 'a duration such as 30s or 10m (at least 1s)',
    help:
      "How long the API server's answer to whether an impersonator of a constrained policy also holds the " +
      'legacy impersonate verb on a target (a SubjectAccessReview) is reused before it is asked again.',
    schema: durationSchema({ min: 1000 }),
  },
  {
    key: 'workers',
    flag: 'workers',
    env: 'IMPOP_WORKERS',
    default: '32',
    form: 'an integer from 1 to 64',
    help: 'Policies reconciled concurrently.',
    schema: z
      .string()
      .regex(/^\s*\d+\s*$/)
      .transform(Number)
      .pipe(z.number().int().min(1).max(64)),
  },
  {
    key: 'resyncPeriodMs',
    flag: 'resync-period',
    env: 'IMPOP_RESYNC_PERIOD',
    default: '10m',
    form: 'a duration such as 30s, 10m or 1h (at least 1s), or 0 to disable',
    help: 'How often every policy is reconciled even without a change.',
    schema: durationSchema({ min: 1000, allowZero: true }),
  },
  {
    key: 'metricsAddress',
    flag: 'metrics-bind-address',
    env: 'IMPOP_METRICS_BIND_ADDRESS',
    default: ':8080',
    form: '[host]:port, or 0 to disable',
    help: 'Where /metrics is served.',
    schema: bindSchema,
  },
  {
    key: 'probeAddress',
    flag: 'health-probe-bind-address',
    env: 'IMPOP_HEALTH_PROBE_BIND_ADDRESS',
    default: ':8081',
    form: '[host]:port, or 0 to disable',
    help: 'Where /healthz and /readyz are served (may equal the metrics address).',
    schema: bindSchema,
  },
  {
    key: 'leaderElect',
    flag: 'leader-elect',
    env: 'IMPOP_LEADER_ELECT',
    boolean: true,
    default: 'false',
    form: 'true or false',
    help: 'Elect a leader through a Lease so only one replica writes.',
    schema: booleanSchema,
  },
  {
    key: 'leaseName',
    flag: 'leader-election-lease-name',
    env: 'IMPOP_LEADER_ELECTION_LEASE_NAME',
    default: 'impersonation-operator',
    form: 'a Lease name (lower-case DNS subdomain)',
    help: 'Name of the leader-election Lease.',
    schema: dnsName,
  },
  {
    key: 'leaseNamespace',
    flag: 'leader-election-namespace',
    env: 'IMPOP_LEADER_ELECTION_NAMESPACE',
    fallbackEnv: ['POD_NAMESPACE'],
    form: 'a namespace name',
    help: "Namespace of the Lease. Default: POD_NAMESPACE, the in-cluster namespace, else 'default'.",
    schema: optionalString.pipe(dnsName.optional()),
  },
  {
    key: 'identity',
    flag: 'leader-election-identity',
    env: 'IMPOP_LEADER_ELECTION_IDENTITY',
    fallbackEnv: ['POD_NAME'],
    form: 'a unique name for this replica',
    help: 'Holder identity in the Lease. Default: POD_NAME, else hostname plus a random suffix.',
    schema: optionalString,
  },
  {
    key: 'leaseDurationMs',
    flag: 'leader-elect-lease-duration',
    env: 'IMPOP_LEADER_ELECT_LEASE_DURATION',
    default: '15s',
    form: 'a duration such as 15s (at least 1s)',
    help: 'How long standbys wait after the last renewal before taking over.',
    schema: durationSchema({ min: 1000 }),
  },
  {
    key: 'renewDeadlineMs',
    flag: 'leader-elect-renew-deadline',
    env: 'IMPOP_LEADER_ELECT_RENEW_DEADLINE',
    default: '10s',
    form: 'a duration such as 10s, shorter than the lease duration',
    help: 'How long the leader keeps trying to renew before it steps down.',
    schema: durationSchema(),
  },
  {
    key: 'retryPeriodMs',
    flag: 'leader-elect-retry-period',
    env: 'IMPOP_LEADER_ELECT_RETRY_PERIOD',
    default: '4s',
    form: 'a duration such as 4s, with renew deadline > 1.2 x retry period',
    help:
      'How often candidates try to acquire, and the leader renews (client-go uses 2s; 4s halves what an idle ' +
      'leader spends on renewals, and a released lease is taken over within ~5s).',
    schema: durationSchema(),
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    env: 'IMPOP_LOG_LEVEL',
    default: 'info',
    form: LOG_LEVELS.join(', '),
    help: 'Log level.',
    schema: z
      .string()
      .transform((s) => s.trim().toLowerCase())
      .pipe(z.enum(LOG_LEVELS as [LogLevel, ...LogLevel[]])),
  },
  {
    key: 'local',
    flag: 'local',
    env: 'IMPOP_LOCAL',
    boolean: true,
    default: 'false',
    form: 'true or false',
    help: 'Start the local control plane, install the CRD and examples, and run against it.',
    schema: booleanSchema,
  },
  {
    key: 'shutdownTimeoutMs',
    flag: 'shutdown-timeout',
    env: 'IMPOP_SHUTDOWN_TIMEOUT',
    default: '30s',
    form: 'a duration such as 30s',
    help: 'How long shutdown waits for in-flight reconciles.',
    schema: durationSchema({ allowZero: true }),
  },
  {
    key: 'refusalRecheckMs',
    flag: 'refusal-recheck-period',
    env: 'IMPOP_REFUSAL_RECHECK_PERIOD',
    default: '5m',
    form: 'a duration such as 5m (at least 1s)',
    help: 'How often a policy the API server refused for good (Stalled=Refused, e.g. a missing bind grant) is tried again.',
    schema: durationSchema({ min: 1000 }),
  },
  {
    key: 'testOnlyRbacWatchDelayMs',
    flag: 'test-only-rbac-watch-delay',
    env: 'IMPOP_TEST_ONLY_RBAC_WATCH_DELAY',
    default: '0',
    form: 'a duration such as 2s, or 0',
    help: 'TEST ONLY: delay each RBAC watch event by this long before the cache sees it (reproduces a lagging watch).',
    schema: durationSchema({ allowZero: true }),
  },
  {
    key: 'testOnlyPolicyWatchDelayMs',
    flag: 'test-only-policy-watch-delay',
    env: 'IMPOP_TEST_ONLY_POLICY_WATCH_DELAY',
    default: '0',
    form: 'a duration such as 2s, or 0',
    help: 'TEST ONLY: delay each ImpersonationPolicy watch event by this long before the cache sees it.',
    schema: durationSchema({ allowZero: true }),
  },
  {
    key: 'authorCheck',
    flag: 'author-check',
    env: 'IMPOP_AUTHOR_CHECK',
    boolean: true,
    default: 'true',
    form: 'true or false',
    help:
      "Provision a policy only if its author (the userInfo stamped by the chart's MutatingAdmissionPolicy) " +
      'may impersonate every target and bind every target ClusterRole; an unstamped policy gets nothing.',
    schema: booleanSchema,
  },
  {
    key: 'authorCheckExemptUsers',
    flag: 'author-check-exempt-users',
    env: 'IMPOP_AUTHOR_CHECK_EXEMPT_USERS',
    default: '',
    form: 'a comma-separated list of usernames (may be empty)',
    help: 'Authors whose policies skip the author check (e.g. a GitOps controller that is itself reviewed).',
    schema: listSchema,
  },
  {
    key: 'authorCheckCacheTtlMs',
    flag: 'author-check-cache-ttl',
    env: 'IMPOP_AUTHOR_CHECK_CACHE_TTL',
    default: '5m',
    form: 'a duration such as 30s or 5m, or 0 for no cache',
    help: 'How long one SubjectAccessReview answer is reused for the same author and attribute.',
    schema: durationSchema({ allowZero: true }),
  },
];

export function helpText(): string {
  const lines = [
    'Usage: impersonation-operator [flags]',
    '',
    'Reconciles ImpersonationPolicy resources into least-privilege impersonation RBAC.',
    'Every flag can also be set through the environment variable shown; a flag wins over its variable.',
    '',
  ];
  for (const s of SETTINGS) {
    const flag = s.boolean ? `--${s.flag}, --no-${s.flag}` : `--${s.flag} <value>`;
    lines.push(`  ${flag}`);
    lines.push(`      ${s.help}`);
    const env = [s.env, ...(s.fallbackEnv ?? [])].join(', ');
    lines.push(
      `      env ${env}; ${s.form}${s.default !== undefined ? `; default ${s.default || '""'}` : ''}`,
    );
  }
  lines.push('  -h, --help', '      Print this help and exit.');
  return lines.join('\n');
}

/**
 * Parses flags (`argv` without node and script) and environment. Throws `ConfigError` listing every
 * problem; returns `{ kind: 'help' }` for --help.
 */
export function parseConfig(argv: readonly string[], env: Record<string, string | undefined>): ParseResult {
  let flags: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(
      SETTINGS.map((s) => [s.flag, { type: s.boolean ? ('boolean' as const) : ('string' as const) }]),
    );
    const parsed = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
      allowNegative: true,
      strict: true,
    });
    flags = parsed.values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new ConfigError([`${(err as Error).message.split('\n')[0]} (see --help)`]);
  }
  if (flags.help) return { kind: 'help', text: helpText() };

  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const flag = flags[s.flag];
    let raw: string | undefined;
    let source: string;
    if (flag !== undefined) {
      raw = String(flag);
      source = `--${s.flag}`;
    } else if (env[s.env] !== undefined) {
      raw = env[s.env];
      source = s.env;
    } else {
      const fallback = s.fallbackEnv?.find((name) => env[name] !== undefined && env[name] !== '');
      raw = fallback ? env[fallback] : s.default;
      source = fallback ?? 'default';
    }
    if (raw === undefined) {
      values[s.key] = undefined;
      continue;
    }
    const result = s.schema.safeParse(raw);
    if (result.success) {
      values[s.key] = result.data;
    } else {
      const detail = result.error.issues.map((i) => i.message).find((m) => m !== '' && i18nFree(m));
      problems.push(
        `--${s.flag} (${s.env}): expected ${s.form}; got ${JSON.stringify(raw)} from ${source}` +
          (detail ? ` (${detail})` : ''),
      );
    }
  }

  if (problems.length === 0) {
    const lease = values.leaseDurationMs as number;
    const renew = values.renewDeadlineMs as number;
    const retry = values.retryPeriodMs as number;
    if (renew >= lease) {
      problems.push(
        '--leader-elect-renew-deadline (IMPOP_LEADER_ELECT_RENEW_DEADLINE): must be shorter than ' +
          '--leader-elect-lease-duration (IMPOP_LEADER_ELECT_LEASE_DURATION)',
      );
    } else if (renew <= 1.2 * retry) {
      problems.push(
        '--leader-elect-retry-period (IMPOP_LEADER_ELECT_RETRY_PERIOD): renew deadline must exceed 1.2 x retry period',
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const config: Config = {
    kubeconfig: values.kubeconfig as string | undefined,
    context: values.context as string | undefined,
    deniedClusterRoles: Object.freeze([...new Set(values.deniedClusterRoles as string[])]),
    allowedSystemIdentities: Object.freeze([...new Set(values.allowedSystemIdentities as string[])]),
    protectedNamespaces: Object.freeze([...new Set(values.protectedNamespaces as string[])]),
    allowAnyUser: values.allowAnyUser as boolean,
    constrainedImpersonation: values.constrainedImpersonation as ConstrainedImpersonationSetting,
    accessReviewTtlMs: values.accessReviewTtlMs as number,
    workers: values.workers as number,
    resyncPeriodMs: values.resyncPeriodMs as number,
    metricsAddress: values.metricsAddress as BindAddress | null,
    probeAddress: values.probeAddress as BindAddress | null,
    leaderElection: Object.freeze({
      enabled: values.leaderElect as boolean,
      leaseName: values.leaseName as string,
      namespace: values.leaseNamespace as string | undefined,
      identity: values.identity as string | undefined,
      leaseDurationMs: values.leaseDurationMs as number,
      renewDeadlineMs: values.renewDeadlineMs as number,
      retryPeriodMs: values.retryPeriodMs as number,
    }),
    logLevel: values.logLevel as LogLevel,
    local: values.local as boolean,
    shutdownTimeoutMs: values.shutdownTimeoutMs as number,
    refusalRecheckMs: values.refusalRecheckMs as number,
    testOnlyRbacWatchDelayMs: values.testOnlyRbacWatchDelayMs as number,
    testOnlyPolicyWatchDelayMs: values.testOnlyPolicyWatchDelayMs as number,
    authorCheck: Object.freeze({
      enabled: values.authorCheck as boolean,
      exemptUsers: Object.freeze([...new Set(values.authorCheckExemptUsers as string[])]),
      cacheTtlMs: values.authorCheckCacheTtlMs as number,
    }),
  };
  return { kind: 'config', config: Object.freeze(config) };
}

/** zod's generic messages ("Invalid input") add nothing to our accepted-form text; keep only our own. */
function i18nFree(message: string): boolean {
  return !/^Invalid|^Too (small|big)|^Expected/.test(message);
}
