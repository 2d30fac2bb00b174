/**
 * The layer rule (.dependency-cruiser.cjs, docs/architecture.md) run for real on small trees laid
 * out like this repository: a product file importing the cluster tooling, and two folders importing
 * each other, must fail `npm run lint:deps`; the same tree without them must pass.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './test-support/cli.ts';

const DEPCRUISE = path.join(PROJECT_ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const CONFIG = path.join(PROJECT_ROOT, '.dependency-cruiser.cjs');

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A tree of `files` (path → source) in a fresh folder, checked with the repository's config. */
function cruise(files: Record<string, string>): { status: number | null; output: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'canary-mttr-layers-'));
  dirs.push(dir);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  const result = spawnSync(process.execPath, [DEPCRUISE, 'src', '--config', CONFIG, '--no-progress'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const clean = {
  'src/process/tools.ts': 'export const findTool = (name: string) => name;\n',
  'src/load/k6.ts': "import { findTool } from '../process/tools.ts';\nexport const k6 = findTool('k6');\n",
  'src/cluster/kind.ts': "import { k6 } from '../load/k6.ts';\nexport const kind = k6;\n",
};

describe('npm run lint:deps', () => {
  it('passes a tree that keeps the layers', () => {
    const { status, output } = cruise(clean);
    expect(output).toContain('no dependency violations found');
    expect(status).toBe(0);
  });

  it('fails when a product file imports the cluster tooling, naming the file and the rule', () => {
    const { status, output } = cruise({
      ...clean,
      'src/platform/uses-kind.ts': "import { kind } from '../cluster/kind.ts';\nexport const uses = kind;\n",
    });
    expect(status).not.toBe(0);
    expect(output).toContain('error product-imports-cluster-tooling: src/platform/uses-kind.ts → src/cluster/kind.ts');
  });

  it('fails when two folders import each other', () => {
    const { status, output } = cruise({
      ...clean,
      'src/stats/median.ts': "import { clamp } from '../common/clamp.ts';\nexport const median = clamp;\n",
      'src/common/clamp.ts':
        "import type { median } from '../stats/median.ts';\nexport const clamp = (x: number): number => x;\nexport type M = typeof median;\n",
    });
    expect(status).not.toBe(0);
    expect(output).toMatch(/error no-folder-cycle: src\/(common|stats) →/);
  });
});
