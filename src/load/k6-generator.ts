import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import createDebug from 'debug';
import { runCommand } from '../process/commands.ts';
import { findTool, toolSearchPlaces } from '../process/tools.ts';
import { sleepWall, type Clock } from '../common/clock.ts';
import { ownedTempDirPrefix, PidFile } from '../process/pid-file.ts';
import { ProcessRegistry, type ExitInfo, type ManagedProcess } from '../process/registry.ts';
import {
  loadSummary,
  RecordDelivery,
  type LiveStats,
  type LoadGenerator,
  type LoadOptions,
  type LoadSummary,
  type SendLagStats,
  type StartedLoad,
} from './builtin-generator.ts';
import { LoadError } from './errors.ts';
import { validateLoadOptions } from './options.ts';
import { captureClockMapping, epochMsOf, K6OutputParser, scenarioMsOf, type ClockMapping } from './k6-output.ts';

const log = createDebug('canary-mttr:load');

export const INSTALL_HINT = 'run npm run tools:install first';

/** The k6 script this generator runs; users can run it by hand too. */
export const K6_SCRIPT = fileURLToPath(new URL('../../scenarios/load.k6.ts', import.meta.url));

/** How often the output file is read while k6 runs. k6 itself appends to it every 200 ms. */
const POLL_WALL_MS = 50;
/** k6 writes its buffered samples every 200 ms; one such period and a margin. */
const FLUSH_WAIT_WALL_MS = 300;
/** With no later sample to prove k6 has written past the stop, wait this long at most. */
const QUIET_WAIT_WALL_MS = 1_000;
/** After SIGINT, k6 writes what it holds and exits; it gets this long before SIGTERM/SIGKILL. */
const EXIT_GRACE_WALL_MS = 5_000;
/**
 * k6's own end, in wall seconds after the last moment the caller said it would stop the load
 * (LoadOptions.maxDurationMs): room for start-up, a slow release and the drain, after which a k6
 * whose harness died without stopping it stops by itself. Without maxDurationMs, the whole bound.
 */
export const K6_DURATION_MARGIN_S = 600;
const K6_DEFAULT_DURATION_S = 3_600;
/** Kept of k6's stderr, for the error message when it fails. */
const STDERR_KEEP_CHARS = 8_000;

/**
 * k6's path: CANARY_MTTR_K6, then PATH, then the tools cache `npm run tools:install` fills
 * (so tests find it without sourcing tools.env, as helm is found). Undefined when none is an
 * executable file.
 */
export function findK6(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return findTool('k6', env);
}

/** `k6 version` as the report shows it, e.g. 'k6 v1.8.1'. */
export async function k6Version(k6Path: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  let stdout: string;
  try {
    ({ stdout } = await runCommand(k6Path, ['version'], { env: k6Env(env, os.tmpdir()), timeoutMs: 15_000 }));
  } catch (err) {
    throw new LoadError(`load: ${k6Path} version failed: ${(err as Error).message}; ${INSTALL_HINT}`, { cause: err });
  }
  const m = /^k6 (v\d+\.\d+\.\d+\S*)/m.exec(stdout);
  if (!m) {
    throw new LoadError(
      `load: ${k6Path} version printed ${JSON.stringify(stdout.trim().slice(0, 80))}, not "k6 vX.Y.Z"; ${INSTALL_HINT}`,
    );
  }
  return `k6 ${m[1]}`;
}

/**
 * The environment k6 runs with: nothing of the harness's own, so a K6_* variable set for another
 * purpose cannot change the load. HOME is the run's temporary folder, so a user's
 * ~/.config/k6/config.json does not apply either; TZ=UTC makes the output's times end in Z.
 */
function k6Env(env: NodeJS.ProcessEnv, home: string): NodeJS.ProcessEnv {
  return {
    PATH: env.PATH ?? '',
    HOME: home,
    TZ: 'UTC',
    NO_COLOR: '1',
    // Never reach out to the network for extensions (the script needs none).
    K6_AUTO_EXTENSION_RESOLUTION: 'false',
  };
}

export interface K6GeneratorOptions {
  /** Absolute path of the k6 binary (see findK6). */
  k6Path: string;
  /** What `k6 version` said, e.g. 'k6 v1.8.1' (see k6Version). */
  version: string;
  /**
   * Starts and reaps the k6 process, so Ctrl-C and the exit hook stop it with the app processes.
   * Without one, each load makes its own registry, which still kills k6 if this process exits.
   */
  processes?: ProcessRegistry;
  /** For PATH. k6 itself sees none of it (see k6Env). */
  env?: NodeJS.ProcessEnv;
  /** The k6 script; default scenarios/load.k6.ts. */
  script?: string;
  /**
   * VUs k6 makes before the first request. Default: as many as can be busy at once, the wall rate
   * times the timeout (at most maxInFlight), since k6 makes a missing VU only after a request found
   * none free, and records that request as dropped. About 0.2 MB and 0.7 ms of start-up per VU.
   */
  preAllocatedVUs?: number;
  /**
   * k6's own duration limit in wall seconds; stop() normally ends it long before. Default: the
   * load's maxDurationMs in wall seconds plus K6_DURATION_MARGIN_S, else an hour (k6DurationS).
   */
  maxDurationS?: number;
  /** Keep k6's JSON output in this folder (one file per load) instead of deleting it after stop(). */
  keepOutputDir?: string;
}

export type K6CreateOptions = Partial<Omit<K6GeneratorOptions, 'version'>>;

/** The k6 generator's totals: LoadSummary, plus what only k6 has. */
export interface K6LoadSummary extends LoadSummary {
  /** 'k6 v1.8.1': which generator made the records. */
  generator: string;
  /** Wall ms from start() to k6's first request: process start, script compile, VU creation. */
  startupWallMs: number | undefined;
  /** Output lines skipped as torn or not JSON. */
  malformedLines: number;
  /** Requests sent before stop() that k6 never reported back (recorded as failed). */
  lost: number;
  /** Records whose sms_sent line was missing (send time from k6's latency instead). */
  unpaired: number;
  /** Requests k6 sent after stop() while the earlier ones finished; not recorded. */
  afterStop: number;
  /** CPU time of the k6 process up to its interrupt, user + system, ms (from /proc; else undefined). */
  k6CpuMs: number | undefined;
  /** The JSON output, when kept (keepOutputDir). */
  outputFile: string | undefined;
}

/**
 * The LoadGenerator interface backed by k6 (scenarios/load.k6.ts): a constant-arrival-rate
 * executor at `rateRps × timeScale` per wall second, its JSON output read as it is written and
 * turned into the same RequestRecords the built-in generator makes.
 *
 * k6 runs until stop(): it is started with a long duration and interrupted. SIGINT makes k6 abandon
 * requests in flight without reporting them, so stop() first lets every request sent before it
 * finish (each within its timeout) while k6 carries on sending, ignores what was sent after, and
 * only then interrupts k6. Usually that takes about 0.3 s.
 */
export class K6LoadGenerator implements LoadGenerator {
  /** Finds k6 (or fails with a LoadError saying to run npm run tools:install) and reads its version. */
  static async create(options: K6CreateOptions = {}): Promise<K6LoadGenerator> {
    const env = options.env ?? process.env;
    const k6Path = options.k6Path ?? findK6(env);
    if (k6Path === undefined) {
      throw new LoadError(
        `load: k6 not found (${toolSearchPlaces('k6', env)}); ${INSTALL_HINT}, or set CANARY_MTTR_K6`,
      );
    }
    const version = await k6Version(k6Path, env);
    return new K6LoadGenerator({ ...options, k6Path, version });
  }

  constructor(readonly options: K6GeneratorOptions) {}

  /** For the report: which generator ran, e.g. 'k6 v1.8.1'. */
  describe(): string {
    return this.options.version;
  }

  start(options: LoadOptions): K6Load {
    return new K6Load(this.options, options);
  }
}

class K6Stats implements LiveStats {
  constructor(private readonly parser: K6OutputParser) {}
  get scheduled(): number {
    return this.parser.counts.sent + this.parser.counts.dropped;
  }
  get sent(): number {
    return this.parser.counts.sent;
  }
  get completed(): number {
    return this.parser.counts.completed;
  }
  get failed(): number {
    return this.parser.counts.failed;
  }
  get timedOut(): number {
    return this.parser.counts.timedOut;
  }
  get errored(): number {
    return this.parser.counts.errored;
  }
  get dropped(): number {
    return this.parser.counts.dropped;
  }
  get recorded(): number {
    return this.parser.counts.recorded;
  }
  get inFlight(): number {
    return this.parser.counts.inFlight;
  }
  get maxInFlightSeen(): number {
    return this.parser.counts.maxInFlightSeen;
  }
  /** Against k6's arrival grid (see K6OutputParser.gridStartEpochMs). */
  get sendLag(): SendLagStats {
    const lag = this.parser.lag;
    return { count: lag.count, meanWallMs: lag.meanMs, p99WallMs: lag.quantile(0.99), maxWallMs: lag.maxMs };
  }
}

export class K6Load implements StartedLoad {
  /**
   * Resolves when k6 has sent its first request (or the load ended first); never rejects. k6
   * needs from about 50 ms to a second or more (many VUs) to start: a caller that times a warm-up
   * from start() should wait for this.
   */
  readonly ready: Promise<void>;
  readonly stats: LiveStats;

  private readonly clock: Clock;
  private readonly mapping: ClockMapping;
  private readonly parser: K6OutputParser;
  private readonly delivery: RecordDelivery;
  private readonly signal: AbortSignal | undefined;
  private readonly timeoutMs: number;
  private readonly generatorOptions: K6GeneratorOptions;
  private readonly ownRegistry: ProcessRegistry | undefined;
  private readonly startWallMs = performance.now();
  private readonly setup: Promise<void>;
  private resolveReady!: () => void;
  private proc: ManagedProcess | undefined;
  private tmpDir: string | undefined;
  private outFile: string | undefined;
  private fh: FileHandle | undefined;
  private position = 0;
  private readonly buffer = Buffer.alloc(256 * 1024);
  private reading: Promise<void> = Promise.resolve();
  private pollTimer: NodeJS.Timeout | undefined;
  private stderr = '';
  private exit: ExitInfo | undefined;
  private interrupted = false;
  private failure: LoadError | undefined;
  private firstRequestWallMs: number | undefined;
  private cpuMs: number | undefined;
  private endMs = 0;
  private stopPromise: Promise<K6LoadSummary> | undefined;

  constructor(generatorOptions: K6GeneratorOptions, options: LoadOptions) {
    validate(options);
    this.generatorOptions = generatorOptions;
    this.clock = options.clock;
    this.delivery = new RecordDelivery(options.onRecord, this.onAbort);
    this.signal = options.signal;
    this.timeoutMs = options.timeoutMs;
    this.ready = new Promise<void>((resolve) => {
      this.resolveReady = resolve;
    });
    const wallRate = options.rateRps * options.clock.timeScale;
    this.mapping = captureClockMapping(options.clock);
    this.parser = new K6OutputParser({
      mapping: this.mapping,
      onRecord: this.delivery.deliver,
      intervalWallMs: 1000 / wallRate,
    });
    this.stats = new K6Stats(this.parser);
    // Registered in a pid file like the app processes, so the next start removes a k6 whose
    // harness was killed before it could (the parent-death signal normally takes it down first).
    this.ownRegistry = generatorOptions.processes ? undefined : new ProcessRegistry({}, new PidFile('k6 load'));
    log(
      'start k6 (%s) on %s at %d req/s scenario (%d req/s wall), timeout %d ms, max in flight %d',
      generatorOptions.version,
      options.url,
      options.rateRps,
      wallRate,
      options.timeoutMs,
      options.maxInFlight,
    );
    this.setup = this.spawn(options, wallRate).catch((err: unknown) => {
      this.failure ??= new LoadError(`load: could not start k6: ${(err as Error).message}`, { cause: err });
      void this.stop().catch(ignore);
    });
    if (this.signal?.aborted) {
      void this.stop().catch(ignore);
      return;
    }
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  stop(): Promise<K6LoadSummary> {
    if (this.stopPromise) return this.stopPromise;
    this.endMs = this.clock.now();
    const cutoffEpochMs = epochMsOf(this.mapping, this.endMs);
    this.parser.setCutoff(cutoffEpochMs);
    this.stopPromise = this.finish(cutoffEpochMs);
    return this.stopPromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private readonly onAbort = (): void => {
    // The caller sees any error through its own stop() call, which returns this same promise.
    void this.stop().catch(ignore);
  };

  private async spawn(options: LoadOptions, wallRate: number): Promise<void> {
    const g = this.generatorOptions;
    // Named after this process, so the next start removes it if a SIGKILL leaves it behind.
    this.tmpDir = await mkdtemp(ownedTempDirPrefix('k6'));
    const outputDir = g.keepOutputDir ?? this.tmpDir;
    if (g.keepOutputDir !== undefined) await mkdir(g.keepOutputDir, { recursive: true });
    this.outFile = path.join(
      outputDir,
      `k6-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.json`,
    );
    // stop() may have come while the folder was made; then k6 is never started.
    if (this.stopPromise) return;
    const preVUs =
      g.preAllocatedVUs ?? Math.min(options.maxInFlight, Math.ceil((wallRate * (options.timeoutMs + 100)) / 1000) + 1);
    const settings: Record<string, string> = {
      TARGET_URL: options.url,
      RATE: String(wallRate),
      DURATION_S: String(g.maxDurationS ?? k6DurationS(options.maxDurationMs, options.clock.timeScale)),
      TIMEOUT_MS: String(options.timeoutMs),
      MAX_VUS: String(options.maxInFlight),
      PRE_VUS: String(Math.max(1, Math.min(preVUs, options.maxInFlight))),
    };
    if (options.bodies) settings.BODIES = JSON.stringify(options.bodies);
    if (options.headers) settings.HEADERS = JSON.stringify(options.headers);
    const args = [
      'run',
      '--quiet',
      '--no-usage-report',
      '--no-color',
      // No REST API: it would take port 6565, which two loads at once cannot share.
      '--address',
      '',
      '--summary-mode',
      'disabled',
      '--include-system-env-vars=false',
      '--log-format',
      'logfmt',
      '--out',
      `json=${this.outFile}`,
      ...Object.entries(settings).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      g.script ?? K6_SCRIPT,
    ];
    const registry = g.processes ?? this.ownRegistry!;
    const proc = registry.spawn(g.k6Path, args, { env: k6Env(g.env ?? process.env, this.tmpDir), label: 'k6 load' });
    this.proc = proc;
    proc.child.once('error', (err) => {
      this.failure ??= new LoadError(`load: could not run ${g.k6Path}: ${err.message}; ${INSTALL_HINT}`, {
        cause: err,
      });
    });
    proc.child.stdout?.resume();
    proc.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_KEEP_CHARS);
    });
    void proc.exited.then((exit) => this.onExit(exit));
    this.pollTimer = setTimeout(this.poll, POLL_WALL_MS);
  }

  private onExit(exit: ExitInfo): void {
    this.exit = exit;
    if (this.interrupted) return;
    if (this.stopPromise !== undefined) {
      // Stopped from outside while draining (a registry's stopAll on Ctrl-C): what was written
      // still counts, and requests it had not answered are recorded as lost.
      log('k6 exited (%s) while the load was stopping', describeExit(exit));
      return;
    }
    this.failure ??= new LoadError(
      `load: k6 exited (${describeExit(exit)}) before the load was stopped: ${lastError(this.stderr)}`,
    );
    log('k6 exited early: %s', this.failure.message);
    void this.stop().catch(ignore);
  }

  private readonly poll = (): void => {
    this.pollTimer = undefined;
    void this.readAvailable().then(() => {
      if (this.stopPromise === undefined) this.pollTimer = setTimeout(this.poll, POLL_WALL_MS);
    });
  };

  /** Reads what k6 has written since the last read; reads never overlap. */
  private readAvailable(): Promise<void> {
    this.reading = this.reading
      .then(() => this.readOnce())
      .catch((err: unknown) => {
        this.failure ??= new LoadError(`load: cannot read k6's output ${this.outFile}: ${(err as Error).message}`, {
          cause: err,
        });
        void this.stop().catch(ignore);
      });
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    if (this.outFile === undefined) return;
    if (this.fh === undefined) {
      try {
        this.fh = await open(this.outFile, 'r');
      } catch (err) {
        // k6 creates the file once the script is compiled.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
    }
    for (;;) {
      const { bytesRead } = await this.fh.read(this.buffer, 0, this.buffer.length, this.position);
      if (bytesRead === 0) break;
      this.position += bytesRead;
      this.parser.write(this.buffer.subarray(0, bytesRead));
    }
    if (this.firstRequestWallMs === undefined && this.parser.firstArrivalEpochMs !== undefined) {
      // Its stamp, not this read's time: reading lags k6's writes by up to 250 ms.
      const firstScenarioMs = scenarioMsOf(this.mapping, this.parser.firstArrivalEpochMs);
      this.firstRequestWallMs =
        this.startWallMs + (firstScenarioMs - this.mapping.scenarioAtStartMs) / this.mapping.timeScale;
      this.resolveReady();
    }
  }

  private epochNow(): number {
    return epochMsOf(this.mapping, this.clock.now());
  }

  /**
   * Waits until every request sent at or before the cut-off has been answered (or k6 exited), and
   * until the output has been read far enough past the cut-off to hold every such request's
   * sms_sent line: a request whose line is not read yet does not count as in flight.
   */
  private async drain(cutoffEpochMs: number): Promise<void> {
    const capEpochMs = cutoffEpochMs + FLUSH_WAIT_WALL_MS + this.timeoutMs + QUIET_WAIT_WALL_MS;
    for (;;) {
      if (!this.proc || this.exit || this.failure) return;
      const readStartEpochMs = this.epochNow();
      await this.readAvailable();
      const writtenPast = this.parser.latestEpochMs > cutoffEpochMs;
      const waited = readStartEpochMs - cutoffEpochMs;
      if (this.parser.inFlight === 0 && waited >= FLUSH_WAIT_WALL_MS && (writtenPast || waited >= QUIET_WAIT_WALL_MS))
        return;
      if (readStartEpochMs >= capEpochMs) {
        log(
          'stop: %d requests still unanswered %d ms after the stop; interrupting k6',
          this.parser.inFlight,
          Math.round(waited),
        );
        return;
      }
      await sleepWall(POLL_WALL_MS);
    }
  }

  /** SIGINT: k6 writes what it holds and exits. A second signal (SIGTERM, then SIGKILL) if not. */
  private async interrupt(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.hasExited) return;
    this.cpuMs = cpuMsOf(proc.pid);
    this.interrupted = true;
    proc.child.kill('SIGINT');
    const timer = setTimeout(() => void proc.stop(1_000), EXIT_GRACE_WALL_MS);
    try {
      await proc.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private async finish(cutoffEpochMs: number): Promise<K6LoadSummary> {
    this.signal?.removeEventListener('abort', this.onAbort);
    clearTimeout(this.pollTimer);
    let keptOutput: string | undefined;
    try {
      await this.setup;
      await this.drain(cutoffEpochMs);
      await this.interrupt();
      await this.readAvailable();
      this.parser.end(this.epochNow());
      if (this.generatorOptions.keepOutputDir !== undefined) keptOutput = this.outFile;
    } finally {
      this.interrupted = true;
      // On every path: k6 is stopped, the file closed, the temporary folder removed.
      await this.proc?.stop(1_000);
      await this.fh?.close().catch(ignore);
      if (this.tmpDir) await rm(this.tmpDir, { recursive: true, force: true }).catch(ignore);
      await this.ownRegistry?.[Symbol.asyncDispose]();
      this.resolveReady();
    }
    const summary = this.summarize(keptOutput);
    log(
      'stopped: %d sent (%d req/s scenario), %d failed, %d timed out, %d dropped, %d lost, %d malformed lines; ' +
        'k6 started in %s ms, used %s ms CPU',
      summary.sent,
      Math.round(summary.achievedRps),
      summary.failed,
      summary.timedOut,
      summary.dropped,
      summary.lost,
      summary.malformedLines,
      summary.startupWallMs === undefined ? '?' : Math.round(summary.startupWallMs),
      summary.k6CpuMs ?? '?',
    );
    if (this.failure) throw this.failure;
    const recordError = this.delivery.error();
    if (recordError) throw recordError;
    return summary;
  }

  private summarize(outputFile: string | undefined): K6LoadSummary {
    const c = this.parser.counts;
    const first = this.parser.gridStartEpochMs ?? this.parser.firstArrivalEpochMs;
    // The window starts at k6's first slot, not at start(): k6's start-up sends nothing.
    const scenarioDurationMs = first === undefined ? 0 : Math.max(0, this.endMs - scenarioMsOf(this.mapping, first));
    return {
      ...loadSummary(
        { ...c, scheduled: c.sent + c.dropped },
        scenarioDurationMs,
        scenarioDurationMs / this.mapping.timeScale,
        this.stats.sendLag,
      ),
      generator: this.generatorOptions.version,
      startupWallMs: this.firstRequestWallMs === undefined ? undefined : this.firstRequestWallMs - this.startWallMs,
      malformedLines: c.malformed,
      lost: c.lost,
      unpaired: c.unpaired,
      afterStop: c.afterCutoff,
      k6CpuMs: this.cpuMs,
      outputFile,
    };
  }
}

/**
 * k6's duration in wall seconds: the scenario ms by which the caller stops the load, in wall
 * seconds, plus K6_DURATION_MARGIN_S; an hour when the caller gave no bound.
 */
export function k6DurationS(maxDurationMs: number | undefined, timeScale: number): number {
  if (maxDurationMs === undefined) return K6_DEFAULT_DURATION_S;
  return Math.ceil(maxDurationMs / timeScale / 1000) + K6_DURATION_MARGIN_S;
}

function validate(options: LoadOptions): void {
  validateLoadOptions(options, { protocols: ['http:', 'https:'], generator: 'k6' });
}

function describeExit(exit: ExitInfo): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/** The last error k6 logged (logfmt `level=error msg="…"`) on one line, else stderr's last line. */
function lastError(stderr: string): string {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => l !== '');
  let message = lines.at(-1) ?? 'no message on stderr';
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /level=error msg="((?:[^"\\]|\\.)*)"/.exec(lines[i]!);
    if (!m) continue;
    // A script exception's stack comes as "\n\tat file:///…": kept, on the same line.
    message = m[1]!
      .replace(/\\[nt]/g, ' ')
      .replace(/\\(.)/g, '$1')
      .replace(/\s+/g, ' ')
      .trim();
    break;
  }
  return message.length > 400 ? `${message.slice(0, 400)}…` : message;
}

/** User + system CPU ms of a process, from /proc/<pid>/stat (Linux); undefined elsewhere. */
function cpuMsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (USER_HZ, 100 on Linux).
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

function ignore(): void {}
