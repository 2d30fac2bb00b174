import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/files.ts';
import type { RequestRecord } from '../load/types.ts';

const HEADER = 'sent_ms,done_ms,latency_ms,status,version';

/**
 * A run's request records as CSV, one line per request, times in scenario ms from the run's
 * start. Written by hand rather than through csv-stringify: five plain fields, millions of rows.
 */
export function writeRequestsFile(file: string, records: readonly RequestRecord[]): void {
  const lines = new Array<string>(records.length + 1);
  // A release train of more than one service (docs/design.md §13) adds the service's position.
  const train = records.some((r) => r.service !== undefined);
  lines[0] = train ? `${HEADER},service` : HEADER;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const version = /^[A-Za-z0-9._-]*$/.test(r.version) ? r.version : JSON.stringify(r.version).replace(/,/g, '');
    const line = `${round(r.sentMs)},${round(r.doneMs)},${round(r.latencyMs)},${r.status},${version}`;
    lines[i + 1] = train ? `${line},${r.service ?? ''}` : line;
  }
  writeFileAtomic(file, `${lines.join('\n')}\n`);
}

export function readRequestsFile(file: string): RequestRecord[] {
  const text = readFileSync(file, 'utf8');
  const out: RequestRecord[] = [];
  let start = text.indexOf('\n') + 1;
  while (start > 0 && start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line === '') continue;
    const parts = line.split(',');
    const record: RequestRecord = {
      sentMs: Number(parts[0]),
      doneMs: Number(parts[1]),
      latencyMs: Number(parts[2]),
      status: Number(parts[3]),
      version: parts[4] ?? '',
    };
    if (parts[5] !== undefined && parts[5] !== '') record.service = Number(parts[5]);
    out.push(record);
  }
  return out;
}

/**
 * Scenario times are kept to the microsecond everywhere they are written (requests/*.csv,
 * runs.csv, the journal), so a figure in runs.csv is recomputed exactly from the request records:
 * `sent_ms >= release_ms` selects the very requests that `total_requests` counted.
 */
export function toMicroseconds(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

const round = toMicroseconds;
