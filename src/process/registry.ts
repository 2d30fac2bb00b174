import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import createDebug from 'debug';
import { startTicksOf } from './procfs.ts';
import { findExecutable } from './tools.ts';
import type { PidFile } from './pid-file.ts';

const debug = createDebug('canary-mttr:processes');

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process the harness started; `stop` is safe to call any number of times. */
export class ManagedProcess implements AsyncDisposable {
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;

  constructor(
    readonly child: ChildProcess,
    readonly label: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
      child.once('error', () => {
        this.exitInfo ??= { code: null, signal: null };
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  /** SIGTERM, then SIGKILL after `graceMs` wall milliseconds. */
  async stop(graceMs = 2_000): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!this.exitInfo) {
        debug('%s (pid %d) ignored SIGTERM; killing', this.label, this.pid);
        this.child.kill('SIGKILL');
      }
    }, graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** util-linux's setpriv: makes a child die with its parent even when the parent is SIGKILLed. */
const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);

/** The command line wrapped with `setpriv --pdeathsig KILL` where setpriv exists. */
export function dieWithParent(commandLine: string[]): string[] {
  return hasSetpriv ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...commandLine] : commandLine;
}

/** The real path of the file `command` runs, as /proc/<pid>/exe will name it; undefined if not found. */
function executablePath(command: string, env: NodeJS.ProcessEnv): string | undefined {
  const found = findExecutable(command, env);
  try {
    return found === undefined ? undefined : realpathSync(found);
  } catch {
    return undefined;
  }
}

/**
 * Every child process of the harness is started here and reaped here (Playwright's
 * processLauncher does the same): `stopAll` on every path out, and a synchronous SIGKILL in the
 * process 'exit' hook as the last resort, so no app process outlives the harness.
 *
 * Each child also gets PR_SET_PDEATHSIG=SIGKILL (via `setpriv --pdeathsig`, which then execs the
 * real program under the same pid): the exit hook covers every way out except SIGKILL, an
 * out-of-memory kill and a crash of the runtime, and the kernel covers those. The signal comes
 * when the thread that started the child ends, so children are started from the main thread only.
 * The pid file records each child's start time and executable, so that whoever reaps leftovers
 * signals that process and never an unrelated one that got its pid later.
 */
export class ProcessRegistry implements AsyncDisposable {
  private readonly live = new Set<ManagedProcess>();
  private readonly onExit = () => {
    for (const p of this.live) if (!p.hasExited) p.child.kill('SIGKILL');
  };

  constructor(
    private readonly labels: Record<string, string> = {},
    private readonly pidFile?: PidFile,
  ) {
    process.on('exit', this.onExit);
  }

  spawn(command: string, args: string[], options: { env: NodeJS.ProcessEnv; label: string }): ManagedProcess {
    const [file, ...argv] = dieWithParent([command, ...args]);
    const child = spawn(file!, argv, {
      env: {
        ...options.env,
        ...Object.fromEntries(Object.entries(this.labels).map(([k, v]) => [`CANARY_MTTR_${k.toUpperCase()}`, v])),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const managed = new ManagedProcess(child, options.label);
    this.live.add(managed);
    if (child.pid !== undefined && this.pidFile) {
      const pid = child.pid;
      // The command as /proc/<pid>/cmdline shows it once setpriv has exec'd it.
      this.pidFile.add({
        pid,
        label: options.label,
        command: [command, ...args].join(' '),
        startTicks: startTicksOf(pid),
        exe: executablePath(command, options.env),
      });
    }
    void managed.exited.then(() => {
      this.live.delete(managed);
      if (child.pid !== undefined) this.pidFile?.remove(child.pid);
    });
    debug('started %s (pid %d)', options.label, child.pid);
    return managed;
  }

  get pids(): number[] {
    return [...this.live].map((p) => p.pid).filter((pid): pid is number => pid !== undefined);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((p) => p.stop()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stopAll();
    process.off('exit', this.onExit);
    this.pidFile?.close();
  }
}
