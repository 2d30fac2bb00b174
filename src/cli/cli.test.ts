import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesLabelled, runCli, startCli, waitFor } from '../test-support/cli.ts';

let dir: string;
const file = (name: string, text: string | Buffer) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cli-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `experiment --experiment <file>` and returns what the user sees. */
async function experimentWith(name: string, yaml: string | Buffer, extra: string[] = []) {
  const plan = file(name, yaml);
  const out = path.join(dir, `out-${name}`);
  const result = await runCli(['experiment', '--experiment', plan, '--out', out, ...extra]);
  return { ...result, plan, out };
}

describe('bad input ends with one line naming file, field and value', () => {
  const cases: Array<[string, string, (p: string) => string]> = [
    [
      'malformed.yaml',
      'runs: [\n',
      (p) =>
        `${p}:2:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    ],
    [
      'bad-arm.yaml',
      'runs:\n  - scenario: faulty-500\n    arms: [manual, canary]\n',
      (p) => `${p}: runs[0].arms[1]: "canary" is not one of manual, flagger`,
    ],
    [
      'unknown-key.yaml',
      'timeScale: 10\nrunz: []\n',
      (p) =>
        `${p}: (top level): unknown key "runz"; check the spelling against the documented fields (and 1 more problem)`,
    ],
    [
      'wrong-type.yaml',
      'timeScale: fast\nruns:\n  - scenario: faulty-500\n',
      (p) => `${p}: timeScale: "fast" is not a number`,
    ],
    [
      'no-scenario.yaml',
      'runs:\n  - scenario: nope\n',
      (p) =>
        `${p}: runs[0].scenario: "nope" not found (looked for scenarios/nope.yaml); name a file in scenarios/ or give a path`,
    ],
    [
      'short-interval.yaml',
      'runs:\n  - scenario: faulty-500\n    overrides:\n      flagger: { interval: 5s }\n',
      (p) => `${p}: runs[0].overrides.flagger.interval: 5s is below Flagger's 10s minimum`,
    ],
    [
      'negative.yaml',
      'repetitions: -3\nruns:\n  - scenario: faulty-500\n',
      (p) => `${p}: repetitions: -3 is below the minimum 1`,
    ],
  ];
  for (const [name, yaml, expected] of cases) {
    it(name, async () => {
      const r = await experimentWith(name, yaml);
      expect(r.stderr).toBe(`${expected(r.plan)}\n`);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(existsSync(r.out)).toBe(false);
    });
  }

  it('names the scenario file when the scenario itself is invalid', async () => {
    const scenario = file('weight.yaml', 'manual:\n  canaryWeight: 120\n');
    const r = await experimentWith('uses-weight.yaml', `runs:\n  - scenario: ${scenario}\n`);
    expect(r.stderr).toBe(`${scenario}: manual.canaryWeight: 120 is above the maximum 100\n`);
    expect(r.code).toBe(2);
  });

  it('rejects a file that is not UTF-8', async () => {
    const r = await experimentWith('latin1.yaml', Buffer.from([0x72, 0x75, 0x6e, 0x73, 0x3a, 0x20, 0xff, 0xfe, 0x0a]));
    expect(r.stderr).toBe(`${r.plan}: file is not valid UTF-8; save it as UTF-8 text\n`);
    expect(r.code).toBe(2);
  });

  it('rejects a YAML alias bomb without expanding it', async () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 12; i++)
      lines.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`,
      );
    const r = await experimentWith('bomb.yaml', `${lines.join('\n')}\nruns: []\n`);
    expect(r.stderr).toMatch(
      new RegExp(`^${r.plan.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: YAML cannot be expanded: .*\\n$`),
    );
    expect(r.code).toBe(2);
  });

  it('rejects an unknown platform', async () => {
    const r = await runCli(['experiment', '--platform', 'mars']);
    expect(r.stderr).toBe('--platform: "mars" is not a platform; use one of local, kube\n');
    expect(r.code).toBe(2);
  });

  it('rejects a bad option value and an unknown option', async () => {
    const a = await runCli(['experiment', '--time-scale', 'abc']);
    expect(a.stderr).toBe('--time-scale: "abc" is not a number from 0.1 to 200 (scenario seconds per wall second)\n');
    expect(a.code).toBe(2);
    const ns = await runCli(['experiment', '--platform', 'kube', '--loadtester-namespace', 'Flagger_Tests']);
    expect(ns.stderr).toBe(
      `--loadtester-namespace: "Flagger_Tests" is not a namespace name; use lower-case letters, digits and '-', at most 63, such as canary-mttr\n`,
    );
    expect(ns.code).toBe(2);
    const b = await runCli(['experiment', '--bogus']);
    expect(b.stderr).toBe('--bogus: unknown option; see --help\n');
    expect(b.code).toBe(2);
  });

  it('refuses to write into a folder that already holds results', async () => {
    const existing = mkdtempSync(path.join(dir, 'existing-'));
    writeFileSync(path.join(existing, 'journal.jsonl'), '{}\n');
    const r = await runCli(['experiment', '--out', existing]);
    expect(r.stderr).toBe(
      `--out: ${existing} already exists and is not empty; pass a new folder so no result is overwritten\n`,
    );
    expect(r.code).toBe(2);
    expect(readFileSync(path.join(existing, 'journal.jsonl'), 'utf8')).toBe('{}\n');
  });

  it('prints help', async () => {
    const r = await runCli(['experiment', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: npm run experiment -- \[options\]/);
    expect(r.stdout).toContain('--time-scale X');
  });
});

describe('Ctrl-C during an experiment', () => {
  it('stops, keeps the journaled runs, writes the report and leaves no child process', async () => {
    const name = `ctrlc-${process.pid}-${Date.now().toString(36)}`;
    const plan = file(
      'ctrlc.yaml',
      [
        `name: ${name}`,
        'timeScale: 20',
        'concurrency: 1',
        'repetitions: 10',
        'runs:',
        '  - scenario: faulty-500',
        '    arms: [flagger]',
        '    overrides:',
        '      flagger: { interval: 10s, threshold: 1 }',
        '      recovery: { cleanWindowS: 5 }',
        '      warmup: { durationS: 5 }',
        // 5 req/s × 20 = 100 req/s of wall time: little enough CPU that a busy machine still keeps
        // up with the compressed clock; this test is about Ctrl-C, not throughput.
        '      load: { rateRps: 5 }',
      ].join('\n'),
    );
    const out = path.join(dir, 'out-ctrlc');
    const cli = startCli(['experiment', '--experiment', plan, '--out', out]);
    try {
      await waitFor(() => /\[ 1\/10\]/.test(cli.stdout()), 60_000, 'the first run to finish');
      // Mid-run: app processes of the second run are up now.
      await waitFor(() => processesLabelled(name).length >= 2, 20_000, 'app processes of the second run');
      cli.child.kill('SIGINT');
      const result = await cli.done;
      expect(result.code).toBe(130);
      expect(result.stderr).toContain('SIGINT: stopping the current run and cleaning up');
      expect(result.stderr).toContain(
        'Interrupted: the finished runs are journaled and in the report; no process was left running.',
      );
      expect(processesLabelled(name)).toEqual([]);
      const journal = readFileSync(path.join(out, 'journal.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const runs = journal.filter((l) => l.type === 'run');
      expect(runs.length).toBeGreaterThanOrEqual(1);
      expect(runs[0].runId).toBe('faulty-500-flagger-r01');
      const csv = readFileSync(path.join(out, 'runs.csv'), 'utf8').trim().split('\n');
      expect(csv.length).toBe(runs.length + 1);
      expect(existsSync(path.join(out, 'report.md'))).toBe(true);
      expect(readdirSync(path.join(out, 'requests'))).toContain('faulty-500-flagger-r01.csv');
    } finally {
      cli.child.kill('SIGKILL');
      for (const pid of processesLabelled(name)) process.kill(pid, 'SIGKILL');
    }
    // Above the sum of the bounded waits (60 s + 20 s) and the CLI's own cleanup after SIGINT:
    // the waits, not the test's timeout, are what should report a stuck run.
  }, 120_000);
});
