import { describe, expect, it } from 'vitest';
import { ScaledClock } from '../common/clock.ts';
import type { LoadOptions } from './builtin-generator.ts';
import { LoadError } from './errors.ts';
import { validateLoadOptions } from './options.ts';

const good: LoadOptions = {
  url: 'http://127.0.0.1:8080/sms',
  rateRps: 20,
  clock: new ScaledClock(1),
  timeoutMs: 5_000,
  maxInFlight: 10,
  onRecord: () => undefined,
};
const k6 = { protocols: ['http:', 'https:'], generator: 'k6' };
const builtin = { protocols: ['http:'], generator: 'the built-in generator' };

describe('validateLoadOptions', () => {
  it('returns the target URL of valid options', () => {
    expect(validateLoadOptions(good, builtin).port).toBe('8080');
  });

  it('accepts the schemes the generator names, and rejects the others in its words', () => {
    const https = { ...good, url: 'https://127.0.0.1/sms' };
    expect(validateLoadOptions(https, k6).protocol).toBe('https:');
    expect(() => validateLoadOptions(https, builtin)).toThrow(
      new LoadError('load.url: https://127.0.0.1/sms uses https:; the built-in generator loads http: URLs only'),
    );
    expect(() => validateLoadOptions({ ...good, url: 'ftp://127.0.0.1/sms' }, k6)).toThrow(
      'uses ftp:; k6 loads http: and https: URLs only',
    );
  });

  it.each([
    [{ rateRps: Number.NaN }, 'load.rateRps: NaN req/s is not a positive number of requests per scenario second'],
    [{ timeoutMs: 0 }, 'load.timeoutMs: 0 ms is not a positive duration'],
    [{ maxInFlight: 0 }, 'load.maxInFlight: 0 is not a whole number of requests of at least 1'],
    [
      { clock: { ...good.clock, timeScale: Number.POSITIVE_INFINITY } },
      'load.clock.timeScale: Infinity is not a positive number',
    ],
    [{ bodies: ['{}', '{'] }, 'load.bodies[1]: "{" is not JSON'],
  ] satisfies [Partial<LoadOptions>, string][])('rejects %o for every generator', (bad, message) => {
    for (const can of [k6, builtin]) {
      expect(() => validateLoadOptions({ ...good, ...bad }, can)).toThrow(LoadError);
      expect(() => validateLoadOptions({ ...good, ...bad }, can)).toThrow(message);
    }
  });
});
