import { readFileSync } from 'node:fs';

/**
 * The kernel's scheduler accounting for one thread (Linux /proc/<pid>/task/<tid>/schedstat): time
 * on a CPU and time spent runnable but waiting for one. The wait is how a busy machine shows up in
 * a process that is itself mostly idle: a timer that fired on time still runs late when no core
 * is free. Undefined where the file does not exist (not Linux, or the thread is gone).
 */
export interface SchedStat {
  onCpuMs: number;
  runQueueWaitMs: number;
  timeslices: number;
}

export function readSchedStat(pid: number | 'self' = 'self', tid?: number): SchedStat | undefined {
  const file = tid === undefined ? `/proc/${pid}/schedstat` : `/proc/${pid}/task/${tid}/schedstat`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return parseSchedStat(text);
}

export function parseSchedStat(text: string): SchedStat | undefined {
  const [onCpuNs, waitNs, slices] = text.trim().split(/\s+/).map(Number);
  if (![onCpuNs, waitNs, slices].every((v) => Number.isFinite(v))) return undefined;
  return { onCpuMs: onCpuNs! / 1e6, runQueueWaitMs: waitNs! / 1e6, timeslices: slices! };
}

/** `after − before`, field by field; undefined when either is. */
export function schedStatDelta(before: SchedStat | undefined, after: SchedStat | undefined): SchedStat | undefined {
  if (!before || !after) return undefined;
  return {
    onCpuMs: after.onCpuMs - before.onCpuMs,
    runQueueWaitMs: after.runQueueWaitMs - before.runQueueWaitMs,
    timeslices: after.timeslices - before.timeslices,
  };
}

/**
 * Names what held a thread back, from two measurements: how busy its profile was and how long the
 * kernel kept it waiting for a core. A thread that was mostly idle but often waiting was starved
 * by other processes; one busy most of the time was limited by its own work.
 */
export function describeContention(
  who: string,
  busyShare: number,
  sched: SchedStat | undefined,
  windowMs: number,
): string {
  const pct = (v: number) => `${(v * 100).toFixed(0)}%`;
  if (!sched) return `${who}: busy ${pct(busyShare)} in the profile; no schedstat on this system`;
  const waitShare = sched.runQueueWaitMs / windowMs;
  const verdict =
    busyShare >= 0.8
      ? 'limited by its own work (busy most of the window)'
      : waitShare >= 0.05
        ? 'not limited by its own work: it was idle most of the window and the delays come from waiting for a core (other processes on the machine)'
        : 'neither busy nor kept waiting: the delay lies outside this thread';
  return (
    `${who}: busy ${pct(busyShare)} of the window in the profile, runnable but waiting for a core ${sched.runQueueWaitMs.toFixed(0)} ms ` +
    `(${pct(waitShare)} of ${windowMs.toFixed(0)} ms, kernel schedstat) — ${verdict}`
  );
}
