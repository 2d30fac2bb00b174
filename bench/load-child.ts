/**
 * One step of the built-in load generator, in a process of its own (so the bench's bookkeeping
 * never shares its event loop, and so it can be profiled alone):
 *
 *   node --import tsx bench/load-child.ts '{"url":"http://127.0.0.1:PORT/sms","rateRps":5000,
 *     "durationMs":5000,"timeoutMs":2000,"maxInFlight":1000,"cpuProfile":"/tmp/x.cpuprofile"}'
 *
 * Every record is kept in an array, as the experiment runner keeps them, so the figure is the
 * rate with per-request records. Prints one JSON line (LoadChildResult). With `cpuProfile`, the
 * load window alone (not tsx's start-up) is profiled through the inspector.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readSchedStat, schedStatDelta } from '../src/bench/schedstat.ts';
import { ScaledClock, sleepWall } from '../src/common/clock.ts';
import { BuiltinLoadGenerator } from '../src/load/builtin-generator.ts';
import { isFailure, type RequestRecord } from '../src/load/types.ts';

export interface LoadChildInput {
  url: string;
  rateRps: number;
  durationMs: number;
  timeoutMs: number;
  maxInFlight: number;
  cpuProfile?: string;
}

export interface LoadChildResult {
  rateRps: number;
  scheduled: number;
  sent: number;
  completed: number;
  failed: number;
  timedOut: number;
  errored: number;
  dropped: number;
  recorded: number;
  /** Records the onRecord callback received (kept in an array). */
  kept: number;
  maxInFlightSeen: number;
  /** Scheduling window, wall ms (scale 1). */
  windowMs: number;
  /** Sent requests per second over the window (the generator's own achievedRps). */
  sendRps: number;
  /** Successful answers completed inside the window, per second of window: the throughput. */
  answeredInWindowRps: number;
  sendLagP99Ms: number;
  sendLagMaxMs: number;
  latencyP99Ms: number;
  /** Wall ms from the end of the window until the last outstanding request was recorded. */
  drainMs: number;
  /** This process's CPU over the window and drain, as a share of one core. */
  cpuShare: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  /**
   * Main thread, over the window and drain (kernel schedstat): wall ms spent runnable but waiting
   * for a core. On a shared machine this is the stall no code change removes.
   */
  runQueueWaitMs: number | undefined;
  /** The same main thread's time on a core, wall ms. */
  onCpuMs: number | undefined;
  /** Cumulative send-lag p99 every 500 ms of the window: shows when the lag was incurred. */
  lagP99SeriesMs: number[];
  /** TCP connections the generator opened (its keep-alive agent opens one per request it cannot
   * give an idle socket): many more than a handful means answers came back too slowly. */
  connectionsOpened: number;
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2] ?? '') as LoadChildInput;
  const session = input.cpuProfile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 500 });
    await session.post('Profiler.start');
  }
  let connectionsOpened = 0;
  subscribe('net.client.socket', () => connectionsOpened++);
  const clock = new ScaledClock(1);
  const records: RequestRecord[] = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const cpuBefore = process.cpuUsage();
  const schedBefore = readSchedStat('self', process.pid);
  const wallBefore = performance.now();
  const load = new BuiltinLoadGenerator().start({
    url: input.url,
    rateRps: input.rateRps,
    clock,
    timeoutMs: input.timeoutMs,
    maxInFlight: input.maxInFlight,
    onRecord: (record) => records.push(record),
  });
  const lagP99SeriesMs: number[] = [];
  const sampler = setInterval(() => lagP99SeriesMs.push(Math.round(load.stats.sendLag.p99WallMs * 10) / 10), 500);
  await sleepWall(input.durationMs);
  clearInterval(sampler);
  const windowEndWall = performance.now();
  const summary = await load.stop();
  const drainMs = performance.now() - windowEndWall;
  const cpu = process.cpuUsage(cpuBefore);
  const sched = schedStatDelta(schedBefore, readSchedStat('self', process.pid));
  const wallMs = performance.now() - wallBefore;
  delay.disable();
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(input.cpuProfile!, JSON.stringify(profile));
    session.disconnect();
  }
  // Slot 0 is due at the generator's start, so the earliest slot is the window's start.
  let startMs = Infinity;
  for (const r of records) if (r.sentMs < startMs) startMs = r.sentMs;
  const windowEnd = startMs + summary.scenarioDurationMs;
  let answered = 0;
  const latencies: number[] = [];
  for (const r of records) {
    if (!isFailure(r) && r.doneMs <= windowEnd) answered++;
    latencies.push(r.latencyMs);
  }
  latencies.sort((a, b) => a - b);
  const result: LoadChildResult = {
    rateRps: input.rateRps,
    scheduled: summary.scheduled,
    sent: summary.sent,
    completed: summary.completed,
    failed: summary.failed,
    timedOut: summary.timedOut,
    errored: summary.errored,
    dropped: summary.dropped,
    recorded: summary.recorded,
    kept: records.length,
    maxInFlightSeen: summary.maxInFlightSeen,
    windowMs: summary.wallDurationMs,
    sendRps: summary.achievedRps,
    answeredInWindowRps: (answered * 1000) / summary.scenarioDurationMs,
    sendLagP99Ms: summary.sendLag.p99WallMs,
    sendLagMaxMs: summary.sendLag.maxWallMs,
    latencyP99Ms: latencies[Math.max(0, Math.ceil(0.99 * latencies.length) - 1)] ?? 0,
    drainMs,
    cpuShare: (cpu.user + cpu.system) / 1000 / wallMs,
    eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
    eventLoopDelayMaxMs: delay.max / 1e6,
    runQueueWaitMs: sched?.runQueueWaitMs,
    onCpuMs: sched?.onCpuMs,
    lagP99SeriesMs,
    connectionsOpened,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
