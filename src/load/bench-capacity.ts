/**
 * How fast can the built-in generator go on this machine?
 *
 *   node --import tsx src/load/bench-capacity.ts [rate …]
 *
 * Starts a trivial node:http server in a child process (so the server does not compete for the
 * generator's event loop), then runs the generator at each rate (default 1k, 2k, 5k, 8k req/s)
 * for 3 s and prints, per step, the achieved send rate, the records received and the send lag.
 * A step the machine cannot keep up with shows as a lower achieved rate, drops, or a send lag
 * p99 well above a millisecond or two. The first line measures this process's event-loop delay
 * with no load at all: on a busy machine the lag figures are no better than that floor.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { availableParallelism, loadavg } from 'node:os';
import { ScaledClock, sleepWall } from '../common/clock.ts';
import { BuiltinLoadGenerator } from './builtin-generator.ts';
import { LagHistogram } from './lag-histogram.ts';
import { isFailure } from './types.ts';

const STEP_WALL_MS = 3_000;
const DEFAULT_RATES = [1_000, 2_000, 5_000, 8_000];

// Plain JavaScript so the child starts without tsx. It exits when its stdin closes, which
// happens when this process dies by any means, so it can never outlive the bench.
const SERVER_SOURCE = `
const http = require('node:http');
const body = Buffer.from('{"ok":true}');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, 'x-app-version': 'bench' });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

async function startServerProcess(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['-e', SERVER_SOURCE], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdout!.setEncoding('utf8');
  let output = '';
  for await (const chunk of child.stdout! as AsyncIterable<string>) {
    output += chunk;
    if (output.includes('\n')) break;
  }
  const port = Number.parseInt(output, 10);
  if (!Number.isInteger(port)) {
    child.kill();
    throw new Error(`bench server: expected a port on stdout, got ${JSON.stringify(output)}`);
  }
  return { child, port };
}

async function stopServerProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin!.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  const rates = process.argv.slice(2).map(Number).filter((r) => r > 0);
  const { child, port } = await startServerProcess();
  const onSignal = () => {
    child.kill('SIGKILL');
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  try {
    const url = `http://127.0.0.1:${port}/sms`;
    const generator = new BuiltinLoadGenerator();
    const idle = monitorEventLoopDelay({ resolution: 1 });
    idle.enable();
    await sleepWall(STEP_WALL_MS);
    idle.disable();
    console.log(
      `idle event-loop delay over ${STEP_WALL_MS / 1000} s: p99 ${(idle.percentile(99) / 1e6).toFixed(2)} ms, ` +
        `max ${(idle.max / 1e6).toFixed(2)} ms; load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`,
    );
    console.log(
      'target/s  achieved/s  answered/s  recorded  failed  dropped  lag p99 ms  lag max ms  latency p99 ms',
    );
    for (const rate of rates.length > 0 ? rates : DEFAULT_RATES) {
      let recorded = 0;
      let failed = 0;
      const latency = new LagHistogram();
      const cpuBefore = process.cpuUsage();
      const load = generator.start({
        url,
        rateRps: rate,
        clock: new ScaledClock(1),
        timeoutMs: 2_000,
        maxInFlight: 1_000,
        onRecord: (record) => {
          recorded++;
          if (isFailure(record)) failed++;
          latency.record(record.latencyMs);
        },
      });
      await sleepWall(STEP_WALL_MS);
      const summary = await load.stop();
      const cpu = process.cpuUsage(cpuBefore);
      const wallS = summary.wallDurationMs / 1000;
      const cpuPercent = (cpu.user + cpu.system) / 10 / summary.wallDurationMs;
      console.log(
        [
          pad(rate, 8),
          pad(summary.sent / wallS, 10),
          pad(summary.completed / wallS, 10),
          pad(recorded, 8),
          pad(failed, 6),
          pad(summary.dropped, 7),
          pad(summary.sendLag.p99WallMs, 10, 2),
          pad(summary.sendLag.maxWallMs, 10, 2),
          pad(latency.quantile(0.99), 14, 2),
        ].join('  ') + `   (generator CPU ${Math.round(cpuPercent)}%)`,
      );
      await sleepWall(300); // let sockets of the previous step close
    }
  } finally {
    process.off('SIGINT', onSignal);
    await stopServerProcess(child);
  }
}

function pad(value: number, width: number, digits = 0): string {
  return value.toFixed(digits).padStart(width);
}

await main();
