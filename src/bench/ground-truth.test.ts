import { describe, expect, it } from 'vitest';
import { groundTruth, recoveryPoint, type TruthInput } from './ground-truth.ts';

const base: TruthInput = {
  releaseMs: 10_000,
  canaryWorkload: 'sms-checker',
  cleanWindowMs: 10_000,
  endMs: 80_000,
  routes: [
    { atMs: 5, canaryWeight: 0 }, // restore
    { atMs: 30_000, canaryWeight: 10 }, // Advance canary weight 10
    { atMs: 50_002, canaryWeight: 0 }, // rollback
  ],
  events: [
    { atMs: 20_000, message: 'New revision detected! Scaling up sms-checker.canary-mttr' },
    { atMs: 30_000, message: 'Advance sms-checker.canary-mttr canary weight 10' },
    { atMs: 40_001, message: 'Halt sms-checker.canary-mttr advancement success rate 0.00% < 99%' },
    { atMs: 50_000, message: 'Rolling back sms-checker.canary-mttr failed checks threshold reached 1' },
  ],
  responses: [
    { atMs: 9_000, status: 500, workload: 'sms-checker' }, // before the release: not counted
    { atMs: 30_100, status: 500, workload: 'sms-checker' },
    { atMs: 30_200, status: 200, workload: 'sms-checker-primary' },
    { atMs: 50_010, status: 500, workload: 'sms-checker' }, // in flight across the route change
    { atMs: 55_000, status: 200, workload: 'sms-checker-primary' },
  ],
};

describe('groundTruth', () => {
  it('takes impact, detect, mitigate (the rollback decision) and recover from the router and the model', () => {
    expect(groundTruth(base)).toEqual({ impactMs: 30_100, detectMs: 40_001, mitigateMs: 50_000, recoverMs: 50_010 });
  });

  it('counts a canary answer that succeeded as bad for recovery, and a timeout-like 0 as a failure', () => {
    const responses = [
      ...base.responses,
      { atMs: 52_000, status: 200, workload: 'sms-checker' },
      { atMs: 30_050, status: 0, workload: 'unknown' },
    ];
    expect(groundTruth({ ...base, responses })).toMatchObject({ impactMs: 30_050, recoverMs: 52_000 });
  });

  it('stops where the run gave no detection or no rollback', () => {
    expect(groundTruth({ ...base, events: [] })).toEqual({ impactMs: 30_100 });
    expect(groundTruth({ ...base, events: base.events.slice(0, 3) })).toEqual({ impactMs: 30_100, detectMs: 40_001 });
    expect(groundTruth({ ...base, routes: base.routes.slice(0, 2) })).toEqual({
      impactMs: 30_100,
      detectMs: 40_001,
      mitigateMs: 50_000,
    });
  });

  it('starts recovery no earlier than the route change reaching the router, after the decision', () => {
    const routes = [...base.routes.slice(0, 2), { atMs: 50_100, canaryWeight: 0 }];
    expect(groundTruth({ ...base, routes })).toMatchObject({ mitigateMs: 50_000, recoverMs: 50_100 });
  });
});

describe('recoveryPoint', () => {
  it('is the route change when nothing bad follows it', () => {
    expect(recoveryPoint([1, 2, 3], 5, 10, 100)).toBe(5);
  });

  it('moves to the last bad moment before a clean window', () => {
    expect(recoveryPoint([1, 6, 12, 40], 5, 10, 100)).toBe(12);
  });

  it('is undefined when the clean window does not close before the end', () => {
    expect(recoveryPoint([1, 6], 5, 10, 15)).toBeUndefined();
  });
});
