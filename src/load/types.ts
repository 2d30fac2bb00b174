/**
 * One user request as the load generator saw it. `sentMs` and `doneMs` are scenario milliseconds
 * on the harness clock (see common/clock.ts), so they line up with the run's timeline; `latencyMs`
 * is real time.
 */
export interface RequestRecord {
  /** When the request was due to be sent (its slot in the arrival schedule). */
  sentMs: number;
  /** When the response (or the timeout, or the connection error) was observed. */
  doneMs: number;
  /** Real (wall) milliseconds from slot to answer; latency is not time-compressed. */
  latencyMs: number;
  /** HTTP status; 0 for a timeout or a connection error (both count as failures). */
  status: number;
  /** The `x-app-version` header of the response: which build served it ('' when none). */
  version: string;
  /** In a release train of more than one service, the position (from 0) of the service it went to. */
  service?: number;
}

/** A failed user request: a 5xx answer, a timeout or a connection error. */
export function isFailure(record: Pick<RequestRecord, 'status'>): boolean {
  return record.status === 0 || record.status >= 500;
}

/**
 * A request answered, but later than the service level's latency limit (real ms; docs/design.md §12).
 * A failure is never also slow, so failed + slow = bad. A null limit makes no request slow.
 */
export function isSlow(record: Pick<RequestRecord, 'status' | 'latencyMs'>, latencyLimitMs: number | null): boolean {
  return latencyLimitMs !== null && !isFailure(record) && record.latencyMs > latencyLimitMs;
}

/** A request that was bad for its user: failed, or slower than the latency limit (docs/design.md §12). */
export function isBad(record: Pick<RequestRecord, 'status' | 'latencyMs'>, latencyLimitMs: number | null): boolean {
  return isFailure(record) || isSlow(record, latencyLimitMs);
}
