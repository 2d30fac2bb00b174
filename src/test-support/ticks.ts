import type { TimelineEntry } from '../timeline/types.ts';

/** One tick of the Flagger model, as journaled: its scenario-time stamp and its events, in order. */
export interface FlaggerTick {
  atMs: number;
  events: string[];
}

/**
 * The Flagger model's ticks in a run's timeline: flagger events sharing one stamp are one tick. Tests
 * check laws on these (which tick, counted from which event) from the journal's own stamps rather
 * than bounds in seconds, which a late timer on a busy machine can overshoot at any compression.
 */
export function flaggerTicks(timeline: readonly TimelineEntry[]): FlaggerTick[] {
  const byStamp = new Map<number, string[]>();
  for (const e of timeline) {
    if (e.kind !== 'flagger-event') continue;
    byStamp.set(e.atMs, [...(byStamp.get(e.atMs) ?? []), e.detail ?? '']);
  }
  return [...byStamp].map(([atMs, events]) => ({ atMs, events }));
}
