/**
 * Which probe observations belong to which run. With runs in flight at once, observations of
 * different runs interleave in time, so they are told apart by slot: a slot runs one run at a time
 * (docs/design.md §10), from its restore() to the next restore() on the same slot. Within that
 * stretch everything the slot's sessions did belongs to that run.
 */

/** A restore() a probe saw: the run it started, on which slot, when it was entered (wall ms). */
export interface RestoreStamp {
  runId: string;
  slot: number;
  startWallMs: number;
}

/** One run's stretch of its slot, [fromWallMs, toWallMs). */
export interface RunWindow {
  runId: string;
  slot: number;
  fromWallMs: number;
  toWallMs: number;
}

/** Each run's window, by run id; the last run of a slot has no end. */
export function runWindows(restores: readonly RestoreStamp[]): Map<string, RunWindow> {
  const bySlot = new Map<number, RestoreStamp[]>();
  for (const r of restores) bySlot.set(r.slot, [...(bySlot.get(r.slot) ?? []), r]);
  const out = new Map<string, RunWindow>();
  for (const list of bySlot.values()) {
    const sorted = [...list].sort((a, b) => a.startWallMs - b.startWallMs);
    sorted.forEach((r, i) => {
      out.set(r.runId, {
        runId: r.runId,
        slot: r.slot,
        fromWallMs: r.startWallMs,
        toWallMs: sorted[i + 1]?.startWallMs ?? Number.POSITIVE_INFINITY,
      });
    });
  }
  return out;
}

/** The observations of `list` made on the window's slot inside the window. */
export function inRunWindow<T extends { slot: number; wallMs: number }>(list: readonly T[], window: RunWindow): T[] {
  return list.filter((e) => e.slot === window.slot && e.wallMs >= window.fromWallMs && e.wallMs < window.toWallMs);
}
