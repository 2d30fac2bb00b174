import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import { readRequestsFile } from './requests-file.ts';
import { runCli } from '../test-support/cli.ts';
import { writePlan } from '../test-support/plan.ts';

// Tools tier (npm run test:tools): the experiment with k6 as the load generator (needs k6, from
// npm run tools:install); the report says k6 ran. The fallback without k6 is k6-load.e2e.test.ts.
const dir = mkdtempSync(path.join(tmpdir(), 'k6-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const plan = path.join(dir, 'plan.yaml');
writePlan(plan, { name: 'k6-load', timeScale: 20, repetitions: 1 }, [
  '  - { scenario: faulty-500, arms: [flagger], overrides: { flagger: { interval: 10s, threshold: 1 }, recovery: { cleanWindowS: 5 }, warmup: { durationS: 5 } } }',
]);

describe('load generators in an experiment', () => {
  it('k6: records in the same shape, and the report names k6', async () => {
    const out = path.join(dir, 'k6');
    const r = await runCli(['experiment', '--experiment', plan, '--out', out, '--load', 'k6'], { timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [row] = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>;
    expect(row!.load_generator).toMatch(/^k6 v1\.\d+\.\d+$/);
    expect(row!.outcome, row!.abort_reason).toBe('rolled_back');
    const records = readRequestsFile(path.join(out, 'requests', `${row!.run_id}.csv`));
    expect(records.length).toBeGreaterThan(100);
    expect(new Set(records.map((x) => x.version))).toEqual(new Set(['v1', 'v2']));
    for (const rec of records.slice(0, 50)) expect(Object.keys(rec).sort()).toEqual(['doneMs', 'latencyMs', 'sentMs', 'status', 'version'].sort());
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toContain(`Load generator: ${row!.load_generator} (open model`);
  }, 150_000);
});
