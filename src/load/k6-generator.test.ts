import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { findK6, K6_DURATION_MARGIN_S, k6DurationS, K6LoadGenerator } from './k6-generator.ts';

// What needs no k6. The load itself, through a real k6, is in k6-generator.tools.test.ts.

describe('K6LoadGenerator.create', () => {
  test('without k6 it fails and says how to get it', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'canary-mttr-no-k6-'));
    try {
      const env = { PATH: '/nonexistent', HOME: home, CANARY_MTTR_K6: path.join(home, 'k6') };
      expect(findK6(env)).toBeUndefined();
      await expect(K6LoadGenerator.create({ env })).rejects.toThrow(
        `load: k6 not found (CANARY_MTTR_K6=${env.CANARY_MTTR_K6} is not an executable file; not on PATH nor in ${home}/.cache/canary-mttr/tools/bin); run npm run tools:install first, or set CANARY_MTTR_K6`,
      );
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('k6DurationS', () => {
  test("k6 ends by itself a margin after the caller's bound, in wall seconds, and within an hour without one", () => {
    // A run of 60 s warm-up and a 900 s deadline, at 10×: 96 wall seconds, plus the margin.
    expect(k6DurationS(960_000, 10)).toBe(96 + K6_DURATION_MARGIN_S);
    expect(k6DurationS(1_500, 1)).toBe(2 + K6_DURATION_MARGIN_S);
    expect(K6_DURATION_MARGIN_S).toBeLessThanOrEqual(600);
    expect(k6DurationS(undefined, 10)).toBe(3_600);
  });
});
