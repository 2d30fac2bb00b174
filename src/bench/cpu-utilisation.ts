import { readFileSync } from 'node:fs';

/**
 * How busy the whole machine was, from the kernel's CPU accounting (Linux /proc/stat, its aggregate
 * `cpu` line: clock ticks spent in each state, summed over all cores). It counts every process on
 * the machine, not only ours: on a shared machine the figure includes the neighbours' work.
 */
export interface CpuTimes {
  /** Ticks in user, nice, system, irq, softirq and steal. */
  busyTicks: number;
  /** busyTicks + idle + iowait. */
  totalTicks: number;
}

/** A reading of CpuTimes and when it was taken (any monotonic ms clock). */
export interface CpuSample extends CpuTimes {
  atMs: number;
}

export function parseCpuTimes(procStat: string): CpuTimes | undefined {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already
  // counted in user and nice, so it is left out.
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (ticks.length < 4 || !ticks.every((v) => Number.isFinite(v))) return undefined;
  const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = ticks as number[];
  const busyTicks = user! + nice! + system! + irq + softirq + steal;
  return { busyTicks, totalTicks: busyTicks + idle! + iowait };
}

/** The machine's counters now; undefined where /proc/stat does not exist. */
export function readCpuTimes(): CpuTimes | undefined {
  try {
    return parseCpuTimes(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Share of all cores' time that was busy between two readings (0–1); undefined when nothing elapsed. */
export function busyShare(before: CpuTimes, after: CpuTimes): number | undefined {
  const total = after.totalTicks - before.totalTicks;
  return total > 0 ? (after.busyTicks - before.busyTicks) / total : undefined;
}

/**
 * The busy share over [fromMs, toMs], from periodic samples: from the last sample taken at or
 * before `fromMs` to the first at or after `toMs` (the first and last samples when none is), so
 * the window measured covers the one asked for, by at most one sampling period each side.
 */
export function busyShareBetween(samples: readonly CpuSample[], fromMs: number, toMs: number): number | undefined {
  if (samples.length < 2) return undefined;
  const sorted = [...samples].sort((a, b) => a.atMs - b.atMs);
  const before = sorted.filter((s) => s.atMs <= fromMs).at(-1) ?? sorted[0]!;
  const after = sorted.find((s) => s.atMs >= toMs) ?? sorted.at(-1)!;
  return busyShare(before, after);
}
