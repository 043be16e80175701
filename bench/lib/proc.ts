// Resource use of a process from /proc: resident memory (current and high-water mark) and CPU time.
import { readFileSync } from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

export interface MemorySample {
  rssMb: number;
  hwmMb: number;
  /** Anonymous memory (heap, malloc, stacks): what the process itself allocated. */
  anonMb: number;
  /** File-backed pages (the node binary, shared libraries): shared with other processes running them. */
  fileMb: number;
}

export function memory(pid: number): MemorySample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return {
      rssMb: kb('VmRSS') / 1024,
      hwmMb: kb('VmHWM') / 1024,
      anonMb: kb('RssAnon') / 1024,
      fileMb: kb('RssFile') / 1024,
    };
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of the process (its threads included, its children not). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after it are counted from the ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine (every process, ours and others'), from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Samples a process's RSS every `intervalMs` and keeps the peaks (total and anonymous). */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private peak = 0;
  private peakAnon = 0;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 100,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  private sample(): void {
    const m = memory(this.pid);
    if (!m) return;
    this.peak = Math.max(this.peak, m.rssMb);
    this.peakAnon = Math.max(this.peakAnon, m.anonMb);
  }

  /** Highest RSS (MB) sampled so far; the kernel's own high-water mark is memory().hwmMb. */
  get peakMb(): number {
    this.sample();
    return this.peak;
  }

  /** Highest anonymous RSS (MB) sampled so far. */
  get peakAnonMb(): number {
    this.sample();
    return this.peakAnon;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
