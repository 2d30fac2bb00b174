import { describe, expect, it } from 'vitest';
import { inRunWindow, runWindows } from './run-windows.ts';

describe('runWindows', () => {
  it('gives each run the stretch of its own slot up to the next restore on that slot', () => {
    // Two slots whose runs overlap in time: r1 and r3 on slot 1, r2 and r4 on slot 2.
    const windows = runWindows([
      { runId: 'r1', slot: 1, startWallMs: 0 },
      { runId: 'r2', slot: 2, startWallMs: 5 },
      { runId: 'r3', slot: 1, startWallMs: 20 },
      { runId: 'r4', slot: 2, startWallMs: 30 },
    ]);
    expect(windows.get('r1')).toEqual({ runId: 'r1', slot: 1, fromWallMs: 0, toWallMs: 20 });
    expect(windows.get('r2')).toEqual({ runId: 'r2', slot: 2, fromWallMs: 5, toWallMs: 30 });
    expect(windows.get('r3')).toEqual({ runId: 'r3', slot: 1, fromWallMs: 20, toWallMs: Number.POSITIVE_INFINITY });
    expect(windows.get('r4')?.toWallMs).toBe(Number.POSITIVE_INFINITY);
  });

  it('orders a slot by time, whatever order the restores were logged in', () => {
    const windows = runWindows([
      { runId: 'late', slot: 3, startWallMs: 50 },
      { runId: 'early', slot: 3, startWallMs: 10 },
    ]);
    expect(windows.get('early')?.toWallMs).toBe(50);
  });
});

describe('inRunWindow', () => {
  it("keeps the window's slot only, inside [from, to)", () => {
    const window = { runId: 'r1', slot: 1, fromWallMs: 10, toWallMs: 20 };
    const seen = [
      { slot: 1, wallMs: 9, id: 'before' },
      { slot: 1, wallMs: 10, id: 'first' },
      { slot: 2, wallMs: 15, id: 'other slot' },
      { slot: 1, wallMs: 19.9, id: 'last' },
      { slot: 1, wallMs: 20, id: 'next run' },
    ];
    expect(inRunWindow(seen, window).map((e) => e.id)).toEqual(['first', 'last']);
  });
});
