import type { LoadOptions } from './builtin-generator.ts';
import { LoadError } from './errors.ts';

/** What a generator can load, for the checks of validateLoadOptions and their messages. */
export interface LoadCapabilities {
  /** The URL schemes it sends to, e.g. ['http:']. */
  protocols: readonly string[];
  /** Its name in a message, e.g. 'the built-in generator'. */
  generator: string;
}

/**
 * The checks every load generator makes on its options before it sends anything, each failing
 * with a LoadError that names the field, the value and what is expected. Returns the target URL.
 */
export function validateLoadOptions(options: LoadOptions, can: LoadCapabilities): URL {
  const { rateRps, timeoutMs, maxInFlight, clock } = options;
  if (!(Number.isFinite(rateRps) && rateRps > 0)) {
    throw new LoadError(`load.rateRps: ${rateRps} req/s is not a positive number of requests per scenario second`);
  }
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new LoadError(`load.timeoutMs: ${timeoutMs} ms is not a positive duration`);
  }
  if (!(Number.isInteger(maxInFlight) && maxInFlight >= 1)) {
    throw new LoadError(`load.maxInFlight: ${maxInFlight} is not a whole number of requests of at least 1`);
  }
  if (options.maxDurationMs !== undefined && !(Number.isFinite(options.maxDurationMs) && options.maxDurationMs > 0)) {
    throw new LoadError(`load.maxDurationMs: ${options.maxDurationMs} ms is not a positive duration`);
  }
  if (!(Number.isFinite(clock.timeScale) && clock.timeScale > 0)) {
    throw new LoadError(`load.clock.timeScale: ${clock.timeScale} is not a positive number`);
  }
  if (options.bodies !== undefined) {
    if (options.bodies.length === 0) {
      throw new LoadError('load.bodies: the list is empty; give at least one JSON body or leave it out');
    }
    options.bodies.forEach((body, i) => {
      try {
        JSON.parse(body);
      } catch (err) {
        throw new LoadError(`load.bodies[${i}]: ${JSON.stringify(body.slice(0, 40))} is not JSON`, { cause: err });
      }
    });
  }
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (err) {
    throw new LoadError(
      `load.url: ${JSON.stringify(options.url)} is not a URL; expected e.g. http://127.0.0.1:8080/sms`,
      {
        cause: err,
      },
    );
  }
  if (!can.protocols.includes(url.protocol)) {
    throw new LoadError(
      `load.url: ${options.url} uses ${url.protocol}; ${can.generator} loads ${can.protocols.join(' and ')} URLs only`,
    );
  }
  return url;
}
