// Structured JSON logs (pino) for the operator: one line per event, level names instead of numbers,
// ISO timestamps, errors serialized with their HTTP status and the API server's reason.
import {
  pino,
  stdSerializers,
  stdTimeFunctions,
  type DestinationStream,
  type Logger as PinoLogger,
} from 'pino';

export type Logger = PinoLogger;
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const out = stdSerializers.err(err) as unknown as Record<string, unknown>;
  // KubeApiError fields worth seeing in a log line; the stack of an expected 409 is noise.
  const extra = err as unknown as Record<string, unknown>;
  if (typeof extra.code === 'number') {
    out.code = extra.code;
    out.reason = extra.reason;
    delete out.stack;
  }
  return out;
}

/** Creates the root logger; pass `destination` in tests to capture lines. */
export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { name: 'impersonation-operator' },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError, error: serializeError },
    },
    destination,
  );
}

/** A logger that drops everything, for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
