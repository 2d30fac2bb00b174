// Builds one report in a fresh process and prints its wall time and peak memory as JSON, so the
// benchmark measures the report build alone (not the data generation that came before it).
import { writeReport } from '../src/report/write-report.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: report-build-child.ts DIR');
const started = performance.now();
await writeReport(dir);
const wallMs = performance.now() - started;
process.stdout.write(`${JSON.stringify({ wallMs, peakRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`);
