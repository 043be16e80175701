import { describe, expect, it } from '@jest/globals';
import { ConfigError, parseConfig, parseDuration, type Config } from '../../../src/config.js';

function config(argv: string[] = [], env: Record<string, string | undefined> = {}): Config {
  const result = parseConfig(argv, env);
  if (result.kind !== 'config') throw new Error('expected a config');
  return result.config;
}

function problems(argv: string[], env: Record<string, string | undefined> = {}): string[] {
  try {
    parseConfig(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('has safe defaults', () => {
    expect(config()).toEqual({
      kubeconfig: undefined,
      context: undefined,
      deniedClusterRoles: ['cluster-admin'],
      allowedSystemIdentities: ['system:authenticated'],
      protectedNamespaces: ['kube-system', 'kube-public', 'kube-node-lease'],
      allowAnyUser: false,
      constrainedImpersonation: 'auto',
      accessReviewTtlMs: 600_000,
      workers: 32,
      resyncPeriodMs: 600_000,
      metricsAddress: { host: '', port: 8080 },
      probeAddress: { host: '', port: 8081 },
      leaderElection: {
        enabled: false,
        leaseName: 'impersonation-operator',
        namespace: undefined,
        identity: undefined,
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 4_000,
      },
      logLevel: 'info',
      local: false,
      shutdownTimeoutMs: 30_000,
      refusalRecheckMs: 300_000,
      testOnlyRbacWatchDelayMs: 0,
      testOnlyPolicyWatchDelayMs: 0,
      authorCheck: { enabled: true, exemptUsers: [], cacheTtlMs: 300_000 },
    });
  });

  it('reads the author check settings', () => {
    expect(
      config(['--no-author-check', '--author-check-exempt-users=a, b,a', '--author-check-cache-ttl=0'])
        .authorCheck,
    ).toEqual({ enabled: false, exemptUsers: ['a', 'b'], cacheTtlMs: 0 });
  });

  it.each([
    { name: 'flag', argv: ['--workers', '3'], env: {}, expected: 3 },
    { name: 'flag with =', argv: ['--workers=5'], env: {}, expected: 5 },
    { name: 'env', argv: [], env: { IMPOP_WORKERS: '12' }, expected: 12 },
    { name: 'flag beats env', argv: ['--workers', '2'], env: { IMPOP_WORKERS: '12' }, expected: 2 },
  ])('reads workers from $name', ({ argv, env, expected }) => {
    expect(config(argv, env).workers).toBe(expected);
  });

  it('parses lists, durations, addresses, booleans and levels', () => {
    const c = config(
      [
        '--denied-cluster-roles',
        'cluster-admin, admin,,edit',
        '--allowed-system-identities=system:authenticated,system:serviceaccounts',
        '--resync-period',
        '1m30s',
        '--metrics-bind-address',
        '127.0.0.1:9090',
        '--health-probe-bind-address',
        '[::1]:9091',
        '--leader-elect',
        '--log-level',
        'DEBUG',
        '--local',
      ],
      { IMPOP_LEADER_ELECT_LEASE_DURATION: '20s', IMPOP_SHUTDOWN_TIMEOUT: '0' },
    );
    expect(c.deniedClusterRoles).toEqual(['cluster-admin', 'admin', 'edit']);
    expect(c.allowedSystemIdentities).toEqual(['system:authenticated', 'system:serviceaccounts']);
    expect(c.resyncPeriodMs).toBe(90_000);
    expect(c.metricsAddress).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(c.probeAddress).toEqual({ host: '::1', port: 9091 });
    expect(c.leaderElection.enabled).toBe(true);
    expect(c.leaderElection.leaseDurationMs).toBe(20_000);
    expect(c.logLevel).toBe('debug');
    expect(c.local).toBe(true);
    expect(c.shutdownTimeoutMs).toBe(0);
  });

  it('accepts an empty deny list, disabled servers and no resync', () => {
    const c = config(['--denied-cluster-roles=', '--metrics-bind-address=0', '--resync-period=0'], {
      IMPOP_HEALTH_PROBE_BIND_ADDRESS: 'off',
    });
    expect(c.deniedClusterRoles).toEqual([]);
    expect(c.metricsAddress).toBeNull();
    expect(c.probeAddress).toBeNull();
    expect(c.resyncPeriodMs).toBe(0);
  });

  it('--no-leader-elect and env booleans', () => {
    expect(config(['--no-leader-elect'], { IMPOP_LEADER_ELECT: 'true' }).leaderElection.enabled).toBe(false);
    expect(config([], { IMPOP_LEADER_ELECT: 'yes' }).leaderElection.enabled).toBe(true);
    expect(config([], { IMPOP_LOCAL: '1' }).local).toBe(true);
  });

  it('falls back to POD_NAMESPACE and POD_NAME for the lease', () => {
    const c = config([], { POD_NAMESPACE: 'impop-system', POD_NAME: 'impop-abc' });
    expect(c.leaderElection.namespace).toBe('impop-system');
    expect(c.leaderElection.identity).toBe('impop-abc');
    expect(
      config([], { POD_NAMESPACE: 'x', IMPOP_LEADER_ELECTION_NAMESPACE: 'y' }).leaderElection.namespace,
    ).toBe('y');
  });

  it.each([
    {
      name: 'a non-numeric worker count from a flag',
      argv: ['--workers', 'many'],
      env: {},
      message: '--workers (IMPOP_WORKERS): expected an integer from 1 to 64; got "many" from --workers',
    },
    {
      name: 'zero workers from the environment',
      argv: [],
      env: { IMPOP_WORKERS: '0' },
      message: '--workers (IMPOP_WORKERS): expected an integer from 1 to 64; got "0" from IMPOP_WORKERS',
    },
    {
      name: 'a duration without unit',
      argv: ['--resync-period', '30'],
      env: {},
      message: '--resync-period (IMPOP_RESYNC_PERIOD): expected a duration such as 30s, 10m or 1h',
    },
    {
      name: 'a bind address without port',
      argv: ['--metrics-bind-address', 'localhost'],
      env: {},
      message: '--metrics-bind-address (IMPOP_METRICS_BIND_ADDRESS): expected [host]:port, or 0 to disable',
    },
    {
      name: 'an unknown log level',
      argv: [],
      env: { IMPOP_LOG_LEVEL: 'verbose' },
      message: '--log-level (IMPOP_LOG_LEVEL): expected trace, debug, info, warn, error, fatal, silent',
    },
    {
      name: 'a non-boolean env',
      argv: [],
      env: { IMPOP_LEADER_ELECT: 'maybe' },
      message: '--leader-elect (IMPOP_LEADER_ELECT): expected true or false',
    },
    {
      name: 'system:masters as an allowed identity',
      argv: ['--allowed-system-identities', 'system:authenticated,system:masters'],
      env: {},
      message: 'system:masters and * are never allowed',
    },
    {
      name: 'a non-system identity',
      argv: ['--allowed-system-identities', 'alice'],
      env: {},
      message:
        '--allowed-system-identities (IMPOP_ALLOWED_SYSTEM_IDENTITIES): expected a comma-separated list of names starting with "system:"',
    },
    {
      name: 'a renew deadline not below the lease duration',
      argv: ['--leader-elect-renew-deadline', '15s'],
      env: {},
      message: 'must be shorter than --leader-elect-lease-duration (IMPOP_LEADER_ELECT_LEASE_DURATION)',
    },
    {
      name: 'a retry period too close to the renew deadline',
      argv: ['--leader-elect-retry-period', '9s'],
      env: {},
      message: 'renew deadline must exceed 1.2 x retry period',
    },
    { name: 'an unknown flag', argv: ['--wrokers', '3'], env: {}, message: "Unknown option '--wrokers'" },
    { name: 'a positional argument', argv: ['run'], env: {}, message: 'see --help' },
  ])('rejects $name, naming the setting and the accepted form', ({ argv, env, message }) => {
    const found = problems(argv, env);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(message);
  });

  it('reports every bad setting at once', () => {
    const found = problems(['--workers', 'x'], { IMPOP_RESYNC_PERIOD: 'soon', IMPOP_LOG_LEVEL: 'loud' });
    expect(found.map((p) => p.split(' ')[0])).toEqual(['--workers', '--resync-period', '--log-level']);
    expect(() => parseConfig(['--workers', 'x'], {})).toThrow(/invalid configuration:\n {2}--workers/);
  });

  it('prints help naming every flag with its env variable', () => {
    const result = parseConfig(['--help'], { IMPOP_WORKERS: 'bad values are not checked for --help' });
    expect(result.kind).toBe('help');
    const text = result.kind === 'help' ? result.text : '';
    expect(text).toContain('--workers <value>');
    expect(text).toContain('env IMPOP_WORKERS; an integer from 1 to 64; default 32');
    expect(text).toContain('--leader-elect, --no-leader-elect');
    expect(text).toContain('env IMPOP_LEADER_ELECTION_NAMESPACE, POD_NAMESPACE');
    expect(parseConfig(['-h'], {}).kind).toBe('help');
  });

  it('returns a frozen config', () => {
    const c = config();
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.deniedClusterRoles)).toBe(true);
    expect(Object.isFrozen(c.leaderElection)).toBe(true);
  });
});

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['250ms', 250],
    ['30s', 30_000],
    ['1.5s', 1500],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['2h', 7_200_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '30', 's', '1d', '-1s', '1 s', '1m x'])('%p is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
