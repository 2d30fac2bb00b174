/**
 * Ground truth for the timestamp-accuracy benchmark: the detect, mitigate, impact and recover
 * moments of a Flagger run as the components themselves saw them, independent of the load
 * generator's records and of the runner's timeline:
 *
 * - detect: the Flagger model's first failed check (`Halt …` or `Rolling back …`), at the time
 *   the model stamped on its event;
 * - mitigate: the Flagger model's `Rolling back …` event, the rollback's start (docs/design.md §4);
 * - impact: the first failed response the router finished forwarding after the release;
 * - recover: the last bad response the router forwarded (failed, or served by the canary) before
 *   a clean window, no earlier than the router applying canary weight 0 after the rollback started
 *   (when its route listener ran) — the definition of docs/design.md §4, applied to the router's
 *   view instead of the client's.
 *
 * All inputs and outputs are run-relative scenario milliseconds; the benchmark converts its own
 * clock readings before calling this.
 */

export interface RouteObservation {
  atMs: number;
  canaryWeight: number;
}

export interface ForwardedResponse {
  /** When the router finished forwarding (or answering) it. */
  atMs: number;
  status: number;
  /** The workload that served it ('unknown' when no route matched). */
  workload: string;
}

export interface ModelEventObservation {
  /** The time the model stamped on the event. */
  atMs: number;
  message: string;
}

export interface TruthInput {
  releaseMs: number;
  canaryWorkload: string;
  cleanWindowMs: number;
  /** When the run stopped observing: a recovery needs its whole clean window before this. */
  endMs: number;
  routes: readonly RouteObservation[];
  responses: readonly ForwardedResponse[];
  events: readonly ModelEventObservation[];
}

export interface TruthMarks {
  impactMs?: number;
  detectMs?: number;
  mitigateMs?: number;
  recoverMs?: number;
}

const isFailedStatus = (status: number) => status === 0 || status >= 500;

export function groundTruth(input: TruthInput): TruthMarks {
  const out: TruthMarks = {};
  const after = input.responses.filter((r) => r.atMs >= input.releaseMs);
  const failures = after.filter((r) => isFailedStatus(r.status)).map((r) => r.atMs);
  if (failures.length > 0) out.impactMs = Math.min(...failures);
  const detect = input.events.find(
    (e) => e.atMs >= input.releaseMs && (e.message.startsWith('Halt') || e.message.startsWith('Rolling back')),
  );
  if (detect === undefined) return out;
  out.detectMs = detect.atMs;
  const rollback = input.events.find((e) => e.atMs >= detect.atMs && e.message.startsWith('Rolling back'));
  if (rollback === undefined) return out;
  out.mitigateMs = rollback.atMs;
  const routedAway = input.routes.find((r) => r.atMs >= rollback.atMs && r.canaryWeight === 0);
  if (routedAway === undefined) return out;
  const bad = after
    .filter((r) => isFailedStatus(r.status) || r.workload === input.canaryWorkload)
    .map((r) => r.atMs)
    .sort((a, b) => a - b);
  out.recoverMs = recoveryPoint(bad, routedAway.atMs, input.cleanWindowMs, input.endMs);
  return out;
}

/**
 * The last bad moment before a gap of `cleanWindowMs` with no bad moment, starting no earlier
 * than `fromMs`; undefined when no such window closes by `endMs`.
 */
export function recoveryPoint(
  sortedBadMs: readonly number[],
  fromMs: number,
  cleanWindowMs: number,
  endMs: number,
): number | undefined {
  let candidate = fromMs;
  let i = 0;
  while (i < sortedBadMs.length && sortedBadMs[i]! <= candidate) i++;
  if (i > 0) candidate = Math.max(candidate, sortedBadMs[i - 1]!);
  for (; i <= sortedBadMs.length; i++) {
    const next = sortedBadMs[i];
    if (next === undefined || next > candidate + cleanWindowMs)
      return candidate + cleanWindowMs <= endMs ? candidate : undefined;
    candidate = next;
  }
  return undefined;
}
