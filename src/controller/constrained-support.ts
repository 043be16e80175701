// Whether the cluster enforces constrained impersonation, as the reconciler needs it for every
// constrained policy: the --constrained-impersonation setting, or (auto) the API server's answer to
// the probe in kube/constrained-probe.ts, asked once and then again every `ttlMs` (a control-plane
// upgrade or a feature-gate change takes effect without restarting the operator). A failed probe
// propagates: the reconcile is retried with backoff, like any other unanswered question.
import type { ConstrainedImpersonationSetting } from '../config.js';
import type { ConstrainedSupport } from '../core/index.js';
import type { KubeClient } from '../kube/client.js';
import { probeConstrainedImpersonation } from '../kube/constrained-probe.js';
import type { Logger } from '../logger.js';

export const CONSTRAINED_PROBE_TTL_MS = 5 * 60_000;

export function constrainedSupport(
  client: Pick<KubeClient, 'request'>,
  setting: ConstrainedImpersonationSetting,
  log: Pick<Logger, 'info' | 'warn'>,
  opts: { ttlMs?: number; now?: () => number } = {},
): () => Promise<ConstrainedSupport> {
  if (setting === 'enforced') return () => Promise.resolve({ enforced: true });
  if (setting === 'unavailable') {
    const answer: ConstrainedSupport = {
      enforced: false,
      message: 'the operator was started with --constrained-impersonation=unavailable',
    };
    return () => Promise.resolve(answer);
  }
  const ttlMs = opts.ttlMs ?? CONSTRAINED_PROBE_TTL_MS;
  const now = opts.now ?? Date.now;
  let cached: { answer: ConstrainedSupport; expires: number } | undefined;
  let inFlight: Promise<ConstrainedSupport> | undefined;
  return async () => {
    if (cached !== undefined && cached.expires > now()) return cached.answer;
    inFlight ??= probeConstrainedImpersonation(client)
      .then((answer) => {
        if (cached === undefined || cached.answer.enforced !== answer.enforced) {
          if (answer.enforced) log.info({}, 'the API server enforces constrained impersonation');
          else log.warn({ reason: answer.message }, 'constrained impersonation is unavailable');
        }
        cached = { answer, expires: now() + ttlMs };
        return answer;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
}
