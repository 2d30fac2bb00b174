import type { Clock } from '../common/clock.ts';
import { isBad, type RequestRecord } from '../load/types.ts';
import { fateSealedAt, isPromoted, mitigatedAt, routedAwayAt, type RunObservation } from '../timeline/compute.ts';
import type { TimelineEntry } from '../timeline/types.ts';
import { toMicroseconds } from './requests-file.ts';

/**
 * What one run observed: its timeline, its request records and the last bad moment, all in run
 * time (scenario ms from the run's start, as the journal keeps them). Every writer (the runner,
 * the platform's session, the operator, the load generator) goes through `mark` and `record`, so
 * nothing else holds the run's state.
 */
export class RunRecorder {
  readonly timeline: TimelineEntry[] = [];
  readonly records: RequestRecord[] = [];
  private readonly startMs: number;
  /** Per service of the train (-1: the only one), the run time of its last bad moment. */
  private readonly lastBad = new Map<number, number>();

  constructor(
    private readonly clock: Clock,
    private readonly arm: RunObservation['arm'],
    /** The released build's x-app-version: every request it serves is a bad moment. */
    private readonly releaseVersion: string,
    /** The SLO's latency limit (real ms): a slower answer is a bad moment too; null counts failures only. */
    private readonly latencyLimitMs: number | null,
    /** Services in the release train (docs/design.md §13): with more than one, each has its own fate. */
    private readonly services = 1,
  ) {
    this.startMs = clock.now();
  }

  /** Run time of a clock time. */
  at(clockMs: number): number {
    return toMicroseconds(clockMs - this.startMs);
  }

  /** Run time now. */
  now(): number {
    return this.at(this.clock.now());
  }

  /** Adds a timeline entry stamped in clock time (the sessions' and operators' sink). */
  readonly mark = (entry: TimelineEntry): void => {
    this.timeline.push({ ...entry, atMs: this.at(entry.atMs) });
  };

  /** Adds a request record stamped in clock time (the load generator's onRecord). */
  readonly record = (r: RequestRecord): void => {
    const record = { ...r, sentMs: this.at(r.sentMs), doneMs: this.at(r.doneMs) };
    this.records.push(record);
    if (isBad(record, this.latencyLimitMs) || record.version === this.releaseVersion) {
      const service = record.service ?? -1;
      this.lastBad.set(service, Math.max(this.lastBad.get(service) ?? -Infinity, record.doneMs));
    }
  };

  /**
   * Run time from which the run has seen enough, once the release's fate is sealed: a promoted
   * release keeps serving (it is the new primary), so one window of it; a rolled-back one must show
   * a clean window after the last bad moment and after the route change that took its traffic
   * away (computeRunMetrics' recovery). Undefined while the fate is open.
   */
  watchEndsAt(cleanWindowMs: number): number | undefined {
    if (this.services === 1) return this.serviceEndsAt(this.timeline, -1, cleanWindowMs);
    // A release train is watched until every service's fate is sealed and seen (docs/design.md §13).
    let endsAt = -Infinity;
    for (let service = 0; service < this.services; service++) {
      const ends = this.serviceEndsAt(
        this.timeline.filter((e) => e.service === service),
        service,
        cleanWindowMs,
      );
      if (ends === undefined) return undefined;
      endsAt = Math.max(endsAt, ends);
    }
    return endsAt;
  }

  private serviceEndsAt(
    timeline: readonly TimelineEntry[],
    service: number,
    cleanWindowMs: number,
  ): number | undefined {
    const sealedAt = fateSealedAt(timeline);
    if (sealedAt === undefined) return undefined;
    if (timeline.some(isPromoted)) return sealedAt + cleanWindowMs;
    // Until the route change is seen this is the rollback's start; the change comes long before
    // the window ends, and the next check moves the end after it.
    const routedAway = routedAwayAt(timeline, mitigatedAt(timeline, this.arm) ?? sealedAt);
    return Math.max(sealedAt, routedAway, this.lastBad.get(service) ?? -Infinity) + cleanWindowMs;
  }

  /** Puts the timeline and the records in time order (they arrive in completion order). */
  sort(): void {
    this.timeline.sort((a, b) => a.atMs - b.atMs);
    this.records.sort((a, b) => a.sentMs - b.sentMs);
  }
}
