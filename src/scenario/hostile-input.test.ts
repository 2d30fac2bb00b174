import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.ts';
import { ConfigError } from '../common/errors.ts';
import { loadExperimentFile, loadScenarioFile } from './load-files.ts';

// Malformed plan and scenario files, checked in under fixtures/hostile/, through the real command.
const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'hostile');
const PROJECT = path.resolve(import.meta.dirname, '../..');
const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml')).sort();

let dir: string;
let existing: string;
let existingBefore: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hostile-'));
  // An existing report folder that no failed command may touch.
  existing = path.join(dir, 'existing-report');
  mkdirSync(existing);
  writeFileSync(path.join(existing, 'journal.jsonl'), '{"type":"experiment","name":"kept"}\n');
  existingBefore = readFileSync(path.join(existing, 'journal.jsonl'), 'utf8');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function experiment(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await main(['experiment', ...args], { stdout, stderr, stdin: Readable.from([]), cwd: PROJECT }, new AbortController().signal);
  return { code, stdout: out, stderr: err };
}

function expectOneCleanLine(stderr: string, file: string): void {
  const lines = stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]!.startsWith(`${path.relative(PROJECT, file)}`)).toBe(true);
  // A path inside the file follows the name ("file: path: ...", or "file:line:col: ...").
  expect(lines[0]).toMatch(/^[^:]+\.yaml(:\d+:\d+)?: \S/);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('hostile input', () => {
  it(`has at least 50 malformed fixtures checked in (${fixtures.length})`, () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(50);
  });

  for (const name of fixtures.filter((f) => f.startsWith('experiment-'))) {
    it(`rejects ${name} with exit 2, one line naming the file, nothing written`, async () => {
      const file = path.join(FIXTURES, name);
      const fresh = path.join(dir, `out-${name}`);
      const r = await experiment(['--experiment', file, '--out', fresh]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expectOneCleanLine(r.stderr, file);
      expect(() => readdirSync(fresh)).toThrow();
      const again = await experiment(['--experiment', file, '--out', existing]);
      expect(again.code).toBe(2);
      expect(readdirSync(existing)).toEqual(['journal.jsonl']);
      expect(readFileSync(path.join(existing, 'journal.jsonl'), 'utf8')).toBe(existingBefore);
    });
  }

  for (const name of fixtures.filter((f) => f.startsWith('scenario-'))) {
    it(`rejects ${name} through an experiment that uses it, naming the scenario file`, async () => {
      const file = path.join(FIXTURES, name);
      const plan = path.join(dir, `plan-${name}`);
      writeFileSync(plan, `runs:\n  - scenario: ${JSON.stringify(file)}\n`);
      const r = await experiment(['--experiment', plan, '--out', path.join(dir, `out-${name}`)]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expectOneCleanLine(r.stderr, file);
    });
  }

  it('rejects a file over 1 MiB without parsing it', async () => {
    const file = path.join(dir, 'huge.yaml');
    writeFileSync(file, `description: "${'x'.repeat(1_100_000)}"\nruns: []\n`);
    const r = await experiment(['--experiment', file, '--out', path.join(dir, 'out-huge')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${file}: file is 1100025 bytes, over the 1048576-byte limit for plan files; is this the right file?\n`);
  });

  it('property: any YAML value as a scenario either loads or fails with one ConfigError line naming the file', () => {
    const file = path.join(dir, 'property-scenario.yaml');
    const leaf = fc.oneof(fc.integer(), fc.double(), fc.string(), fc.boolean(), fc.constant(null), fc.constantFrom('10s', '1m', 'none', 'http500', 'dashboard'));
    const keys = fc.constantFrom('release', 'load', 'warmup', 'recovery', 'flagger', 'manual', 'fault', 'errorRate', 'interval', 'threshold', 'operator', 'kind', 'rateRps', 'x');
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ maxDepth: 4 }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(keys, tie('node'), { maxKeys: 5 })),
    })).node;
    fc.assert(
      fc.property(value, (doc) => {
        writeFileSync(file, stringify(doc));
        try {
          loadScenarioFile(file);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          const message = (err as Error).message;
          expect(message.includes('\n')).toBe(false);
          expect(message.startsWith(file)).toBe(true);
        }
      }),
      { numRuns: 300, seed: 20261126 },
    );
  });

  it('property: random overrides in an experiment never escape as anything but one ConfigError line', () => {
    const file = path.join(dir, 'property-plan.yaml');
    const leaf = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ noNaN: false }), fc.string({ maxLength: 8 }), fc.constant(null));
    const overrides = fc.dictionary(fc.constantFrom('flagger', 'manual', 'load', 'release', 'recovery'), fc.dictionary(fc.constantFrom('interval', 'threshold', 'canaryWeight', 'rateRps', 'errorRate', 'deadlineS', 'zzz'), leaf, { maxKeys: 3 }), { maxKeys: 3 });
    fc.assert(
      fc.property(overrides, fc.constantFrom(['manual'], ['flagger'], ['manual', 'flagger']), (o, arms) => {
        writeFileSync(file, stringify({ runs: [{ scenario: 'faulty-500', arms, overrides: o }] }));
        try {
          loadExperimentFile(file, path.join(PROJECT, 'scenarios'));
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          expect((err as Error).message.includes('\n')).toBe(false);
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
