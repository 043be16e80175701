// Decodes a watch response: one JSON event per line, parsed as the lines arrive, so a long watch never
// holds more than its current line. An `ERROR` event becomes a `KubeApiError` (410 Expired: relist).
import type { IncomingMessage } from 'node:http';
import { KubeApiError, KubeConnectionError, type ApiStatus } from './errors.js';
import type { WatchEvent } from './types.js';

/** Yields the events of `res` until the server ends the watch; destroys the response when done. */
export async function* watchEvents<T>(
  res: IncomingMessage,
  path: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<WatchEvent<T>> {
  res.setEncoding('utf8');
  let pending = '';
  try {
    for await (const chunk of res as AsyncIterable<string>) {
      pending += chunk;
      let start = 0;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
        const line = pending.slice(start, nl);
        start = nl + 1;
        if (line.trim() !== '') yield parseWatchLine<T>(line, path);
      }
      pending = start === 0 ? pending : pending.slice(start);
    }
    if (pending.trim() !== '') yield parseWatchLine<T>(pending, path);
  } catch (err) {
    if (err instanceof KubeApiError) throw err;
    if (signal?.aborted) throw signal.reason as Error;
    throw new KubeConnectionError('watch', path, err);
  } finally {
    res.destroy();
  }
}

function parseWatchLine<T>(line: string, path: string): WatchEvent<T> {
  const event = JSON.parse(line) as WatchEvent<T>;
  if (event.type === 'ERROR') {
    const status = event.object as ApiStatus;
    throw new KubeApiError({ code: status.code ?? 500, verb: 'watch', path, status });
  }
  return event;
}
