import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A fresh folder whose `bin/` is the whole PATH of `env`: no /usr/bin, and an empty tools cache,
 * so only the fakes written there (fakeTool) can be found, never a real helm or kind.
 */
export function fakeToolsHome(prefix: string): { dir: string; bin: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  return { dir, bin, env: { PATH: bin, HOME: dir, CANARY_MTTR_TOOLS_DIR: path.join(dir, 'no-tools') } };
}

/** A fake executable `name` in `where` (a test double): a shell script running `body`. */
export function fakeTool(where: string, name: string, body: string): string {
  mkdirSync(where, { recursive: true });
  const file = path.join(where, name);
  writeFileSync(file, `#!/bin/sh\n# test double for ${name}: prints what the real one prints\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}
