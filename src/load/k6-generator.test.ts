import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { findK6, K6LoadGenerator } from './k6-generator.ts';

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
