// npm run bench:report — builds a report from a synthetic experiment of 1,000,000 request records
// (and, for the growth exponent, 10k and 100k) and prints wall time and peak memory per size.
// Targets: 1M records under 15 s and under 1 GiB; growth linear or better.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSyntheticReport } from './synthetic-report.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const sizes = (process.argv[2] ?? '10000,100000,1000000').split(',').map(Number);
const RUNS = 40;

interface Row {
  records: number;
  wallMs: number;
  peakRssMiB: number;
}

const rows: Row[] = [];
for (const records of sizes) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-report-'));
  try {
    writeSyntheticReport(dir, RUNS, Math.round(records / RUNS));
    const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(here, 'report-build-child.ts'), dir], {
      encoding: 'utf8',
    });
    const figures = JSON.parse(out.trim().split('\n').pop()!) as { wallMs: number; peakRssMiB: number };
    rows.push({ records, ...figures });
    process.stdout.write(
      `${String(records).padStart(9)} records: ${(figures.wallMs / 1000).toFixed(2)} s, peak RSS ${figures.peakRssMiB.toFixed(0)} MiB\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
if (rows.length >= 2) {
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  const exponent = Math.log(last.wallMs / first.wallMs) / Math.log(last.records / first.records);
  process.stdout.write(
    `growth exponent of wall time (${first.records} → ${last.records} records): ${exponent.toFixed(2)} (1 = linear)\n`,
  );
}
const million = rows.find((r) => r.records === 1_000_000);
if (million) {
  const wallOk = million.wallMs < 15_000;
  const memOk = million.peakRssMiB < 1024;
  process.stdout.write(
    `1M records: wall ${(million.wallMs / 1000).toFixed(2)} s (target < 15 s: ${wallOk ? 'pass' : 'MISS'}), ` +
      `peak ${million.peakRssMiB.toFixed(0)} MiB (target < 1024 MiB: ${memOk ? 'pass' : 'MISS'})\n`,
  );
}
