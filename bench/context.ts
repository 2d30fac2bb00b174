/**
 * What every benchmark gets from bench/index.ts: a process registry (every child is reaped, even
 * when the bench is interrupted), one faulty-app bundle, the repetition count, the profiling
 * switch, one cancel signal, and helpers to run a tool or an app as a child process on loopback.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../faulty-app/build.ts';
import { sleepWall } from '../src/common/clock.ts';
import type { ManagedProcess, ProcessRegistry } from '../src/process/registry.ts';
import type { Figure } from '../src/bench/table.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BENCH_DIR = path.join(PROJECT_ROOT, 'bench');
/** tsx's loader as a URL, so `node --import` finds it whatever the working directory. */
export const TSX = import.meta.resolve('tsx');

export interface BenchContext {
  registry: ProcessRegistry;
  /** Scratch folder of this invocation, removed at the end. */
  workDir: string;
  /** How many times each measurement is repeated (at least 2: the machine is shared). */
  reps: number;
  /** Profile a missed target (node --cpu-prof / the inspector) and name the bottleneck. */
  profile: boolean;
  signal: AbortSignal;
  /** Progress lines on stderr (the table goes to stdout). */
  log: (line: string) => void;
  /** One faulty-app bundle per invocation, built on first use. */
  appBundle: () => Promise<string>;
  /** Paths of k6 and wrk from tools.env (CANARY_MTTR_K6, CANARY_MTTR_WRK), when installed. */
  tools: { k6?: string; wrk?: string };
}

/** What one benchmark hands back to the table and to results.json. */
export interface BenchOutcome {
  figures: Figure[];
  /** Raw measurements: every step, every repetition. */
  details: unknown;
  /** Profile findings for missed targets, and anything a reader must know about the figures. */
  notes: string[];
}

export interface Benchmark {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<BenchOutcome>;
}

export function createAppBundle(workDir: string): () => Promise<string> {
  let bundle: Promise<string> | undefined;
  return () => (bundle ??= buildApp(path.join(workDir, 'faulty-app.mjs')));
}

/** The 1-minute load average, rounded: quoted beside every benchmark. */
export function loadAverage(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

let clockTicks: number | undefined;

/** CPU time (user + system) a live process has used so far, ms; undefined once it is gone. */
export function cpuTimeMs(pid: number): number | undefined {
  clockTicks ??= (() => {
    try {
      return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      return 100;
    }
  })();
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces or parentheses: fields are counted after its closing ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return undefined;
  }
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** CPU ms of the process, sampled every 200 ms (so up to 200 ms short for the last stretch). */
  cpuMs: number | undefined;
  timedOut: boolean;
}

/**
 * Runs a command to completion through the registry. Stopped (SIGTERM, then SIGKILL) after
 * `timeoutMs` or when the bench is interrupted; the result says so rather than throwing, so the
 * caller can report a tool that hung.
 */
export async function runProcess(
  ctx: BenchContext,
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; label: string; timeoutMs: number },
): Promise<ProcessResult> {
  ctx.signal.throwIfAborted();
  const started = performance.now();
  const proc = ctx.registry.spawn(command, args, { env: options.env, label: options.label });
  let stdout = '';
  let stderr = '';
  proc.child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    if (stdout.length < 4_000_000) stdout += c;
  });
  proc.child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    if (stderr.length < 200_000) stderr += c;
  });
  let cpuMs: number | undefined;
  const pid = proc.pid;
  const sampler = setInterval(() => {
    if (pid !== undefined) cpuMs = cpuTimeMs(pid) ?? cpuMs;
  }, 200);
  let timedOut = false;
  const stop = () => void proc.stop(3_000);
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, options.timeoutMs);
  ctx.signal.addEventListener('abort', stop, { once: true });
  try {
    const exit = await proc.exited;
    return {
      code: exit.code,
      signal: exit.signal,
      stdout,
      stderr,
      wallMs: performance.now() - started,
      cpuMs,
      timedOut,
    };
  } finally {
    clearInterval(sampler);
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', stop);
  }
}

/** A faulty-app process started for a benchmark. */
export interface BenchApp extends AsyncDisposable {
  port: number;
  pid: number;
  url: string;
  process: ManagedProcess;
  /** CPU ms used so far. */
  cpuMs(): number;
  stop(): Promise<void>;
}

/**
 * Starts one faulty-app process on 127.0.0.1 with an OS-chosen port and waits for its listening
 * line. `cpuProfDir` runs it under `node --cpu-prof`; the profile is written when it exits.
 */
export async function startApp(
  ctx: BenchContext,
  options: { env?: Record<string, string>; label: string; cpuProfDir?: string },
): Promise<BenchApp> {
  const bundle = await ctx.appBundle();
  const args = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`, bundle] : [bundle];
  const proc = ctx.registry.spawn(process.execPath, args, {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', APP_VERSION: 'v1', ...options.env },
    label: options.label,
  });
  let stderr = '';
  proc.child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    if (stderr.length < 4_000) stderr += c;
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(
      () => reject(new Error(`${options.label}: no listening line within 10 s; stderr: ${stderr.trim()}`)),
      10_000,
    );
    proc.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (buffered.includes('\n')) return;
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      try {
        const line = JSON.parse(buffered.slice(0, newline)) as { event?: string; port?: number };
        if (line.event === 'listening' && typeof line.port === 'number') resolve(line.port);
        else reject(new Error(`${options.label}: unexpected first line ${buffered.slice(0, newline)}`));
      } catch {
        reject(new Error(`${options.label}: unexpected first line ${buffered.slice(0, newline)}`));
      }
    });
    void proc.exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`${options.label}: exited (code ${exit.code}) before listening: ${stderr.trim()}`));
    });
  }).catch(async (err: unknown) => {
    await proc.stop(1_000);
    throw err;
  });
  const pid = proc.pid!;
  let lastCpuMs = 0;
  const app: BenchApp = {
    port,
    pid,
    url: `http://127.0.0.1:${port}/sms`,
    process: proc,
    cpuMs: () => (lastCpuMs = cpuTimeMs(pid) ?? lastCpuMs),
    // SIGTERM lets the app exit through process.exit, which is when --cpu-prof writes its file.
    stop: async () => {
      await proc.stop(8_000);
    },
    [Symbol.asyncDispose]: () => app.stop(),
  };
  return app;
}

/** Lets sockets of the previous step close before the next one starts. */
export function settle(ms = 500): Promise<void> {
  return sleepWall(ms);
}
