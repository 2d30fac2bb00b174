import { describe, expect, it } from 'vitest';
import { AppConfigError, appConfigToEnv, defaultAppConfig, parseAppConfig } from './config.ts';

function messageOf(env: Record<string, string | undefined>): string {
  try {
    parseAppConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(AppConfigError);
    return (err as Error).message;
  }
  throw new Error(`parseAppConfig accepted ${JSON.stringify(env)}`);
}

describe('parseAppConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    expect(parseAppConfig({})).toEqual({
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
    expect(parseAppConfig({})).toEqual(defaultAppConfig);
  });

  it('reads every setting', () => {
    expect(
      parseAppConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        APP_VERSION: 'v2.1_rc-3',
        FAULT_MODE: 'http500',
        FAULT_ERROR_RATE: '0.05',
        FAULT_LATENCY_MS: '800',
        FAULT_ONSET_S: '0.25',
        FAULT_SEED: '-42',
        CRASH_AFTER_MS: '1500',
        SHUTDOWN_GRACE_MS: '250',
      }),
    ).toEqual({
      port: 0,
      host: '127.0.0.1',
      version: 'v2.1_rc-3',
      faultMode: 'http500',
      faultErrorRate: 0.05,
      faultLatencyMs: 800,
      faultOnsetS: 0.25,
      faultSeed: -42,
      crashAfterMs: 1500,
      shutdownGraceMs: 250,
    });
  });

  it('accepts the boundaries of each range', () => {
    expect(parseAppConfig({ PORT: '65535' }).port).toBe(65535);
    expect(parseAppConfig({ FAULT_ERROR_RATE: '0' }).faultErrorRate).toBe(0);
    expect(parseAppConfig({ FAULT_ERROR_RATE: '1' }).faultErrorRate).toBe(1);
    expect(parseAppConfig({ FAULT_ERROR_RATE: '5e-3' }).faultErrorRate).toBe(0.005);
    expect(parseAppConfig({ FAULT_ONSET_S: '.5' }).faultOnsetS).toBe(0.5);
    expect(parseAppConfig({ CRASH_AFTER_MS: '0' }).crashAfterMs).toBe(0);
    for (const mode of ['none', 'http500', 'latency', 'crash'] as const) {
      expect(parseAppConfig({ FAULT_MODE: mode }).faultMode).toBe(mode);
    }
  });

  it('ignores variables that are not its own', () => {
    expect(parseAppConfig({ PATH: '/usr/bin', NODE_ENV: 'production', APP_NAME: 'x', FAULTY: '1' })).toEqual(
      defaultAppConfig,
    );
  });

  it('treats an undefined value as unset', () => {
    expect(parseAppConfig({ FAULT_RATE: undefined, PORT: undefined })).toEqual(defaultAppConfig);
  });

  it.each([
    [
      { FAULT_ERROR_RATE: '1.5' },
      'faulty-app: FAULT_ERROR_RATE="1.5" is not a number between 0 and 1; set it to a share such as 0.05',
    ],
    [
      { FAULT_ERROR_RATE: '-0.1' },
      'faulty-app: FAULT_ERROR_RATE="-0.1" is not a number between 0 and 1; set it to a share such as 0.05',
    ],
    [
      { FAULT_ERROR_RATE: '5%' },
      'faulty-app: FAULT_ERROR_RATE="5%" is not a number between 0 and 1; set it to a share such as 0.05',
    ],
    [
      { FAULT_ERROR_RATE: '' },
      'faulty-app: FAULT_ERROR_RATE="" is not a number between 0 and 1; set it to a share such as 0.05',
    ],
    [
      { FAULT_ERROR_RATE: 'NaN' },
      'faulty-app: FAULT_ERROR_RATE="NaN" is not a number between 0 and 1; set it to a share such as 0.05',
    ],
    [{ FAULT_MODE: 'boom' }, 'faulty-app: FAULT_MODE="boom" is not one of none, http500, latency, crash'],
    [{ FAULT_MODE: 'HTTP500' }, 'faulty-app: FAULT_MODE="HTTP500" is not one of none, http500, latency, crash'],
    [{ FAULT_MODE: '' }, 'faulty-app: FAULT_MODE="" is not one of none, http500, latency, crash'],
    [
      { FAULT_LATENCY_MS: '-5' },
      'faulty-app: FAULT_LATENCY_MS="-5" is not a non-negative number of milliseconds; set it to a delay such as 800',
    ],
    [
      { FAULT_LATENCY_MS: '800ms' },
      'faulty-app: FAULT_LATENCY_MS="800ms" is not a non-negative number of milliseconds; set it to a delay such as 800',
    ],
    [
      { FAULT_LATENCY_MS: 'Infinity' },
      'faulty-app: FAULT_LATENCY_MS="Infinity" is not a non-negative number of milliseconds; set it to a delay such as 800',
    ],
    [
      { FAULT_ONSET_S: '30s' },
      'faulty-app: FAULT_ONSET_S="30s" is not a non-negative number of seconds; set it to a delay such as 30 (fractions such as 0.5 are allowed)',
    ],
    [
      { FAULT_ONSET_S: '-1' },
      'faulty-app: FAULT_ONSET_S="-1" is not a non-negative number of seconds; set it to a delay such as 30 (fractions such as 0.5 are allowed)',
    ],
    [{ FAULT_SEED: '1.5' }, 'faulty-app: FAULT_SEED="1.5" is not an integer; set it to a whole number such as 42'],
    [{ FAULT_SEED: 'abc' }, 'faulty-app: FAULT_SEED="abc" is not an integer; set it to a whole number such as 42'],
    [
      { FAULT_SEED: '99999999999999999999' },
      'faulty-app: FAULT_SEED="99999999999999999999" is not an integer; set it to a whole number such as 42',
    ],
    [
      { CRASH_AFTER_MS: 'soon' },
      'faulty-app: CRASH_AFTER_MS="soon" is not a non-negative number of milliseconds; set it to a delay such as 300',
    ],
    [
      { PORT: '70000' },
      'faulty-app: PORT="70000" is not a port number between 0 and 65535; set it to a free port such as 8080, or 0 for any free port',
    ],
    [
      { PORT: '80.5' },
      'faulty-app: PORT="80.5" is not a port number between 0 and 65535; set it to a free port such as 8080, or 0 for any free port',
    ],
    [
      { PORT: ' 8080' },
      'faulty-app: PORT=" 8080" is not a port number between 0 and 65535; set it to a free port such as 8080, or 0 for any free port',
    ],
    [
      { HOST: '' },
      'faulty-app: HOST="" is not an address; set it to the address to listen on, such as 0.0.0.0 or 127.0.0.1',
    ],
    [
      { APP_VERSION: '' },
      "faulty-app: APP_VERSION=\"\" is not a valid version; use only letters, digits, '.', '_' and '-', such as v2",
    ],
    [
      { APP_VERSION: 'v 2' },
      "faulty-app: APP_VERSION=\"v 2\" is not a valid version; use only letters, digits, '.', '_' and '-', such as v2",
    ],
    [
      { APP_VERSION: 'v2"\n' },
      "faulty-app: APP_VERSION=\"v2\\\"\\n\" is not a valid version; use only letters, digits, '.', '_' and '-', such as v2",
    ],
    [
      { FAULT_RATE: '0.05' },
      'faulty-app: FAULT_RATE is not a known setting; known: FAULT_MODE, FAULT_ERROR_RATE, FAULT_LATENCY_MS, FAULT_ONSET_S, FAULT_SEED',
    ],
    [
      { FAULT_MODE: 'boom', FAULT_ONSET: '3' },
      'faulty-app: FAULT_ONSET is not a known setting; known: FAULT_MODE, FAULT_ERROR_RATE, FAULT_LATENCY_MS, FAULT_ONSET_S, FAULT_SEED',
    ],
  ])('rejects %j with one actionable line', (env, expected) => {
    const message = messageOf(env);
    expect(message).toBe(expected);
    expect(message).not.toContain('\n');
  });

  it('reports the alphabetically first unknown FAULT_ variable', () => {
    expect(messageOf({ FAULT_Z: '1', FAULT_A: '1' })).toMatch(/^faulty-app: FAULT_A is not a known setting/);
  });

  it('carries a stable code and the exit code 2', () => {
    try {
      parseAppConfig({ FAULT_MODE: 'boom' });
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ name: 'AppConfigError', code: 'E_CONFIG', exitCode: 2 });
    }
  });
});

describe('appConfigToEnv', () => {
  it('round-trips through parseAppConfig', () => {
    const config = {
      port: 0,
      host: '127.0.0.1',
      version: 'v9',
      faultMode: 'latency' as const,
      faultErrorRate: 0.005,
      faultLatencyMs: 812.5,
      faultOnsetS: 0.001,
      faultSeed: 7,
      crashAfterMs: 10,
      shutdownGraceMs: 0,
    };
    expect(parseAppConfig(appConfigToEnv(config))).toEqual(config);
    expect(appConfigToEnv({ faultMode: 'http500' })).toEqual({ FAULT_MODE: 'http500' });
  });
});
