import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// `npm run cluster:up` (the kind provider) on a machine without docker and kind: the real command,
// with a PATH that has neither.
const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'cluster-up-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cluster:up without its prerequisites', () => {
  it('prints every missing prerequisite in one block and exits non-zero, running nothing', async () => {
    const emptyBin = path.join(dir, 'bin');
    mkdirSync(emptyBin);
    const env = { HOME: path.join(dir, 'home'), PATH: emptyBin, CANARY_MTTR_TOOLS_DIR: path.join(dir, 'no-tools') };
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cluster/cli.ts'), 'up'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    const lines = out.split('\n');
    const start = lines.findIndex((l) =>
      l.startsWith('npm run cluster:up cannot start: 4 prerequisites need attention'),
    );
    expect(start).toBeGreaterThanOrEqual(0);
    const block = lines.slice(start, start + 10).join('\n');
    for (const tool of ['docker', 'kind', 'helm', 'kubectl'])
      expect(block).toMatch(new RegExp(`^  ${tool} +missing: not found on PATH`, 'm'));
    expect(block).toContain('go install sigs.k8s.io/kind@');
    expect(block).toContain('Then run npm run cluster:up again.');
    // Nothing else ran: no docker build, no kind create (they would print progress lines).
    expect(out).not.toMatch(/\[\d+\/\d+\]/);
  }, 60_000);
});
