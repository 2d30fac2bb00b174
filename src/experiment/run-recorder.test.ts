import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../common/clock.ts';
import { Marks } from '../timeline/compute.ts';
import { RunRecorder } from './run-recorder.ts';

const rollingBack = (atMs: number) => ({
  atMs,
  kind: Marks.flaggerEvent,
  detail: 'Rolling back app.ns failed checks threshold reached 1',
  phase: 'Progressing',
});
const failed = (atMs: number) => ({
  atMs,
  kind: Marks.flaggerEvent,
  detail: 'Canary failed! Scaling down app.ns',
  phase: 'Failed',
});
const routes = (atMs: number, canaryWeight: number) => ({ atMs, kind: Marks.routes, canaryWeight });

describe('RunRecorder.watchEndsAt', () => {
  it('waits a clean window after the route change that took the traffic away, once it is seen', () => {
    const recorder = new RunRecorder(new VirtualClock(), 'flagger', 'v2', 500);
    recorder.mark(routes(40_000, 10));
    recorder.record({ sentMs: 99_000, doneMs: 99_005, latencyMs: 5, status: 500, version: 'v2' });
    expect(recorder.watchEndsAt(10_000)).toBeUndefined();
    recorder.mark(rollingBack(100_000));
    recorder.mark(failed(100_000));
    // The decision is sealed; the weight change has not reached the router yet.
    expect(recorder.watchEndsAt(10_000)).toBe(110_000);
    recorder.mark(routes(100_100, 0));
    expect(recorder.watchEndsAt(10_000)).toBe(110_100);
    // A bad answer after the change moves the end again.
    recorder.record({ sentMs: 100_050, doneMs: 100_200, latencyMs: 15, status: 500, version: 'v2' });
    expect(recorder.watchEndsAt(10_000)).toBe(110_200);
  });

  it('takes the manual rollback from the operator\u2019s helm rollback', () => {
    const recorder = new RunRecorder(new VirtualClock(), 'manual', 'v2', 500);
    recorder.mark({ atMs: 80_000, kind: Marks.rollbackIssued });
    recorder.mark(routes(82_000, 0));
    recorder.mark({ atMs: 82_000, kind: Marks.rollbackDone });
    expect(recorder.watchEndsAt(30_000)).toBe(112_000);
  });

  it('gives a promoted release one window after its promotion', () => {
    const recorder = new RunRecorder(new VirtualClock(), 'flagger', 'v2', 500);
    recorder.record({ sentMs: 90_000, doneMs: 90_005, latencyMs: 5, status: 200, version: 'v2' });
    recorder.mark({
      atMs: 95_000,
      kind: Marks.flaggerEvent,
      detail: 'Promotion completed! Scaling down app.ns',
      phase: 'Succeeded',
    });
    expect(recorder.watchEndsAt(10_000)).toBe(105_000);
  });
});
