import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, test } from 'vitest';
import { ScaledClock, sleepWall } from '../common/clock.ts';
import { pollUntil } from '../common/poll.ts';
import type { LoadOptions } from './builtin-generator.ts';
import { LoadError } from './errors.ts';
import { ThreadLoadGenerator } from './thread-generator.ts';
import type { RequestRecord } from './types.ts';

/**
 * A real HTTP server on 127.0.0.1 (on this thread; the load runs on another). Every 4th answer is
 * a 503 of v2. Each answer's version names its index (`v1#7`), and `answeredMs[7]` is when it was
 * written, on `clock`.
 */
async function withServer(
  body: (url: string, served: () => number, answeredMs: number[]) => Promise<void>,
  clock = new ScaledClock(10),
): Promise<void> {
  const answeredMs: number[] = [];
  const server = http.createServer((_req, res) => {
    const i = answeredMs.length;
    answeredMs.push(clock.now());
    res.writeHead(i % 4 === 3 ? 503 : 200, { 'x-app-version': `${i % 4 === 3 ? 'v2' : 'v1'}#${i}` });
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await body(`http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`, () => answeredMs.length, answeredMs);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const generator = new ThreadLoadGenerator();
afterAll(() => generator[Symbol.asyncDispose]());

function options(url: string, onRecord: (r: RequestRecord) => void, over: Partial<LoadOptions> = {}): LoadOptions {
  return { url, rateRps: 20, clock: new ScaledClock(10), timeoutMs: 1_000, maxInFlight: 50, onRecord, ...over };
}

describe('ThreadLoadGenerator', () => {
  test('delivers every request once, stamped on the caller clock, before stop() resolves', async () => {
    const clock = new ScaledClock(10);
    await withServer(async (url, served, answeredMs) => {
      const records: RequestRecord[] = [];
      const deliveredMs: number[] = [];
      const load = generator.start(
        options(
          url,
          (r) => {
            records.push(r);
            deliveredMs.push(clock.now());
          },
          { clock },
        ),
      );
      await load.ready;
      // 20 scenario req/s at 10×: 200 wall req/s; about 40 requests in 200 wall ms.
      await pollUntil(() => records.length >= 40, { everyMs: 5, timeoutMs: 30_000 });
      const summary = await load.stop();
      const after = records.length;
      await sleepWall(50);

      expect(records.length).toBe(after);
      expect(summary.recorded).toBe(records.length);
      expect(summary.sent + summary.dropped).toBe(records.length);
      expect(summary.completed).toBe(served());
      expect(records.filter((r) => r.status === 503).every((r) => r.version.startsWith('v2#'))).toBe(true);
      expect(summary.failed).toBe(records.filter((r) => r.status === 503 || r.status === 0).length);
      expect(load.stats.recorded).toBe(summary.recorded);
      // The thread reads the caller's scenario clock: each answer was received after this thread
      // wrote it and before this thread was handed its record, both read on the caller's clock.
      records.forEach((r, i) => {
        const answered = answeredMs[Number(r.version.split('#')[1])]!;
        expect(r.doneMs).toBeGreaterThanOrEqual(answered);
        expect(r.doneMs).toBeLessThanOrEqual(deliveredMs[i]!);
        expect(r.sentMs).toBeLessThanOrEqual(answered);
        expect(r.latencyMs).toBeCloseTo((r.doneMs - r.sentMs) / 10, 6);
      });
      // Slots 1000 / 20 = 50 scenario ms apart.
      const slots = records.map((r) => r.sentMs).sort((a, b) => a - b);
      for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBeCloseTo(50, 6);
    }, clock);
  });

  test('prepare() starts the threads that many loads need, and start() uses them', async () => {
    await withServer(async (url) => {
      const fresh = new ThreadLoadGenerator();
      try {
        await fresh.prepare(3);
        expect(fresh.threads).toBe(3);
        await fresh.prepare(2);
        expect(fresh.threads).toBe(3);
        const loads = [1, 2, 3].map(() => fresh.start(options(url, () => {})));
        await Promise.all(loads.map((l) => l.ready));
        await Promise.all(loads.map((l) => l.stop()));
        expect(fresh.threads).toBe(3);
      } finally {
        await fresh[Symbol.asyncDispose]();
      }
    });
  });

  test('keeps a thread per load in flight and reuses it for the next', async () => {
    await withServer(async (url) => {
      const fresh = new ThreadLoadGenerator();
      try {
        const a = fresh.start(options(url, () => {}));
        const b = fresh.start(options(url, () => {}));
        await Promise.all([a.ready, b.ready]);
        expect(fresh.threads).toBe(2);
        await Promise.all([a.stop(), b.stop()]);
        const c = fresh.start(options(url, () => {}));
        await c.ready;
        await c.stop();
        expect(fresh.threads).toBe(2);
      } finally {
        await fresh[Symbol.asyncDispose]();
      }
      expect(fresh.threads).toBe(0);
    });
  });

  test('stops when onRecord throws, and stop() rejects with a LoadError naming the cause', async () => {
    await withServer(async (url) => {
      const load = generator.start(
        options(url, () => {
          throw new Error('disk full');
        }),
      );
      await expect(load.stop()).rejects.toThrow(LoadError);
      await expect(load.stop()).rejects.toThrow(/onRecord callback threw.*disk full/);
    });
  });

  test('stops on its signal', async () => {
    await withServer(async (url) => {
      const abort = new AbortController();
      const records: RequestRecord[] = [];
      const load = generator.start(options(url, (r) => records.push(r), { signal: abort.signal }));
      await pollUntil(() => records.length >= 5, { everyMs: 5, timeoutMs: 30_000 });
      abort.abort();
      const summary = await load.stop();
      expect(summary.recorded).toBe(records.length);
      await sleepWall(100);
      expect(records.length).toBe(summary.recorded);
    });
  });

  test('rejects options the built-in generator rejects, at start()', () => {
    expect(() => generator.start(options('https://127.0.0.1:1/sms', () => {}))).toThrow(LoadError);
    expect(() => generator.start(options('http://127.0.0.1:1/sms', () => {}, { rateRps: 0 }))).toThrow(/rateRps/);
  });

  test('fails the load, not the harness, when its thread ends under it', async () => {
    await withServer(async (url) => {
      const fresh = new ThreadLoadGenerator();
      const load = fresh.start(options(url, () => {}));
      await load.ready;
      await fresh[Symbol.asyncDispose]();
      await expect(load.stop()).rejects.toThrow(/load thread ended/);
    });
  });
});
