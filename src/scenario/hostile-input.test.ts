import {
  copyFileSync,
  existsSync,
  mkdirSync,
  symlinkSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.ts';
import { writeSyntheticReport } from '../../bench/synthetic-report.ts';
import { ConfigError } from '../common/errors.ts';
import { readJournal } from '../experiment/journal.ts';
import { buildReportModel } from '../report/build-model.ts';
import { renderHtml } from '../report/html.ts';
import { displayPath, loadExperimentFile, loadScenarioFile } from './load-files.ts';
import { alertOperatorSchema, faultyServiceCount } from './schema.ts';

// Malformed plan and scenario files, checked in under fixtures/hostile/, through the real command.
const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'hostile');
const PROJECT = path.resolve(import.meta.dirname, '../..');
const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

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
  return command('experiment', args);
}

async function command(name: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await main(
    [name, ...args],
    { stdout, stderr, stdin: Readable.from([]), cwd: PROJECT },
    new AbortController().signal,
  );
  return { code, stdout: out, stderr: err };
}

function expectOneCleanLine(stderr: string, file: string): void {
  const lines = stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]!.startsWith(displayPath(file, PROJECT))).toBe(true);
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
      // Beside the plan: a scenario reference may not leave the plan's folder (or scenarios/).
      const file = path.join(dir, name);
      copyFileSync(path.join(FIXTURES, name), file);
      const plan = path.join(dir, `plan-${name}`);
      writeFileSync(plan, `runs:\n  - scenario: ${JSON.stringify(name)}\n`);
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
    expect(r.stderr).toBe(
      `${file}: file is 1100025 bytes, over the 1048576-byte limit for plan files; is this the right file?\n`,
    );
  });

  it('property: any YAML value as a scenario either loads or fails with one ConfigError line naming the file', () => {
    const file = path.join(dir, 'property-scenario.yaml');
    const leaf = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.constantFrom('10s', '1m', 'none', 'http500', 'dashboard'),
    );
    const keys = fc.constantFrom(
      'release',
      'load',
      'warmup',
      'recovery',
      'flagger',
      'manual',
      'fault',
      'errorRate',
      'interval',
      'threshold',
      'operator',
      'kind',
      'rateRps',
      'x',
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { maxDepth: 4 },
        leaf,
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(keys, tie('node'), { maxKeys: 5 }),
      ),
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
    const leaf = fc.oneof(
      fc.integer({ min: -1000, max: 1000 }),
      fc.double({ noNaN: false }),
      fc.string({ maxLength: 8 }),
      fc.constant(null),
    );
    const overrides = fc.dictionary(
      fc.constantFrom('flagger', 'manual', 'load', 'release', 'recovery'),
      fc.dictionary(
        fc.constantFrom('interval', 'threshold', 'canaryWeight', 'rateRps', 'errorRate', 'deadlineS', 'zzz'),
        leaf,
        { maxKeys: 3 },
      ),
      { maxKeys: 3 },
    );
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

/** A stand-in for a credentials file: its token must never appear in any message. */
const TOKEN = 'ghp_S3cr3tT0kenThatMustNeverBePrinted';

function oneLine(r: { code: number; stdout: string; stderr: string }, expected: RegExp | string): void {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  if (typeof expected === 'string') expect(lines[0]).toBe(expected);
  else expect(lines[0]).toMatch(expected);
  expect(r.stderr).not.toContain(TOKEN);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('hostile references, journals and arguments', () => {
  let plans: string;
  let outside: string;
  beforeAll(() => {
    plans = path.join(dir, 'plans');
    outside = path.join(dir, 'outside');
    mkdirSync(plans);
    mkdirSync(outside);
    // Valid YAML scenarios, but outside both allowed folders: the content must not matter.
    writeFileSync(path.join(outside, 'secret.yaml'), `token: ${TOKEN}\n`);
    writeFileSync(path.join(outside, 'credentials'), `${TOKEN}\n`);
  });

  const plan = (name: string, scenarioRef: string) => {
    const file = path.join(plans, name);
    writeFileSync(file, `runs:\n  - scenario: ${JSON.stringify(scenarioRef)}\n`);
    return file;
  };

  it('refuses a scenario reference outside scenarios/ and the plan folder, by absolute path or ../', async () => {
    for (const ref of [path.join(outside, 'secret.yaml'), '../outside/secret.yaml']) {
      const file = plan('escape.yaml', ref);
      const r = await experiment(['--experiment', file, '--out', path.join(dir, 'out-escape')]);
      oneLine(
        r,
        `${file}: runs[0].scenario: "${ref}" is outside scenarios/ or the experiment's folder ${plans}/ (symlinks followed); copy the scenario into one of them`,
      );
    }
  });

  it('refuses a symlink in the plan folder that points outside it (realpath checked)', async () => {
    symlinkSync(path.join(outside, 'secret.yaml'), path.join(plans, 'linked.yaml'));
    const file = plan('symlink.yaml', 'linked.yaml');
    const r = await experiment(['--experiment', file, '--out', path.join(dir, 'out-symlink')]);
    oneLine(
      r,
      /^\S+symlink\.yaml: runs\[0\]\.scenario: "linked\.yaml" is outside scenarios\/ or the experiment's folder /,
    );
  });

  it('refuses a scenario reference that is not a .yaml or .yml file', async () => {
    const file = plan('not-yaml.yaml', '../outside/credentials');
    const r = await experiment(['--experiment', file, '--out', path.join(dir, 'out-not-yaml')]);
    oneLine(
      r,
      `${file}: runs[0].scenario: "../outside/credentials" is not a .yaml or .yml file; name a scenario in scenarios/ or the experiment's folder ${plans}/`,
    );
  });

  it('names a file that is not a YAML mapping without echoing its content', async () => {
    const file = path.join(plans, 'token.yaml');
    writeFileSync(file, `${TOKEN}\n`);
    const r = await experiment(['--experiment', file, '--out', path.join(dir, 'out-token')]);
    oneLine(
      r,
      `${file}: (top level): the file holds text, not a mapping of fields; name a plan or scenario file (key: value lines)`,
    );
    // The same through a scenario reference beside the plan.
    const scenario = path.join(plans, 'token-scenario.yaml');
    writeFileSync(scenario, `- ${TOKEN}\n`);
    const viaPlan = await experiment([
      '--experiment',
      plan('uses-token.yaml', 'token-scenario.yaml'),
      '--out',
      path.join(dir, 'out-token-2'),
    ]);
    oneLine(
      viaPlan,
      `${scenario}: (top level): the file holds a list, not a mapping of fields; name a plan or scenario file (key: value lines)`,
    );
  });

  it('reads regular files only: /dev/zero and a FIFO are refused, without blocking or reading forever', async () => {
    const zero = await experiment(['--experiment', '/dev/zero', '--out', path.join(dir, 'out-zero')]);
    oneLine(zero, '/dev/zero: not a regular file (a device, FIFO or socket); name a YAML file');
    const fifo = path.join(plans, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    const r = await experiment(['--experiment', fifo, '--out', path.join(dir, 'out-fifo')]);
    oneLine(r, `${fifo}: not a regular file (a device, FIFO or socket); name a YAML file`);
  });

  it('--out naming a file: one line, exit 2, the file untouched', async () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'keep');
    const r = await experiment(['--out', file]);
    oneLine(r, `--out: ${file} is a file, not a folder; pass a new folder for the report`);
    expect(readFileSync(file, 'utf8')).toBe('keep');
  });

  it('npm run cleanup -- --bogus, and --context, --experiment-id or --yes without --kubeconfig: one line, exit 2', async () => {
    oneLine(await command('cleanup', ['--bogus']), '--bogus: unknown option; see --help');
    for (const flag of [['--context', 'prod'], ['--experiment-id', 'k3v9x0qa'], ['--yes']]) {
      oneLine(
        await command('cleanup', flag),
        `${flag[0]}: only with --kubeconfig FILE; cleanup deletes namespaces on a cluster only when its kubeconfig is named`,
      );
    }
    oneLine(
      await command('cleanup', ['--kubeconfig', '/nonexistent', '--experiment-id', 'a,b']),
      '--experiment-id: "a,b" is not an experiment id (the journal header\'s "id": letters, digits, "-", "_" or ".", at most 63)',
    );
  });

  it('npm run cleanup acts on no cluster when only KUBECONFIG is exported', async () => {
    // A kubeconfig that fails loudly whenever it is read.
    const kubeconfig = path.join(dir, 'exported-kubeconfig');
    writeFileSync(kubeconfig, 'not: [a kubeconfig\n');
    const saved = { KUBECONFIG: process.env.KUBECONFIG, CANARY_MTTR_STATE_DIR: process.env.CANARY_MTTR_STATE_DIR };
    // An empty state folder of its own: this cleanup must find no leftover of other tests.
    process.env.CANARY_MTTR_STATE_DIR = path.join(dir, 'cleanup-state');
    process.env.KUBECONFIG = kubeconfig;
    try {
      const r = await command('cleanup', []);
      expect(r).toEqual({ code: 0, stdout: 'Local: removed 0 leftover process(es)\n', stderr: '' });
      const named = await command('cleanup', ['--kubeconfig', kubeconfig]);
      expect(named.stderr).toBe(`--kubeconfig: ${kubeconfig} is not a valid kubeconfig; check the file\n`);
      expect(named.code).toBe(2);
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('a sweep of faultyServices above services: one line naming the plan, the cell and the value', async () => {
    const file = path.join(plans, 'faulty-services.yaml');
    writeFileSync(
      file,
      'runs:\n  - scenario: faulty-500\n    overrides: { services: 2 }\n    sweep: { faultyServices: [1, 3] }\n',
    );
    const r = await experiment(['--experiment', file, '--out', path.join(dir, 'out-faulty-services')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `${displayPath(file, PROJECT)}: runs[0].sweep.faultyServices: 3 is more than services (2); set it to at most 2\n`,
    );
  });

  it('faultyServices defaults to 1 for a faulty release and 0 for a healthy one', () => {
    const file = path.join(plans, 'faulty-services-default.yaml');
    writeFileSync(file, 'runs:\n  - scenario: faulty-500\n    overrides: { services: 4 }\n  - scenario: healthy\n');
    const [faulty, healthy] = loadExperimentFile(file, path.join(PROJECT, 'scenarios')).cells.map((c) => c.scenario);
    expect([faulty!.services, faultyServiceCount(faulty!)]).toEqual([4, 1]);
    expect([healthy!.services, faultyServiceCount(healthy!)]).toEqual([1, 0]);
  });

  it('an override that changes manual.operator.kind replaces the operator instead of merging fields into it', () => {
    const file = path.join(plans, 'kind-change.yaml');
    writeFileSync(
      file,
      'runs:\n  - scenario: faulty-500\n    arms: [manual]\n    overrides: { manual: { operator: { kind: alert, groupWaitS: 5 } } }\n',
    );
    const scenario = loadExperimentFile(file, path.join(PROJECT, 'scenarios')).cells[0]!.scenario;
    expect(scenario.manual.operator).toEqual(alertOperatorSchema.parse({ kind: 'alert', groupWaitS: 5 }));
  });

  describe('a journal is input too (npm run report, --resume)', () => {
    /** A synthetic report folder whose journal line `line` (1 = header) has `value` at `field` (a.0.b). */
    function tampered(name: string, line: number, field: string, value: unknown): { folder: string; journal: string } {
      const folder = path.join(dir, name);
      writeSyntheticReport(folder, 2, 50);
      const journal = path.join(folder, 'journal.jsonl');
      const lines = readFileSync(journal, 'utf8').split('\n');
      const json = JSON.parse(lines[line - 1]!);
      const keys = field.split('.');
      const parent = keys
        .slice(0, -1)
        .reduce((node, key) => node[key] as Record<string, unknown>, json as Record<string, unknown>);
      parent[keys[keys.length - 1]!] = value;
      lines[line - 1] = JSON.stringify(json);
      writeFileSync(journal, lines.join('\n'));
      return { folder, journal };
    }

    it('timeScale: 0 in the header: one line naming line and field (was a RangeError), for report and --resume', async () => {
      const { folder, journal } = tampered('ts-zero', 1, 'timeScale', 0);
      oneLine(await command('report', [folder]), `${journal}:1: timeScale: 0 is below the minimum 0.1`);
      expect(existsSync(path.join(folder, 'report.html'))).toBe(false);
      oneLine(await experiment(['--resume', folder]), `${journal}:1: timeScale: 0 is below the minimum 0.1`);
    });

    it('a header scenario the plan schema refuses', async () => {
      const { folder, journal } = tampered('bad-scenario', 1, 'scenarios.0.manual.canaryWeight', 500);
      oneLine(
        await command('report', [folder]),
        `${journal}:1: scenarios[0].manual.canaryWeight: 500 is above the maximum 100`,
      );
    });

    it('markup in a run field that must be a number', async () => {
      const { folder, journal } = tampered('markup', 2, 'metrics.failedRequests', '<script>alert(1)</script>');
      oneLine(
        await command('report', [folder]),
        `${journal}:2: metrics.failedRequests: "<script>alert(1)</script>" is not a number`,
      );
      expect(existsSync(path.join(folder, 'report.html'))).toBe(false);
    });

    it("a requestsFile outside the folder's requests/", async () => {
      for (const target of ['../../../../etc/passwd', '/etc/passwd', 'requests/../journal.jsonl']) {
        const { folder, journal } = tampered(`requests-${target.length}`, 3, 'requestsFile', target);
        oneLine(
          await command('report', [folder]),
          `${journal}:3: requestsFile: ${JSON.stringify(target)} must name a .csv file in the report's requests/ folder`,
        );
      }
    });

    it('a journal that is a FIFO is refused without blocking', async () => {
      const folder = path.join(dir, 'fifo-journal');
      mkdirSync(folder);
      execFileSync('mkfifo', [path.join(folder, 'journal.jsonl')]);
      oneLine(
        await command('report', [folder]),
        `${path.join(folder, 'journal.jsonl')}: not a regular file; a journal is a file written by npm run experiment`,
      );
      oneLine(
        await experiment(['--resume', folder]),
        `${path.join(folder, 'journal.jsonl')}: not a regular file; a journal is a file written by npm run experiment`,
      );
    });

    it('report.html escapes every cell, numbers included', () => {
      const folder = path.join(dir, 'escape');
      writeSyntheticReport(folder, 2, 50);
      const journal = readJournal(path.join(folder, 'journal.jsonl'));
      const model = buildReportModel(journal.header!, journal.runs, []);
      // Past the schema (as a field added later might be): the page must still carry no live markup.
      (model.runs[0]!.metrics as unknown as Record<string, unknown>).failedRequests = '<img src=x onerror=alert(1)>';
      const html = renderHtml(model, []);
      expect(html).not.toContain('<img src=x');
      expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    });
  });
});
