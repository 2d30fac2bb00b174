// Tools tier (npm run test:tools): the k6 path against real faulty-app processes; needs k6.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../faulty-app/build.ts';
import { isAlive } from '../process/procfs.ts';
import { ScaledClock, sleepWall } from '../common/clock.ts';
import { ProcessRegistry } from '../process/registry.ts';
import { BuiltinLoadGenerator, type LoadOptions, type LoadSummary } from './builtin-generator.ts';
import { LoadError } from './errors.ts';
import { findK6, K6LoadGenerator } from './k6-generator.ts';
import type { RequestRecord } from './types.ts';
import { closedPort } from '../test-support/ports.ts';

/** A real faulty-app process on 127.0.0.1. */
interface App {
  url: string;
  child: ChildProcess;
}

let workDir: string;
let bundle: string;
let k6: K6LoadGenerator;
let k6Missing: unknown;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'canary-mttr-k6-test-'));
  bundle = await buildApp(path.join(workDir, 'app.mjs'));
  try {
    k6 = await K6LoadGenerator.create();
  } catch (err) {
    k6Missing = err;
  }
});

/**
 * No skip when k6 is missing: the k6 path is part of what this suite proves, so each test that
 * needs k6 fails with create()'s message, which says to run npm run tools:install first.
 */
function needK6(): void {
  if (k6Missing !== undefined) throw k6Missing;
}

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function withApp(env: Record<string, string>, body: (app: App) => Promise<void>): Promise<void> {
  const child = spawn(process.execPath, [bundle], {
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const newline = out.indexOf('\n');
        if (newline < 0) return;
        const line = JSON.parse(out.slice(0, newline)) as { event: string; port: number };
        if (line.event === 'listening') resolve(line.port);
        else reject(new Error(`faulty-app said ${out.slice(0, newline)}`));
      });
      child.once('exit', (code) => reject(new Error(`faulty-app exited with ${code}: ${err}`)));
    });
    await body({ url: `http://127.0.0.1:${port}/sms`, child });
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
}

interface Run<S extends LoadSummary> {
  records: RequestRecord[];
  summary: S;
  /** Scenario ms just before start() and just after stop() was called / resolved. */
  startMs: number;
  stopMs: number;
  stoppedMs: number;
}

async function runLoad<S extends LoadSummary>(
  generator: { start(options: LoadOptions): { stop(): Promise<S>; ready?: Promise<void> } },
  url: string,
  wallMs: number,
  overrides: Partial<LoadOptions> = {},
): Promise<Run<S>> {
  const records: RequestRecord[] = [];
  const clock = overrides.clock ?? new ScaledClock(1);
  const startMs = clock.now();
  const load = generator.start({
    url,
    rateRps: 50,
    clock,
    timeoutMs: 1_000,
    maxInFlight: 100,
    onRecord: (r) => records.push(r),
    ...overrides,
  });
  // k6 takes a moment to start; the window that counts is the one with load in it.
  await load.ready;
  await sleepWall(wallMs);
  // Read after the call: both generators take the stop time inside stop(), synchronously.
  const stopping = load.stop();
  const stopMs = clock.now();
  const summary = await stopping;
  return { records, summary, startMs, stopMs, stoppedMs: clock.now() };
}

function shapeOf(record: RequestRecord): Array<[string, string]> {
  return Object.entries(record).map(([k, v]) => [k, typeof v]);
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function waitUntil(condition: () => boolean, timeoutWallMs: number): Promise<void> {
  const deadline = performance.now() + timeoutWallMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutWallMs} ms`);
    await sleepWall(20);
  }
}

/** Requests per second from the spread of send times (the load's own view of its rate). */
function sentRate(records: RequestRecord[], timeScale = 1): number {
  const sent = records.map((r) => r.sentMs).sort((a, b) => a - b);
  return ((sent.length - 1) * 1000 * timeScale) / (sent.at(-1)! - sent[0]!);
}

describe('K6LoadGenerator', () => {
  test('k6 is found and reports its version', () => {
    needK6();
    expect(findK6()).toBeDefined();
    expect(k6.describe()).toBe('k6 v1.8.1');
  });

  test('against faulty-app at 50 req/s, its records match the built-in generator in shape, version, 500 share and rate', async () => {
    needK6();
    await withApp({ APP_VERSION: 'v7', FAULT_MODE: 'http500', FAULT_ERROR_RATE: '0.3' }, async (app) => {
      const viaK6 = await runLoad(k6, app.url, 3_000);
      const builtin = await runLoad(new BuiltinLoadGenerator(), app.url, 3_000);

      for (const run of [viaK6, builtin]) {
        const { records, summary } = run;
        expect(records.length).toBeGreaterThanOrEqual(140);
        expect(summary.recorded).toBe(records.length);
        expect(summary).toMatchObject({ dropped: 0, timedOut: 0, errored: 0 });
        expect(summary.completed).toBe(records.length);
        expect(records.every((r) => r.version === 'v7')).toBe(true);
        expect(records.every((r) => r.status === 200 || r.status === 500)).toBe(true);
        // 500s are a binomial share: within 4 standard deviations of 0.3 (a false alarm in 15,000).
        const n = records.length;
        const share = records.filter((r) => r.status === 500).length / n;
        expect(Math.abs(share - 0.3)).toBeLessThan(4 * Math.sqrt((0.3 * 0.7) / n));
        expect(summary.failed).toBe(records.filter((r) => r.status === 500).length);
        // The rate, as the summary states it and as the send times show it.
        expect(Math.abs(summary.achievedRps - 50) / 50).toBeLessThan(0.05);
        expect(Math.abs(sentRate(records) - 50) / 50).toBeLessThan(0.05);
        // On the scenario clock: inside the run's window, not epoch milliseconds.
        for (const r of records) {
          expect(r.sentMs).toBeGreaterThanOrEqual(run.startMs);
          expect(r.sentMs).toBeLessThanOrEqual(run.stopMs);
          expect(r.doneMs).toBeGreaterThanOrEqual(r.sentMs);
          expect(r.doneMs).toBeLessThanOrEqual(run.stoppedMs);
          expect(r.latencyMs).toBeCloseTo(r.doneMs - r.sentMs, 6);
          expect(r.latencyMs).toBeLessThan(1_000);
        }
      }
      // Identical in shape: the same keys in the same order, with the same types.
      const shape = shapeOf(builtin.records[0]!);
      expect(shape).toEqual([
        ['sentMs', 'number'],
        ['doneMs', 'number'],
        ['latencyMs', 'number'],
        ['status', 'number'],
        ['version', 'string'],
      ]);
      for (const r of [...viaK6.records, ...builtin.records]) expect(shapeOf(r)).toEqual(shape);

      const k6Summary = viaK6.summary;
      expect(k6Summary).toMatchObject({ generator: 'k6 v1.8.1', malformedLines: 0, lost: 0, unpaired: 0 });
      expect(k6Summary.sendLag.count).toBe(k6Summary.sent);
      expect(Object.keys(builtin.summary).every((k) => k in k6Summary)).toBe(true);
    });
  });

  test('time compression: 5 req/s at 10× is 50 req/s wall; times are scenario ms, latency real ms', async () => {
    needK6();
    await withApp({ APP_VERSION: 'v1', FAULT_MODE: 'latency', FAULT_LATENCY_MS: '20' }, async (app) => {
      const clock = new ScaledClock(10);
      const run = await runLoad(k6, app.url, 2_000, { rateRps: 5, clock });
      const { records, summary } = run;
      expect(records.length).toBeGreaterThanOrEqual(90);
      expect(Math.abs(summary.achievedRps - 5) / 5).toBeLessThan(0.05);
      expect(Math.abs(sentRate(records) - 5) / 5).toBeLessThan(0.05);
      expect(summary.scenarioDurationMs / summary.wallDurationMs).toBeCloseTo(10, 6);
      const sent = records.map((r) => r.sentMs).sort((a, b) => a - b);
      // 200 scenario ms apart: 20 ms of wall time at 10×.
      expect(median(sent.slice(1).map((t, i) => t - sent[i]!))).toBeCloseTo(200, -1);
      for (const r of records) {
        expect(r.status).toBe(200);
        expect(r.latencyMs).toBeGreaterThanOrEqual(19);
        expect(r.latencyMs).toBeLessThan(500);
        expect(r.doneMs - r.sentMs).toBeCloseTo(r.latencyMs * 10, 4);
        expect(r.sentMs).toBeGreaterThanOrEqual(run.startMs);
        expect(r.sentMs).toBeLessThanOrEqual(run.stopMs);
      }
    });
  });

  test('stop() waits for requests in flight, records none sent after it, and k6 is gone after', async () => {
    needK6();
    await withApp({ APP_VERSION: 'v2', FAULT_MODE: 'latency', FAULT_LATENCY_MS: '400' }, async (app) => {
      await using registry = new ProcessRegistry();
      const generator = new K6LoadGenerator({ ...k6.options, processes: registry });
      const records: RequestRecord[] = [];
      const clock = new ScaledClock(1);
      const load = generator.start({
        url: app.url,
        rateRps: 20,
        clock,
        timeoutMs: 2_000,
        maxInFlight: 50,
        onRecord: (r) => records.push(r),
      });
      await load.ready;
      const [pid] = registry.pids;
      expect(pid).toBeDefined();
      expect(isAlive(pid!)).toBe(true);
      await sleepWall(1_500);
      // About 8 requests are out now, each answered after 400 ms.
      expect(load.stats.inFlight).toBeGreaterThan(0);
      const stopping = load.stop();
      const stopMs = clock.now();
      const summary = await stopping;
      const tookMs = clock.now() - stopMs;
      expect(tookMs).toBeGreaterThanOrEqual(250);
      expect(tookMs).toBeLessThan(2_000);

      expect(records.length).toBe(summary.recorded);
      expect(records.length).toBeGreaterThanOrEqual(28);
      expect(records.every((r) => r.status === 200 && r.version === 'v2')).toBe(true);
      expect(records.every((r) => r.sentMs <= stopMs)).toBe(true);
      // The last requests before the stop were answered after it.
      expect(Math.max(...records.map((r) => r.doneMs))).toBeGreaterThan(stopMs);
      expect(summary).toMatchObject({ lost: 0, dropped: 0, timedOut: 0 });
      expect(summary.afterStop).toBeGreaterThan(0);
      expect(summary.maxInFlightSeen).toBeGreaterThanOrEqual(7);

      expect(registry.pids).toEqual([]);
      expect(isAlive(pid!)).toBe(false);
      expect(await load.stop()).toBe(summary);
    });
  });

  test('a timeout and a refused connection are status 0, counted as timed out and errored', async () => {
    needK6();
    await withApp({ APP_VERSION: 'v3', FAULT_MODE: 'latency', FAULT_LATENCY_MS: '2000' }, async (app) => {
      const slow = await runLoad(k6, app.url, 1_000, { rateRps: 20, timeoutMs: 200 });
      expect(slow.records.length).toBeGreaterThanOrEqual(18);
      for (const r of slow.records) {
        expect(r.status).toBe(0);
        expect(r.latencyMs).toBeGreaterThanOrEqual(199);
        expect(r.latencyMs).toBeLessThan(400);
      }
      expect(slow.summary).toMatchObject({ timedOut: slow.records.length, failed: slow.records.length, completed: 0 });
    });
    const refused = await runLoad(k6, `http://127.0.0.1:${await closedPort()}/sms`, 1_000, { rateRps: 20 });
    expect(refused.records.length).toBeGreaterThanOrEqual(18);
    expect(refused.records.every((r) => r.status === 0 && r.version === '')).toBe(true);
    expect(refused.summary).toMatchObject({ errored: refused.records.length, timedOut: 0, completed: 0 });
  });

  test('aborting the signal stops k6; a throwing onRecord stops it and stop() rejects', async () => {
    needK6();
    await withApp({ APP_VERSION: 'v4', FAULT_MODE: 'none' }, async (app) => {
      await using registry = new ProcessRegistry();
      const generator = new K6LoadGenerator({ ...k6.options, processes: registry });
      const abort = new AbortController();
      const records: RequestRecord[] = [];
      const load = generator.start({
        url: app.url,
        rateRps: 50,
        clock: new ScaledClock(1),
        timeoutMs: 1_000,
        maxInFlight: 20,
        onRecord: (r) => records.push(r),
        signal: abort.signal,
      });
      await load.ready;
      await sleepWall(300);
      abort.abort();
      // Stopped by the signal alone: k6 goes away without a stop() call.
      await waitUntil(() => registry.pids.length === 0, 3_000);
      const summary = await load.stop();
      expect(summary.recorded).toBe(records.length);
      expect(records.length).toBeGreaterThan(5);

      let calls = 0;
      const throwing = generator.start({
        url: app.url,
        rateRps: 50,
        clock: new ScaledClock(1),
        timeoutMs: 1_000,
        maxInFlight: 20,
        onRecord: () => {
          calls++;
          throw new Error('disk full');
        },
      });
      await throwing.ready;
      await waitUntil(() => registry.pids.length === 0, 3_000);
      await expect(throwing.stop()).rejects.toThrow(
        new LoadError('load: the onRecord callback threw, so the load was stopped: disk full'),
      );
      expect(calls).toBeGreaterThan(0);
    });
  });

  test("a k6 script that fails makes stop() reject with k6's own message", async () => {
    needK6();
    const script = path.join(workDir, 'broken.k6.ts');
    await writeFile(script, "throw new Error('broken on purpose');\nexport default function () {}\n");
    const generator = new K6LoadGenerator({ ...k6.options, script });
    const load = generator.start({
      url: 'http://127.0.0.1:9/sms',
      rateRps: 10,
      clock: new ScaledClock(1),
      timeoutMs: 1_000,
      maxInFlight: 10,
      onRecord: () => {},
    });
    await load.ready;
    await expect(load.stop()).rejects.toThrow(
      /^load: k6 exited \(code 107\) before the load was stopped: Error: broken on purpose at file:\/\/\/.*broken.k6.ts:1:7/,
    );
  });

  test('the JSON output is deleted after stop(), or kept in keepOutputDir', async () => {
    needK6();
    await withApp({ APP_VERSION: 'v5', FAULT_MODE: 'none' }, async (app) => {
      const tmp = path.join(workDir, 'tmp');
      const keep = path.join(workDir, 'kept');
      await mkdir(tmp);
      await mkdir(keep);
      const savedTmp = process.env.TMPDIR;
      // os.tmpdir() reads TMPDIR on every call.
      process.env.TMPDIR = tmp;
      try {
        const deleted = await runLoad(k6, app.url, 300);
        expect(deleted.records.length).toBeGreaterThan(5);
        expect(await readdir(tmp)).toEqual([]);

        const kept = await runLoad(new K6LoadGenerator({ ...k6.options, keepOutputDir: keep }), app.url, 300);
        expect(await readdir(tmp)).toEqual([]);
        const outputFile = kept.summary.outputFile;
        expect(await readdir(keep)).toEqual([path.basename(outputFile!)]);
        const lines = (await readFile(outputFile!, 'utf8')).trim().split('\n');
        // It also holds the requests k6 sent after the stop while earlier ones finished.
        const answered = lines.filter((l) => l.startsWith('{"metric":"sms_latency","type":"Point"')).length;
        expect(answered).toBeGreaterThanOrEqual(kept.records.length);
        expect(answered).toBeLessThanOrEqual(kept.records.length + kept.summary.afterStop);
      } finally {
        if (savedTmp === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = savedTmp;
      }
    });
  });
});
