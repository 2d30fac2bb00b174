import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../test-support/cli.ts';
import { writeShortFlaggerPlan } from '../test-support/plan.ts';

// `--load auto` falling back to the built-in generator when k6 is absent; the report says which
// ran. The same experiment with k6 itself is in k6-load.tools.test.ts (npm run test:tools).
const dir = mkdtempSync(path.join(tmpdir(), 'k6-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const plan = writeShortFlaggerPlan(path.join(dir, 'plan.yaml'), 'k6-load');

describe('load generators in an experiment', () => {
  it('auto without k6: falls back to the built-in generator and says so', async () => {
    const out = path.join(dir, 'auto');
    const r = await runCli(['experiment', '--experiment', plan, '--out', out, '--load', 'auto'], {
      timeoutMs: 120_000,
      env: {
        CANARY_MTTR_K6: '/nonexistent/k6',
        PATH: '/usr/bin:/bin',
        CANARY_MTTR_TOOLS_DIR: path.join(dir, 'no-tools'),
      },
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^Load: k6 is not installed \(.*\); using the built-in generator\.\n$/);
    const [row] = parse(readFileSync(path.join(out, 'runs.csv'), 'utf8'), { columns: true }) as Array<
      Record<string, string>
    >;
    expect(row!.load_generator).toBe('built-in (k6 not installed)');
  }, 150_000);
});
