/**
 * faulty-app: the SMS-spam checker released in the experiment, with an optional built-in fault.
 *
 * Run directly (`node --import tsx faulty-app/src/server.ts`, or `node <bundle>` built by
 * build.ts) it reads its settings from the environment, listens, and prints one JSON line:
 *   {"event":"listening","port":8080,"version":"v1","pid":1234}
 * The harness waits for that line instead of polling, and reads the port from it when PORT=0.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { realpathSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { classify } from './classifier.ts';
import { AppConfigError, parseAppConfig, type AppConfig } from './config.ts';
import { createAppMetrics, metricsContentType } from './metrics.ts';
import { createSeededRandom } from './random.ts';

export interface StartServerOptions {
  /** Diagnostic lines (never one per request). Default: dropped. */
  log?: (line: string) => void;
  /**
   * What crash mode does when CRASH_AFTER_MS has passed. The process entry point exits with code
   * 1; the default, for in-process use, drops every connection and stops listening, which is what
   * a client sees of a crashed process without taking the caller's process down with it.
   */
  onCrash?: () => void;
  /** Monotonic milliseconds, for the fault onset. Default performance.now. Tests pass a fake. */
  now?: () => number;
}

export interface RunningApp extends AsyncDisposable {
  /** The port actually bound (differs from config.port when that is 0). */
  readonly port: number;
  /**
   * Stops listening, closes idle keep-alive connections at once and any other after a short
   * grace period. Safe to call more than once; later calls return the same promise.
   */
  close(graceMs?: number): Promise<void>;
}

/** Larger bodies are refused with 413: an SMS is at most a few hundred characters. */
const maxBodyBytes = 64 * 1024;
/** How long close() lets in-flight answers finish before dropping their connections. */
const closeGraceMs = 500;
/**
 * Longer than the clients' idle timeouts (Node's agent keeps idle sockets indefinitely): a server
 * that closes an idle socket just as a client reuses it produces an ECONNRESET that the
 * experiment would count as a failed user request caused by the release.
 */
const keepAliveTimeoutMs = 65_000;

const jsonType = 'application/json';
const textType = 'text/plain; charset=utf-8';
const smsUsage = 'send {"sms":"<text>"}';
const bodies = {
  spam: JSON.stringify({ result: 'spam' }),
  ham: JSON.stringify({ result: 'ham' }),
  injected: JSON.stringify({ error: 'injected fault' }),
  badJson: JSON.stringify({ error: `request body is not valid JSON; ${smsUsage}` }),
  badField: JSON.stringify({ error: `field "sms" must be a string; ${smsUsage}` }),
  tooLarge: JSON.stringify({ error: `request body is larger than ${maxBodyBytes} bytes` }),
  notFound: JSON.stringify({ error: 'not found; endpoints: POST /sms, GET /healthz, GET /readyz, GET /metrics' }),
  internal: JSON.stringify({ error: 'internal error' }),
};

/** Paths used as metric labels; anything else is counted as "other" to keep the label set small. */
type PathLabel = '/sms' | '/healthz' | '/readyz' | '/metrics' | 'other';

function methodNotAllowed(allow: string): string {
  return JSON.stringify({ error: `method not allowed; use ${allow}` });
}

/** Starts faulty-app on config.host:config.port. Rejects if it cannot listen. */
export async function startServer(config: AppConfig, options: StartServerOptions = {}): Promise<RunningApp> {
  const log = options.log ?? (() => {});
  const now = options.now ?? (() => performance.now());
  const version = config.version;
  const metrics = createAppMetrics({ version, faultMode: config.faultMode });
  const random = createSeededRandom(config.faultSeed);
  const onsetMs = config.faultOnsetS * 1000;
  const crashing = config.faultMode === 'crash';
  const pendingDelays = new Set<NodeJS.Timeout>();
  let startedAtMs = Infinity;

  const reply = (
    res: ServerResponse,
    path: PathLabel,
    startedMs: number,
    status: number,
    contentType: string,
    body: string,
    extraHeaders?: Record<string, string>,
  ): void => {
    // A client that went away during an added delay gets no answer and is not counted.
    if (res.destroyed || res.headersSent) return;
    res.writeHead(status, {
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
      'x-app-version': version,
      ...extraHeaders,
    });
    res.end(body);
    metrics.countRequest(path, status);
    if (path === '/sms') metrics.observeSmsDuration((performance.now() - startedMs) / 1000);
  };

  const answerSms = (res: ServerResponse, body: Buffer, startedMs: number): void => {
    let text: unknown;
    try {
      text = (JSON.parse(body.toString('utf8')) as { sms?: unknown } | null)?.sms;
    } catch {
      reply(res, '/sms', startedMs, 400, jsonType, bodies.badJson);
      return;
    }
    if (typeof text !== 'string') {
      reply(res, '/sms', startedMs, 400, jsonType, bodies.badField);
      return;
    }
    reply(res, '/sms', startedMs, 200, jsonType, classify(text) === 'spam' ? bodies.spam : bodies.ham);
  };

  // The fault sits in front of the request handling, as a broken build's would: after the
  // onset it applies to every POST /sms whatever its body.
  const serveSms = (res: ServerResponse, body: Buffer, startedMs: number): void => {
    const faultActive = now() - startedAtMs >= onsetMs;
    if (faultActive && config.faultMode === 'http500') {
      // Draw only while the fault is active, so the sequence of outcomes after the onset
      // depends on FAULT_SEED alone.
      if (random() < config.faultErrorRate) {
        reply(res, '/sms', startedMs, 500, jsonType, bodies.injected);
        return;
      }
    } else if (faultActive && config.faultMode === 'latency' && config.faultLatencyMs > 0) {
      // Node's timers may fire up to a millisecond early against performance.now(): the timer
      // is armed again for what is left, so every answer takes at least faultLatencyMs.
      const wait = (): void => {
        const leftMs = config.faultLatencyMs - (performance.now() - startedMs);
        if (leftMs <= 0) {
          answerSms(res, body, startedMs);
          return;
        }
        const timer = setTimeout(() => {
          pendingDelays.delete(timer);
          wait();
        }, Math.ceil(leftMs));
        pendingDelays.add(timer);
      };
      wait();
      return;
    }
    answerSms(res, body, startedMs);
  };

  const readSms = (req: IncomingMessage, res: ServerResponse, startedMs: number): void => {
    const refuseTooLarge = () => reply(res, '/sms', startedMs, 413, jsonType, bodies.tooLarge, { connection: 'close' });
    if (Number(req.headers['content-length']) > maxBodyBytes) {
      refuseTooLarge();
      return;
    }
    // Bodies without a Content-Length (chunked) are measured as they arrive.
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBodyBytes) {
        refused = true;
        chunks.length = 0;
        refuseTooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      serveSms(res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), startedMs);
    });
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const startedMs = performance.now();
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const pathname = query === -1 ? url : url.slice(0, query);
    const method = req.method;
    const isGet = method === 'GET' || method === 'HEAD';
    switch (pathname) {
      case '/sms':
        if (method === 'POST') readSms(req, res, startedMs);
        else reply(res, '/sms', startedMs, 405, jsonType, methodNotAllowed('POST'), { allow: 'POST' });
        return;
      case '/healthz':
        if (isGet) reply(res, '/healthz', startedMs, 200, textType, 'ok');
        else reply(res, '/healthz', startedMs, 405, jsonType, methodNotAllowed('GET'), { allow: 'GET, HEAD' });
        return;
      case '/readyz':
        if (!isGet) reply(res, '/readyz', startedMs, 405, jsonType, methodNotAllowed('GET'), { allow: 'GET, HEAD' });
        // A crashing build never becomes ready, so a rollout waiting on readiness stalls on it.
        else if (crashing) reply(res, '/readyz', startedMs, 503, textType, 'not ready');
        else reply(res, '/readyz', startedMs, 200, textType, 'ready');
        return;
      case '/metrics':
        if (isGet) reply(res, '/metrics', startedMs, 200, metricsContentType, metrics.render());
        else reply(res, '/metrics', startedMs, 405, jsonType, methodNotAllowed('GET'), { allow: 'GET, HEAD' });
        return;
      default:
        reply(res, 'other', startedMs, 404, jsonType, bodies.notFound);
    }
  };

  const server = createServer({ keepAliveTimeout: keepAliveTimeoutMs }, (req, res) => {
    // Aborted uploads emit 'error' on the request; without a listener that would crash the app.
    req.on('error', () => {});
    try {
      handle(req, res);
    } catch (err) {
      log(`faulty-app: internal error: ${err instanceof Error ? err.message : String(err)}`);
      reply(res, 'other', performance.now(), 500, jsonType, bodies.internal);
    }
  });
  // Node answers unparsable requests itself, without our headers; answer them here instead so
  // that every response, even a 400 from the parser, names the build that produced it.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n` +
        `x-app-version: ${version}\r\n\r\n`,
    );
    metrics.countRequest('other', status);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: config.port, host: config.host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  startedAtMs = now();
  server.on('error', (err) => log(`faulty-app: server error: ${err.message}`));

  let crashTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  const shutdown = (graceMs: number): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      clearTimeout(crashTimer);
      const dropAll = () => {
        for (const timer of pendingDelays) clearTimeout(timer);
        pendingDelays.clear();
        server.closeAllConnections();
      };
      const graceTimer = setTimeout(dropAll, graceMs);
      server.close(() => {
        clearTimeout(graceTimer);
        resolve();
      });
      server.closeIdleConnections();
      if (graceMs === 0) dropAll();
    }));

  if (crashing) {
    crashTimer = setTimeout(() => {
      log(`faulty-app: FAULT_MODE=crash: crashing ${config.crashAfterMs} ms after start`);
      if (options.onCrash) options.onCrash();
      else void shutdown(0);
    }, config.crashAfterMs);
  }

  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const close = (graceMs = closeGraceMs) => shutdown(graceMs);
  return { port, close, [Symbol.asyncDispose]: () => close() };
}

/** The process entry point: settings from the environment, one listening line, clean signals. */
async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = parseAppConfig(process.env);
  } catch (err) {
    if (!(err instanceof AppConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = err.exitCode;
    return;
  }

  const log = (line: string) => process.stderr.write(`${line}\n`);
  let app: RunningApp;
  try {
    app = await startServer(config, { log, onCrash: () => process.exit(1) });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    log(`faulty-app: cannot listen on ${config.host}:${config.port}: ${reason}; set PORT to a free port, or 0 for any`);
    process.exitCode = 1;
    return;
  }

  let stopping = false;
  const stop = () => {
    // A second signal means "now".
    if (stopping) process.exit(0);
    stopping = true;
    // In-flight requests get the grace period; idle connections close at once. Never outlive it.
    setTimeout(() => process.exit(0), config.shutdownGraceMs + 400).unref();
    void app.close(config.shutdownGraceMs).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  process.stdout.write(
    `${JSON.stringify({ event: 'listening', port: app.port, version: config.version, pid: process.pid })}\n`,
  );
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    // Holds both under tsx (this file) and in the esbuild bundle (import.meta.url is the bundle).
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) {
  main().catch((err: unknown) => {
    // Not a settings problem: a bug. Print everything.
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
