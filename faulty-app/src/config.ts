/**
 * faulty-app's settings, read from environment variables only, so the same build runs unchanged
 * as a child process of the local platform, as a container and as a Kubernetes pod.
 *
 * Parsing is strict: a typo in a fault setting must stop the app instead of quietly releasing a
 * healthy build into an experiment that expects a faulty one.
 */

export const FaultModes = ['none', 'http500', 'latency', 'crash'] as const;
export type FaultMode = (typeof FaultModes)[number];

export interface AppConfig {
  /** PORT: TCP port to listen on; 0 picks a free one (the listening line reports it). Default 8080. */
  port: number;
  /** HOST: address to listen on. Default 0.0.0.0. */
  host: string;
  /** APP_VERSION: sent as `x-app-version` on every response and in `app_build_info`. Default v1. */
  version: string;
  /** FAULT_MODE: which fault this build carries. Default none. */
  faultMode: FaultMode;
  /** FAULT_ERROR_RATE: share of POST /sms requests answered 500 when faultMode is http500. Default 1. */
  faultErrorRate: number;
  /** FAULT_LATENCY_MS: least time a POST /sms answer takes, from its arrival, when faultMode is latency. Default 0. */
  faultLatencyMs: number;
  /**
   * FAULT_ONSET_S: seconds after start (the moment the server listens) before the fault applies.
   * Fractions are allowed because the harness compresses time. Default 0.
   */
  faultOnsetS: number;
  /** FAULT_SEED: seeds the per-request error draw, so an error rate gives the same sequence every run. Default 1. */
  faultSeed: number;
  /** CRASH_AFTER_MS: in crash mode, the process exits with code 1 this long after start. Default 300. */
  crashAfterMs: number;
  /**
   * SHUTDOWN_GRACE_MS: on SIGTERM, requests in flight get this long to finish (Kubernetes'
   * terminationGracePeriod in small). Default 5000: a slow build's answers are not cut off when its
   * pod is scaled down, which would count as failures the rollback itself caused.
   */
  shutdownGraceMs: number;
}

/** An invalid environment variable. The message is one line a user can act on. */
export class AppConfigError extends Error {
  readonly code = 'E_CONFIG';
  /** faulty-app exits with this code when it cannot start because of its settings. */
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'AppConfigError';
  }
}

/** The FAULT_* variables faulty-app understands; any other FAULT_* variable is rejected as a typo. */
export const knownFaultVariables = [
  'FAULT_MODE',
  'FAULT_ERROR_RATE',
  'FAULT_LATENCY_MS',
  'FAULT_ONSET_S',
  'FAULT_SEED',
] as const;

export const defaultAppConfig: Readonly<AppConfig> = Object.freeze({
  port: 8080,
  host: '0.0.0.0',
  version: 'v1',
  faultMode: 'none',
  faultErrorRate: 1,
  faultLatencyMs: 0,
  faultOnsetS: 0,
  faultSeed: 1,
  crashAfterMs: 300,
  shutdownGraceMs: 5000,
});

// Plain decimal or exponent notation only: Number() would also accept '', ' 1', '0x10' and
// 'Infinity', none of which a person setting a fault means.
const decimalPattern = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const integerPattern = /^[+-]?\d+$/;
const versionPattern = /^[A-Za-z0-9._-]+$/;

function fail(name: string, value: string, problem: string): never {
  throw new AppConfigError(`faulty-app: ${name}=${JSON.stringify(value)} ${problem}`);
}

function parseDecimal(value: string): number | undefined {
  if (!decimalPattern.test(value)) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function readNonNegative(env: Env, name: string, fallback: number, problem: string): number {
  const raw = env[name];
  if (raw === undefined) return fallback;
  const n = parseDecimal(raw);
  if (n === undefined || n < 0) fail(name, raw, problem);
  return n;
}

type Env = Record<string, string | undefined>;

/**
 * Reads faulty-app's settings from `env`. Unset variables take their defaults; a variable set to
 * an empty string is invalid (an empty value is almost always a template that did not render).
 * Throws AppConfigError for the first problem found.
 */
export function parseAppConfig(env: Env): AppConfig {
  const unknown = Object.keys(env)
    .filter((k) => k.startsWith('FAULT_') && env[k] !== undefined)
    .filter((k) => !(knownFaultVariables as readonly string[]).includes(k))
    .sort();
  if (unknown[0] !== undefined) {
    throw new AppConfigError(
      `faulty-app: ${unknown[0]} is not a known setting; known: ${knownFaultVariables.join(', ')}`,
    );
  }

  let port = defaultAppConfig.port;
  const rawPort = env.PORT;
  if (rawPort !== undefined) {
    const n = integerPattern.test(rawPort) ? Number(rawPort) : NaN;
    if (!(n >= 0 && n <= 65535)) {
      fail(
        'PORT',
        rawPort,
        'is not a port number between 0 and 65535; set it to a free port such as 8080, or 0 for any free port',
      );
    }
    port = n;
  }

  const host = env.HOST ?? defaultAppConfig.host;
  if (host.trim() === '' || host !== host.trim()) {
    fail('HOST', host, 'is not an address; set it to the address to listen on, such as 0.0.0.0 or 127.0.0.1');
  }

  const version = env.APP_VERSION ?? defaultAppConfig.version;
  if (!versionPattern.test(version)) {
    fail('APP_VERSION', version, "is not a valid version; use only letters, digits, '.', '_' and '-', such as v2");
  }

  const rawMode = env.FAULT_MODE ?? defaultAppConfig.faultMode;
  if (!(FaultModes as readonly string[]).includes(rawMode)) {
    fail('FAULT_MODE', rawMode, `is not one of ${FaultModes.join(', ')}`);
  }
  const faultMode = rawMode as FaultMode;

  let faultErrorRate = defaultAppConfig.faultErrorRate;
  const rawRate = env.FAULT_ERROR_RATE;
  if (rawRate !== undefined) {
    const n = parseDecimal(rawRate);
    if (n === undefined || n < 0 || n > 1) {
      fail('FAULT_ERROR_RATE', rawRate, 'is not a number between 0 and 1; set it to a share such as 0.05');
    }
    faultErrorRate = n;
  }

  const faultLatencyMs = readNonNegative(
    env,
    'FAULT_LATENCY_MS',
    defaultAppConfig.faultLatencyMs,
    'is not a non-negative number of milliseconds; set it to a delay such as 800',
  );
  const faultOnsetS = readNonNegative(
    env,
    'FAULT_ONSET_S',
    defaultAppConfig.faultOnsetS,
    'is not a non-negative number of seconds; set it to a delay such as 30 (fractions such as 0.5 are allowed)',
  );

  let faultSeed = defaultAppConfig.faultSeed;
  const rawSeed = env.FAULT_SEED;
  if (rawSeed !== undefined) {
    const n = integerPattern.test(rawSeed) ? Number(rawSeed) : NaN;
    if (!Number.isSafeInteger(n)) fail('FAULT_SEED', rawSeed, 'is not an integer; set it to a whole number such as 42');
    faultSeed = n;
  }

  const crashAfterMs = readNonNegative(
    env,
    'CRASH_AFTER_MS',
    defaultAppConfig.crashAfterMs,
    'is not a non-negative number of milliseconds; set it to a delay such as 300',
  );

  const shutdownGraceMs = readNonNegative(
    env,
    'SHUTDOWN_GRACE_MS',
    defaultAppConfig.shutdownGraceMs,
    'is not a non-negative number of milliseconds; set it to a grace period such as 5000',
  );

  return {
    port,
    host,
    version,
    faultMode,
    faultErrorRate,
    faultLatencyMs,
    faultOnsetS,
    faultSeed,
    crashAfterMs,
    shutdownGraceMs,
  };
}

/**
 * The environment variables that make faulty-app run with `config`: the inverse of
 * parseAppConfig, for platforms that start the app as a process or a pod.
 */
export function appConfigToEnv(config: Partial<AppConfig>): Record<string, string> {
  const env: Record<string, string> = {};
  const set = (name: string, value: string | number | undefined) => {
    if (value !== undefined) env[name] = String(value);
  };
  set('PORT', config.port);
  set('HOST', config.host);
  set('APP_VERSION', config.version);
  set('FAULT_MODE', config.faultMode);
  set('FAULT_ERROR_RATE', config.faultErrorRate);
  set('FAULT_LATENCY_MS', config.faultLatencyMs);
  set('FAULT_ONSET_S', config.faultOnsetS);
  set('FAULT_SEED', config.faultSeed);
  set('CRASH_AFTER_MS', config.crashAfterMs);
  set('SHUTDOWN_GRACE_MS', config.shutdownGraceMs);
  return env;
}
