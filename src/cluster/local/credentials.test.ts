import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STATE_DIR_NAMES } from './components.ts';
import { ensurePrivateDir, prepareStateDir, writePrivateFile } from './credentials.ts';

const modeOf = (file: string) => statSync(file).mode & 0o777;

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'canary-mttr-credentials-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('owner-only state dir and credential files', () => {
  it('a folder that exists with a wider mode becomes 0700; a new one, parents included, is 0700', () => {
    const old = path.join(root, 'old');
    mkdirSync(old, { mode: 0o755 });
    chmodSync(old, 0o755);
    ensurePrivateDir(old);
    expect(modeOf(old)).toBe(0o700);
    const fresh = path.join(root, 'a', 'b');
    ensurePrivateDir(fresh);
    expect(modeOf(fresh)).toBe(0o700);
  });

  it('a credential that replaces a world-readable file is 0600, not what the umask leaves of it', () => {
    const file = path.join(root, 'tokens.csv');
    writeFileSync(file, 'old token\n', { mode: 0o644 });
    chmodSync(file, 0o644);
    const previous = process.umask(0o277);
    try {
      writePrivateFile(file, 'new token\n');
    } finally {
      process.umask(previous);
    }
    expect(modeOf(file)).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('new token\n');
  });

  it('a state dir holding a file the cluster did not write is refused and keeps its mode (think --state-dir ~)', () => {
    const home = path.join(root, 'home');
    mkdirSync(home);
    chmodSync(home, 0o755);
    writeFileSync(path.join(home, 'notes.txt'), 'mine');
    expect(() => prepareStateDir(home, STATE_DIR_NAMES)).toThrow(
      `local cluster: ${home} holds files the cluster did not write (notes.txt); name a new or empty folder as the state dir`,
    );
    expect(modeOf(home)).toBe(0o755);
  });

  it("a state dir holding only the cluster's own names (a previous run) is taken and made 0700", () => {
    const dir = path.join(root, 'state');
    mkdirSync(path.join(dir, 'logs'), { recursive: true });
    chmodSync(dir, 0o755);
    for (const name of ['cluster.json', 'kubeconfig', 'tokens.csv', 'sa.key', 'cluster.json.123.tmp'])
      writeFileSync(path.join(dir, name), '');
    prepareStateDir(dir, STATE_DIR_NAMES);
    expect(modeOf(dir)).toBe(0o700);
  });

  it('a state dir path naming a file is refused', () => {
    const file = path.join(root, 'file');
    writeFileSync(file, '');
    expect(() => prepareStateDir(file, STATE_DIR_NAMES)).toThrow(
      `local cluster: ${file} is not a folder; name a new or empty folder as the state dir`,
    );
  });
});
