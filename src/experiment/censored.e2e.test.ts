import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../test-support/cli.ts';
import { writePlan } from '../test-support/plan.ts';

// Releases that never recover: an operator who never notices, and a Flagger analysis that never
// fails (no checks: the faulty build is promoted). Both are kept and shown, never dropped.
// 5 req/s of scenario time (150 req/s wall at 30×, not the scenarios' 600) keeps a busy machine
// up with the compressed clock; the outcomes asserted here do not depend on the rate.
// The Flagger arm's deadline is far past its promotion (~9 ticks, 90 s, plus a tick for each wait
// on a process that is still starting, which is real time): a promoted run ends at promotion, so
// the long deadline costs no wall time, and a slow start-up cannot censor it.
const dir = mkdtempSync(path.join(tmpdir(), 'censored-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runs without recovery', () => {
  it('are censored at the deadline (or promoted), kept in runs.csv and the report, and the next run starts', async () => {
    const plan = path.join(dir, 'plan.yaml');
    writePlan(plan, { name: 'censored-check', timeScale: 30, repetitions: 2 }, [
      '  - { scenario: faulty-500, arms: [manual], overrides: { load: { rateRps: 5 }, manual: { operator: { kind: dashboard, pNotice: 0 } }, recovery: { cleanWindowS: 5, deadlineS: 120 }, warmup: { durationS: 5 } } }',
      '  - { scenario: faulty-500, arms: [flagger], overrides: { load: { rateRps: 5 }, flagger: { interval: 10s, requestSuccessRate: null, requestDuration: null, maxWeight: 20 }, recovery: { cleanWindowS: 5, deadlineS: 600 }, warmup: { durationS: 5 } } }',
    ]);
    const out = path.join(dir, 'out');
    const r = await runCli(['experiment', '--experiment', plan, '--out', out], { timeoutMs: 150_000 });
    expect(r.code).toBe(0);
    const rows = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true }) as Array<
      Record<string, string>
    >;
    expect(rows).toHaveLength(4);
    const manual = rows.filter((x) => x.arm === 'manual');
    for (const row of manual) {
      expect(row.outcome).toBe('censored');
      expect(row.mttr_s).toBe('');
      // Censored at the deadline: 120 s after the release, counted from the first failure. The
      // canary's start-up is real time, so how long after the release the first failure comes
      // depends on the machine; the law is checked on the row's own stamps.
      const deadlineMs = Number(row.release_ms) + 120_000;
      expect(Number(row.end_ms)).toBeGreaterThanOrEqual(deadlineMs);
      expect(Number(row.impact_ms)).toBeGreaterThan(Number(row.release_ms));
      expect(Number(row.censored_at_s)).toBeCloseTo((deadlineMs - Number(row.impact_ms)) / 1000, 2);
      expect(Number(row.censored_at_s)).toBeLessThan(120);
    }
    for (const row of rows.filter((x) => x.arm === 'flagger')) {
      expect(row.outcome).toBe('promoted');
      expect(Number(row.failed_requests)).toBeGreaterThan(0);
      expect(row.censored_at_s).not.toBe('');
    }
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toContain('| faulty-500 | manual | 2 | 0 | 0 | 2 |');
    for (const row of manual)
      expect(md).toContain(`| ${row.run_id} | censored | no recovery within the deadline; censored`);
  }, 170_000);
});
