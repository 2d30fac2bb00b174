/**
 * Test helpers for faulty-app: real HTTP on loopback, real app processes that are always reaped,
 * and a strict parser for the Prometheus text exposition format 0.0.4. Not part of the bundle.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------------------------
// HTTP

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  durationMs: number;
}

export function httpRequest(
  port: number,
  method: string,
  path: string,
  options: { body?: string; agent?: http.Agent; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: options.agent ?? false,
        headers: {
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            durationMs: performance.now() - started,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

export function postSms(port: number, sms: unknown, agent?: http.Agent): Promise<HttpAnswer> {
  return httpRequest(port, 'POST', '/sms', { body: JSON.stringify({ sms }), agent });
}

// ---------------------------------------------------------------------------------------------
// App processes

export const serverSourcePath = fileURLToPath(new URL('./server.ts', import.meta.url));
export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Node arguments that start the app: the esbuild bundle, or the TypeScript source through tsx. */
export function appArgs(launch: { bundle: string } | 'tsx'): string[] {
  return launch === 'tsx' ? ['--import', 'tsx', serverSourcePath] : [launch.bundle];
}

export interface ListeningLine {
  event: 'listening';
  port: number;
  version: string;
  pid: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface AppProcess extends AsyncDisposable {
  readonly child: ChildProcess;
  readonly listening: ListeningLine;
  /** The raw first stdout line, exactly as printed. */
  readonly listeningLine: string;
  readonly port: number;
  /** Milliseconds from spawn to the listening line. */
  readonly startMs: number;
  readonly exited: Promise<Exit>;
  stdout(): string;
  stderr(): string;
  /** SIGKILLs the process if it still runs and waits for it to be gone. */
  kill(): Promise<void>;
}

const liveProcesses = new Set<ChildProcess>();

/** Kills every app process a test started and has not reaped; call from afterEach. */
export async function killAllApps(): Promise<void> {
  await Promise.all([...liveProcesses].map((child) => killChild(child)));
}

function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    liveProcesses.delete(child);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Only what the app needs: tests must not depend on FAULT_* variables of the machine running them. */
function appEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: '0', HOST: '127.0.0.1' };
  if (process.env.TMPDIR !== undefined) base.TMPDIR = process.env.TMPDIR;
  return { ...base, ...env };
}

function spawnTracked(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, args, {
    cwd: projectRoot,
    env: appEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveProcesses.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<Exit>((resolve) => {
    // 'close' rather than 'exit': by then stdout and stderr have been read to the end.
    child.once('close', (code, signal) => {
      liveProcesses.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** Starts the app and resolves once it printed its listening line. */
export async function startApp(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<AppProcess> {
  const spawnedAt = performance.now();
  const p = spawnTracked(args, env);
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no listening line within ${timeoutMs} ms; stderr: ${p.stderr()}`)),
        timeoutMs,
      );
      const onData = () => {
        const newline = p.stdout().indexOf('\n');
        if (newline === -1) return;
        clearTimeout(timer);
        p.child.stdout!.off('data', onData);
        resolve(p.stdout().slice(0, newline));
      };
      p.child.stdout!.on('data', onData);
      void p.exited.then((exit) => {
        clearTimeout(timer);
        reject(new Error(`app exited (${exit.code ?? exit.signal}) before listening; stderr: ${p.stderr()}`));
      });
    });
    const startMs = performance.now() - spawnedAt;
    const listening = JSON.parse(line) as ListeningLine;
    const kill = () => killChild(p.child);
    return {
      child: p.child,
      listening,
      listeningLine: line,
      port: listening.port,
      startMs,
      exited: p.exited,
      stdout: p.stdout,
      stderr: p.stderr,
      kill,
      [Symbol.asyncDispose]: kill,
    };
  } catch (err) {
    await killChild(p.child);
    throw err;
  }
}

/** Runs the app until it exits by itself (or is killed at the deadline, which fails the test). */
export async function runAppToExit(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 15_000,
): Promise<Exit & { stdout: string; stderr: string }> {
  const p = spawnTracked(args, env);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  try {
    const exit = await p.exited;
    return { ...exit, stdout: p.stdout(), stderr: p.stderr() };
  } finally {
    clearTimeout(timer);
    await killChild(p.child);
  }
}

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition format 0.0.4, strictly

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string | undefined;
  samples: PromSample[];
}

const metricNameRe = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNameRe = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const floatRe = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const types = ['counter', 'gauge', 'histogram', 'summary', 'untyped'] as const;

function parseFloatStrict(text: string): number | undefined {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  return floatRe.test(text) ? Number(text) : undefined;
}

/**
 * Parses exposition text and throws on anything a strict reader would reject: lines that are
 * neither a HELP/TYPE comment nor a sample, bad metric or label names, bad escapes, samples
 * without a TYPE or apart from their family, duplicate series, and histograms whose buckets
 * are not cumulative or disagree with _count.
 */
export function parsePrometheusText(text: string): Map<string, PromFamily> {
  if (!text.endsWith('\n')) throw new Error('exposition text must end with a newline');
  const families = new Map<string, PromFamily>();
  const seenSeries = new Set<string>();
  const typed = new Set<string>();
  let current: PromFamily | undefined;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, index) => {
    const where = `line ${index + 1} ${JSON.stringify(line)}`;
    const fail = (problem: string): never => {
      throw new Error(`${where}: ${problem}`);
    };
    if (line.includes('\r')) fail('carriage return');
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) fail('comment is not a HELP or TYPE line');
      const [, keyword, name, rest] = m!;
      if (!metricNameRe.test(name!)) fail(`invalid metric name ${name}`);
      let family = families.get(name!);
      if (family === undefined) {
        family = { name: name!, type: 'untyped', help: undefined, samples: [] };
        families.set(name!, family);
      } else if (family.samples.length > 0) fail(`${keyword} for ${name} after its samples`);
      if (keyword === 'HELP') {
        if (family.help !== undefined) fail(`second HELP for ${name}`);
        if (rest!.replace(/\\[\\n]/g, '').includes('\\')) fail('invalid escape in HELP text');
        family.help = rest!.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
      } else {
        if (!(types as readonly string[]).includes(rest!)) fail(`unknown type ${rest}`);
        if (typed.has(name!)) fail(`second TYPE for ${name}`);
        typed.add(name!);
        family.type = rest as PromFamily['type'];
      }
      current = family;
      return;
    }
    if (line === '') fail('empty line');

    // metric_name [{label="value",...}] value [timestamp]
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) fail('not a sample: no metric name');
    const name = nameMatch![0];
    let pos = name.length;
    const labels: Record<string, string> = {};
    if (line[pos] === '{') {
      pos++;
      while (line[pos] !== '}') {
        const labelMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(pos));
        if (!labelMatch) fail(`invalid label name at column ${pos + 1}`);
        const labelName = labelMatch![0];
        if (!labelNameRe.test(labelName) || labelName.startsWith('__')) fail(`invalid label name ${labelName}`);
        if (labelName in labels) fail(`duplicate label ${labelName}`);
        pos += labelName.length;
        if (line.slice(pos, pos + 2) !== '="') fail(`expected =" after label ${labelName}`);
        pos += 2;
        let value = '';
        for (;;) {
          const c = line[pos];
          if (c === undefined) fail('unterminated label value');
          if (c === '"') break;
          if (c === '\\') {
            const next = line[pos + 1];
            if (next === '\\') value += '\\';
            else if (next === '"') value += '"';
            else if (next === 'n') value += '\n';
            else fail(`invalid escape \\${next ?? ''} in label value`);
            pos += 2;
          } else {
            value += c;
            pos++;
          }
        }
        labels[labelName] = value;
        pos++;
        if (line[pos] === ',') pos++;
        else if (line[pos] !== '}') fail(`expected , or } at column ${pos + 1}`);
      }
      pos++;
    }
    if (line[pos] !== ' ') fail(`expected a space before the value at column ${pos + 1}`);
    const parts = line.slice(pos + 1).split(' ');
    if (parts.length > 2 || parts.some((p) => p === '')) fail('expected "value" or "value timestamp"');
    const value = parseFloatStrict(parts[0]!);
    if (value === undefined) fail(`invalid value ${parts[0]}`);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) fail(`invalid timestamp ${parts[1]}`);

    if (current === undefined || !typed.has(current.name)) fail(`sample ${name} has no TYPE line before it`);
    const family = current!;
    const suffixes =
      family.type === 'histogram'
        ? ['_bucket', '_sum', '_count']
        : family.type === 'summary'
          ? ['', '_sum', '_count']
          : [''];
    if (!suffixes.some((s) => name === family.name + s))
      fail(`sample ${name} does not belong to family ${family.name}`);
    if (family.type === 'histogram' && name.endsWith('_bucket') && labels.le === undefined)
      fail('bucket without le label');
    if (family.type === 'counter' && !(value! >= 0)) fail('counter value must be a non-negative number');
    const seriesKey = `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(labels[k])}`)
      .join(',')}}`;
    if (seenSeries.has(seriesKey)) fail(`duplicate series ${seriesKey}`);
    seenSeries.add(seriesKey);
    family.samples.push({ name, labels, value: value! });
  });

  for (const family of families.values()) {
    if (family.type === 'histogram') checkHistogram(family);
  }
  return families;
}

function checkHistogram(family: PromFamily): void {
  const groups = new Map<string, PromSample[]>();
  const keyOf = (labels: Record<string, string>) =>
    JSON.stringify(
      Object.entries(labels)
        .filter(([k]) => k !== 'le')
        .sort(),
    );
  for (const s of family.samples) {
    const key = keyOf(s.labels);
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  for (const [key, samples] of groups) {
    const buckets = samples
      .filter((s) => s.name.endsWith('_bucket'))
      .map((s) => {
        const le = parseFloatStrict(s.labels.le!);
        if (le === undefined || Number.isNaN(le)) throw new Error(`${family.name}${key}: invalid le ${s.labels.le}`);
        return { le, value: s.value };
      })
      .sort((a, b) => a.le - b.le);
    const count = samples.find((s) => s.name === `${family.name}_count`);
    const sum = samples.find((s) => s.name === `${family.name}_sum`);
    const inf = buckets.at(-1);
    if (!inf || inf.le !== Infinity) throw new Error(`${family.name}${key}: no +Inf bucket`);
    if (!count || !sum) throw new Error(`${family.name}${key}: missing _count or _sum`);
    if (inf.value !== count.value)
      throw new Error(`${family.name}${key}: +Inf bucket ${inf.value} != _count ${count.value}`);
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i]!.value < buckets[i - 1]!.value)
        throw new Error(`${family.name}${key}: buckets are not cumulative`);
    }
  }
}

/** The value of one series, or undefined when it is absent. */
export function sampleValue(
  families: Map<string, PromFamily>,
  familyName: string,
  sampleName: string,
  labels: Record<string, string> = {},
): number | undefined {
  const family = families.get(familyName);
  const wanted = Object.entries(labels);
  return family?.samples.find(
    (s) =>
      s.name === sampleName &&
      Object.keys(s.labels).length === wanted.length &&
      wanted.every(([k, v]) => s.labels[k] === v),
  )?.value;
}
