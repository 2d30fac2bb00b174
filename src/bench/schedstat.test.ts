import { describe, expect, it } from 'vitest';
import { describeContention, parseSchedStat, readSchedStat, schedStatDelta } from './schedstat.ts';

describe('schedstat', () => {
  it('parses nanoseconds on a core, nanoseconds waiting and timeslices', () => {
    expect(parseSchedStat('131694686 196900208 386\n')).toEqual({
      onCpuMs: 131.694686,
      runQueueWaitMs: 196.900208,
      timeslices: 386,
    });
    expect(parseSchedStat('garbage')).toBeUndefined();
  });

  it('subtracts field by field', () => {
    const a = { onCpuMs: 1, runQueueWaitMs: 2, timeslices: 3 };
    const b = { onCpuMs: 11, runQueueWaitMs: 12, timeslices: 13 };
    expect(schedStatDelta(a, b)).toEqual({ onCpuMs: 10, runQueueWaitMs: 10, timeslices: 10 });
    expect(schedStatDelta(undefined, b)).toBeUndefined();
  });

  it.runIf(process.platform === 'linux')("reads this process's main thread, whose CPU time only grows", () => {
    const before = readSchedStat('self', process.pid)!;
    let x = 0;
    for (let i = 0; i < 2_000_000; i++) x += Math.sqrt(i);
    const after = readSchedStat('self', process.pid)!;
    expect(x).toBeGreaterThan(0);
    expect(after.onCpuMs).toBeGreaterThan(before.onCpuMs);
    expect(readSchedStat(2 ** 30)).toBeUndefined();
  });
});

describe('describeContention', () => {
  it('blames the machine when the thread was idle but kept waiting, and its own work when it was busy', () => {
    const sched = { onCpuMs: 900, runQueueWaitMs: 1_500, timeslices: 100 };
    expect(describeContention('generator', 0.07, sched, 12_000)).toBe(
      'generator: busy 7% of the window in the profile, runnable but waiting for a core 1500 ms (13% of 12000 ms, kernel schedstat) — ' +
        'not limited by its own work: it was idle most of the window and the delays come from waiting for a core (other processes on the machine)',
    );
    expect(describeContention('generator', 0.95, sched, 12_000)).toMatch(
      /limited by its own work \(busy most of the window\)$/,
    );
    expect(describeContention('generator', 0.1, { ...sched, runQueueWaitMs: 10 }, 12_000)).toMatch(
      /neither busy nor kept waiting/,
    );
    expect(describeContention('generator', 0.1, undefined, 12_000)).toBe(
      'generator: busy 10% in the profile; no schedstat on this system',
    );
  });
});
