import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../test-support/cli.ts';

// Secrets in the harness's environment reach neither its output nor the report folder. (The app
// processes get PATH and their FAULT_* settings only: see AppLauncher.start.)
const dir = mkdtempSync(path.join(tmpdir(), 'secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function filesUnder(root: string): string[] {
  return readdirSync(root).flatMap((name) => {
    const p = path.join(root, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('environment secrets', () => {
  // 5 req/s (150 req/s of wall time at 30×): a busy machine keeps up with the compressed clock.
  it('never appear in the output or in any file of the report folder', async () => {
    const secret = 'cmttr-env-secret-0d9f8e7a6b5c';
    const plan = path.join(dir, 'plan.yaml');
    writeFileSync(
      plan,
      [
        'name: secrets-check',
        'timeScale: 30',
        'concurrency: 1',
        'repetitions: 1',
        'runs:',
        '  - { scenario: faulty-500, arms: [manual], overrides: { load: { rateRps: 5 }, recovery: { cleanWindowS: 5, deadlineS: 120 }, warmup: { durationS: 5 } } }',
      ].join('\n'),
    );
    const out = path.join(dir, 'out');
    const r = await runCli(['experiment', '--experiment', plan, '--out', out], {
      timeoutMs: 120_000,
      env: { AWS_SECRET_ACCESS_KEY: secret, GITHUB_TOKEN: secret, DATABASE_PASSWORD: secret },
    });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(secret);
    const files = filesUnder(out);
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) expect(readFileSync(file).includes(secret), file).toBe(false);
  }, 150_000);
});
