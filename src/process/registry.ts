import { spawn, type ChildProcess } from 'node:child_process';
import createDebug from 'debug';
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

/**
 * Every child process of the harness is started here and reaped here (Playwright's
 * processLauncher does the same): `stopAll` on every path out, and a synchronous SIGKILL in the
 * process 'exit' hook as the last resort, so no app process outlives the harness.
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
    const child = spawn(command, args, {
      env: { ...options.env, ...Object.fromEntries(Object.entries(this.labels).map(([k, v]) => [`CANARY_MTTR_${k.toUpperCase()}`, v])) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const managed = new ManagedProcess(child, options.label);
    this.live.add(managed);
    if (child.pid !== undefined) this.pidFile?.add(child.pid, options.label, [command, ...args].join(' '));
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
