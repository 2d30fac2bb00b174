import http from 'node:http';
import createDebug from 'debug';
import { PlatformError } from '../../common/errors.ts';
import { pollUntil } from '../../common/poll.ts';
import type { ReleaseSettings } from '../../scenario/schema.ts';
import type { ManagedProcess, ProcessRegistry } from '../../process/registry.ts';

const debug = createDebug('canary-mttr:local');

/** What a pod template says about the build: its version and its fault. */
export interface BuildSpec {
  version: string;
  fault: ReleaseSettings['fault'];
  errorRate: number;
  /** Real milliseconds: request latency is not time-compressed. */
  latencyMs: number;
  /** Scenario seconds. */
  onsetS: number;
}

export function stableBuild(release: ReleaseSettings): BuildSpec {
  return { version: release.stableVersion, fault: 'none', errorRate: 0, latencyMs: 0, onsetS: 0 };
}

export function releasedBuild(release: ReleaseSettings): BuildSpec {
  return {
    version: release.version,
    fault: release.fault,
    errorRate: release.errorRate,
    latencyMs: release.latencyMs,
    onsetS: release.onsetS,
  };
}

export function buildRevision(spec: BuildSpec): string {
  return `${spec.version}/${spec.fault}/${spec.errorRate}/${spec.latencyMs}/${spec.onsetS}`;
}

/** One running faulty-app process: a pod. */
export class AppInstance {
  private ready = false;
  constructor(
    readonly process: ManagedProcess,
    readonly port: number,
    readonly spec: BuildSpec,
  ) {}
  get isReady(): boolean {
    return this.ready && !this.process.hasExited;
  }
  get hasFailed(): boolean {
    return this.process.hasExited;
  }
  markReady(): void {
    this.ready = true;
  }
}

/**
 * Starts faulty-app builds as real processes on ephemeral loopback ports. The fault onset is
 * scenario time and is divided by the time scale here; added latency is real time and is not.
 */
export class AppLauncher {
  constructor(
    private readonly registry: ProcessRegistry,
    private readonly bundlePath: string,
    private readonly timeScale: number,
    private readonly env: NodeJS.ProcessEnv = process.env,
    /** The runner's slot the processes serve, in their environment (CANARY_MTTR_SLOT) for diagnosis. */
    private readonly slot = 1,
  ) {}

  /** Starts a process and resolves once it listens (not yet ready). */
  async start(spec: BuildSpec, label: string, seed: number): Promise<AppInstance> {
    const env: NodeJS.ProcessEnv = {
      PATH: this.env.PATH,
      HOST: '127.0.0.1',
      PORT: '0',
      APP_VERSION: spec.version,
      FAULT_MODE: spec.fault,
      FAULT_ERROR_RATE: String(spec.errorRate),
      FAULT_LATENCY_MS: String(spec.latencyMs),
      FAULT_ONSET_S: String(spec.onsetS / this.timeScale),
      FAULT_SEED: String(seed >>> 0),
      CANARY_MTTR_SLOT: String(this.slot),
    };
    const proc = this.registry.spawn(process.execPath, [this.bundlePath], { env, label });
    let stderr = '';
    proc.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 4_000) stderr += chunk;
    });
    const port = await new Promise<number>((resolve, reject) => {
      let buffered = '';
      const onData = (chunk: string) => {
        buffered += chunk;
        const newline = buffered.indexOf('\n');
        if (newline < 0) return;
        proc.child.stdout?.off('data', onData);
        // Keep draining stdout so a chatty child never blocks on a full pipe.
        proc.child.stdout?.resume();
        try {
          const line = JSON.parse(buffered.slice(0, newline)) as { event?: string; port?: number };
          if (line.event === 'listening' && typeof line.port === 'number') resolve(line.port);
          else
            reject(new PlatformError(`${label}: unexpected first line from faulty-app: ${buffered.slice(0, newline)}`));
        } catch {
          reject(new PlatformError(`${label}: unexpected first line from faulty-app: ${buffered.slice(0, newline)}`));
        }
      };
      proc.child.stdout?.setEncoding('utf8').on('data', onData);
      void proc.exited.then((exit) =>
        reject(
          new PlatformError(
            `${label}: faulty-app exited before listening (code ${exit.code}): ${stderr.trim().split('\n')[0] ?? ''}`,
          ),
        ),
      );
    });
    debug('%s listening on %d (pid %d)', label, port, proc.pid);
    return new AppInstance(proc, port, spec);
  }

  /** Polls /readyz until it answers 200, the process exits, or `timeoutWallMs` passes. */
  async waitReady(instance: AppInstance, timeoutWallMs: number, signal?: AbortSignal): Promise<boolean> {
    const probeOnce = async () => (instance.hasFailed ? 'failed' : (await probe(instance.port, '/readyz')) && 'ready');
    const seen = await pollUntil(probeOnce, { everyMs: 20, timeoutMs: timeoutWallMs, signal });
    if (seen !== 'ready') return false;
    instance.markReady();
    return true;
  }
}

function probe(port: number, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 500, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

/** The port of the Services the flagger chart generates (faulty-app/charts/flagger/values.yaml). */
export const CHART_SERVICE_PORT = 8080;

/**
 * The flagger chart's pre-rollout smoke test (faulty-app/charts/flagger/templates/canary.yaml), the
 * command flagger-loadtester runs as a bash task.
 */
export function smokeTestCommand(service: string, namespace: string, port = CHART_SERVICE_PORT): string {
  return `curl -sf -X POST -d '{"sms":"smoke test"}' -H 'content-type: application/json' http://${service}-canary.${namespace}:${port}/sms`;
}

/**
 * The detail of Flagger's `Halt … pre-rollout check smoke-test failed …` event when the loadtester
 * answers the webhook with an error. Flagger's webhook client does not retry and drops the answer's
 * body (the loadtester's own log keeps curl's exit), so the event names only the request; this is
 * the text the real Flagger gave on the local control plane (`npm run test:cluster`,
 * kube-smoke-test.cluster.test.ts).
 */
export function webhookFailure(loadtesterNamespace: string): string {
  return `POST http://flagger-loadtester.${loadtesterNamespace}/ giving up after 1 attempt(s)`;
}

/**
 * POST /sms once against a build, as the proposal's smoke-test hook does. Undefined when it passed;
 * otherwise the detail Flagger's event carries: the loadtester's BashTask error
 * (`command %s failed: %s: %w`, pkg/loadtester/bash.go, Flagger 1.44) with curl's output (none,
 * under -s) and its exit status, 22 for an answer of 400 or more (-f) and 7 when it cannot connect.
 * curl has no time limit there, so a hung canary is the model's own timeout, named as such.
 */
export function smokeRequest(port: number, timeoutWallMs: number, command: string): Promise<string | undefined> {
  const failed = (curlExit: number) => `command ${command} failed: : exit status ${curlExit}`;
  return new Promise((resolve) => {
    const body = JSON.stringify({ sms: 'smoke test' });
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/sms',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: timeoutWallMs,
        agent: false,
      },
      (res) => {
        res.resume();
        resolve((res.statusCode ?? 0) >= 400 ? failed(22) : undefined);
      },
    );
    let timedOut = false;
    req.once('timeout', () => {
      timedOut = true;
      req.destroy(new Error('timeout'));
    });
    req.once('error', () =>
      resolve(timedOut ? `POST /sms unanswered after ${timeoutWallMs} ms (the model's smoke-test timeout)` : failed(7)),
    );
    req.end(body);
  });
}
