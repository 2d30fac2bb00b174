import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../common/errors.ts';
import { fidelityRunsCsv, readFidelityRunsCsv, writeFidelityRunsCsv, type FidelityRow } from './runs-csv.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'fidelity-runs-csv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: FidelityRow = {
  side: 'real',
  scenario: 'faulty-500-smoke',
  rep: 2,
  id: 'fidelity-abc123-r2',
  intervalS: 30,
  threshold: 2,
  smokeTest: true,
  scrapeIntervalS: 15,
  outcome: 'rolled_back',
  newRevisionS: 12.3456,
  detectS: 42.5,
  rollbackS: 102.25,
  failedRequests: 0,
  totalRequests: 2040,
  stableP99Ms: 4.2,
  timeouts: 0,
  loopLagMaxMs: 12.5,
  detectMessage: 'Halt sms-checker.ns advancement pre-rollout check smoke-test failed POST http://x/, "quoted"',
};

describe('fidelity runs.csv', () => {
  it('round-trips every field, with absent times empty, sorted real before model then by scenario and rep', () => {
    const rows: FidelityRow[] = [
      { ...base, side: 'model', rep: 1, id: 'model-run' },
      base,
      { ...base, rep: 1, outcome: 'promoted', detectS: undefined, rollbackS: undefined, detectMessage: undefined },
    ];
    const file = path.join(dir, 'runs.csv');
    writeFidelityRunsCsv(file, rows);
    const text = readFileSync(file, 'utf8');
    expect(text.split('\n')[0]).toBe(
      'side,scenario,rep,id,interval_s,threshold,smoke_test,scrape_interval_s,outcome,new_revision_s,detect_s,rollback_s,failed_requests,total_requests,stable_p99_ms,timeouts,loop_lag_max_ms,detect_message',
    );
    expect(text.split('\n')[1]).toBe(
      'real,faulty-500-smoke,1,fidelity-abc123-r2,30,2,true,15,promoted,12.346,,,0,2040,4.2,0,12.5,',
    );
    const back = readFidelityRunsCsv(file);
    expect(back.map((r) => `${r.side}/${r.rep}`)).toEqual(['real/1', 'real/2', 'model/1']);
    expect(back[1]).toEqual({ ...base, newRevisionS: 12.346 });
    expect(back[0]!.detectS).toBeUndefined();
    expect(back[0]!.detectMessage).toBeUndefined();
  });

  it('reads a runs.csv written before the loop-lag column, without it', () => {
    const file = path.join(dir, 'old.csv');
    const lines = fidelityRunsCsv([base]).split('\n');
    const drop = (line: string) => {
      const cells = line.split(',');
      return [...cells.slice(0, 16), ...cells.slice(17)].join(',');
    };
    writeFileSync(
      file,
      [drop(lines[0]!), 'real,faulty-500,1,ns,30,2,false,15,rolled_back,1.000,2.000,3.000,5,100,4.0,0,', ''].join('\n'),
    );
    const [row] = readFidelityRunsCsv(file);
    expect(row!.loopLagMaxMs).toBeUndefined();
    expect(row!.stableP99Ms).toBe(4);
  });

  it('names the line, field and value of a malformed row', () => {
    const file = path.join(dir, 'bad.csv');
    const good = fidelityRunsCsv([base]);
    writeFileSync(file, good.replace('real,faulty-500-smoke,2', 'real,faulty-500-smoke,two'));
    expect(() => readFidelityRunsCsv(file)).toThrow(ConfigError);
    expect(() => readFidelityRunsCsv(file)).toThrow(
      `${file}: line 2: rep is "two", not a number; fix or remove the line`,
    );
    writeFileSync(file, good.replace('rolled_back', 'rolledback'));
    expect(() => readFidelityRunsCsv(file)).toThrow(
      `${file}: line 2: outcome is "rolledback"; use one of rolled_back, promoted, neither`,
    );
    writeFileSync(file, good.replace('real,', 'kind,'));
    expect(() => readFidelityRunsCsv(file)).toThrow(`${file}: line 2: side is "kind"; use one of real, model`);
  });
});
