// Splits a byte stream into lines and hands on only the lines that contain a needle, without
// decoding the others: on a typical audit log most lines are skipped by one Buffer.indexOf.

/** Called with each line containing the needle (without its newline) and its 1-based line number. */
export type LineSink = (line: string, lineNumber: number) => void;

const NL = 0x0a;

function countNewlines(buf: Buffer, from: number, to: number): number {
  let n = 0;
  let i = buf.indexOf(NL, from);
  while (i !== -1 && i < to) {
    n++;
    i = buf.indexOf(NL, i + 1);
  }
  return n;
}

export class LineScanner {
  private carry: Buffer = Buffer.alloc(0);
  private completeLines = 0;
  private readonly needle: Buffer;

  constructor(
    needle: string,
    private readonly sink: LineSink,
  ) {
    this.needle = Buffer.from(needle, 'utf8');
  }

  /** Lines seen so far (a last line without a newline is counted by `end()`). */
  get lines(): number {
    return this.completeLines;
  }

  push(chunk: Buffer): void {
    let start = 0;
    if (this.carry.length > 0) {
      const nl = chunk.indexOf(NL);
      if (nl === -1) {
        this.carry = Buffer.concat([this.carry, chunk]);
        return;
      }
      // Only the line that straddles the chunk boundary is copied.
      const line = Buffer.concat([this.carry, chunk.subarray(0, nl + 1)]);
      this.carry = Buffer.alloc(0);
      this.scan(line, 0, line.length - 1);
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(NL);
    if (last < start) {
      this.carry = Buffer.from(chunk.subarray(start));
      return;
    }
    this.scan(chunk, start, last);
    // Copy the tail so the (large) chunk is not kept alive by it.
    this.carry = last + 1 < chunk.length ? Buffer.from(chunk.subarray(last + 1)) : Buffer.alloc(0);
  }

  /** Flushes a last line that has no trailing newline. */
  end(): void {
    if (this.carry.length === 0) return;
    const line = Buffer.concat([this.carry, Buffer.from([NL])]);
    this.carry = Buffer.alloc(0);
    this.scan(line, 0, line.length - 1);
  }

  /** Scans the complete lines in buf[start..end], where buf[end] is a newline. */
  private scan(buf: Buffer, start: number, end: number): void {
    let cursor = start;
    let pos = buf.indexOf(this.needle, start);
    while (pos !== -1 && pos < end) {
      const lineStart = Math.max(start, buf.lastIndexOf(NL, pos) + 1);
      const lineEnd = buf.indexOf(NL, pos);
      this.completeLines += countNewlines(buf, cursor, lineStart);
      cursor = lineStart;
      this.sink(buf.toString('utf8', lineStart, lineEnd), this.completeLines + 1);
      pos = lineEnd + 1 > end ? -1 : buf.indexOf(this.needle, lineEnd + 1);
    }
    this.completeLines += countNewlines(buf, cursor, end + 1);
  }
}
