// The operator command (main.ts starts it): config -> logger -> operator -> signals. Exit codes: 0
// after a clean shutdown, 1 on a fatal runtime error or lost leadership, 2 on a bad setting.
import { ConfigError, parseConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { runOperator } from '../operator.js';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`impersonation-operator: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    return 0;
  }
  const config = parsed.config;
  if (config.local) {
    process.stderr.write(
      'impersonation-operator: --local starts a development control plane and is only available from a source ' +
        'checkout: run `npm start -- --local` there.\n',
    );
    return 2;
  }
  const log = createLogger(config.logLevel);
  let operator;
  try {
    operator = await runOperator(config, log);
  } catch (err) {
    log.fatal({ err }, 'Failed to start');
    return 1;
  }
  log.info({ workers: config.workers, leaderElection: config.leaderElection.enabled }, 'Started operator');

  const exitCode = await new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, 'Shutting down');
      resolve(0);
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    void operator.lostLeadership.then(() => resolve(1));
  });
  await operator.stop();
  log.info({ exitCode }, 'Stopped operator');
  return exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Give pino a tick to flush, then make sure no stray handle keeps the process alive.
    setTimeout(() => process.exit(code), 100).unref();
  },
  (err: unknown) => {
    process.stderr.write(`impersonation-operator: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
