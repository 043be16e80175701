// An Io that captures what a command writes, for unit tests of the CLI commands.
import { Readable, Writable } from 'node:stream';
import type { Io } from '../../../src/cli/args.js';

export interface Captured {
  io: Io;
  stdout: () => string;
  stderr: () => string;
}

function sink(chunks: string[]): Writable {
  return new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
}

export function capture(stdin: Buffer | string = '', opts: { tty?: boolean } = {}): Captured {
  const out: string[] = [];
  const err: string[] = [];
  const stderr = Object.assign(sink(err), { isTTY: opts.tty ?? false });
  return {
    io: { stdout: sink(out), stderr, stdin: Readable.from([Buffer.from(stdin)]) },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}
