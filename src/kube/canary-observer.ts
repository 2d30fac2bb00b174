import type { KubeConfig } from '@kubernetes/client-node';
import createDebug from 'debug';
import type { Clock } from '../common/clock.ts';
import { PlatformError } from '../common/errors.ts';
import { pollUntil } from '../common/poll.ts';
import { kubeRequest, resourcePath } from './kube-rest.ts';
import { ListWatch, type ListResult, type ObjectMeta } from './list-watch.ts';

const debug = createDebug('canary-mttr:canary-watch');

/** A Kubernetes Event about the Canary, stamped with the harness clock when it arrived. */
export interface CanaryEventRecord {
  /** Harness clock ms at which the watch delivered it. */
  atMs: number;
  type: string;
  reason: string;
  /** Flagger's text. The event correlator may prefix "(combined from similar events): ". */
  message: string;
  count: number;
  /** Already there when the observer started (its time is then not an observation). */
  historic: boolean;
  /** The API server's own time of the event (lastTimestamp or eventTime), whole seconds. */
  objectTime?: string;
}

export interface CanaryStatusRecord {
  atMs: number;
  phase: string;
  canaryWeight: number;
  failedChecks: number;
  iterations: number;
  /** The Canary's status.lastTransitionTime. */
  objectTime?: string;
}

interface CanaryObject extends ObjectMeta {
  status?: {
    phase?: string;
    canaryWeight?: number;
    failedChecks?: number;
    iterations?: number;
    lastTransitionTime?: string;
  };
}

interface EventObject extends ObjectMeta {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
}

export interface CanaryObserverOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  clock: Clock;
  /** Called with each new status record as it is stored (the kube platform writes its timeline). */
  onStatus?: (record: CanaryStatusRecord) => void;
  /** Called with each new event record as it is stored. */
  onEvent?: (record: CanaryEventRecord) => void;
}

/**
 * Watches one Flagger Canary and its Events and timestamps what it sees on the harness clock: the
 * source of `detect` (first `Halt …` / failedChecks ≥ 1) and `mitigate` (`Rolling back …` / phase
 * Failed), docs/design.md §4, for the kube platform (through onStatus/onEvent) and for fidelity.
 * Event times are receipt times: Kubernetes stores them with whole-second precision only.
 */
export class CanaryObserver implements AsyncDisposable {
  readonly events: CanaryEventRecord[] = [];
  readonly statuses: CanaryStatusRecord[] = [];
  private readonly abort = new AbortController();
  private readonly canaries: ListWatch<CanaryObject>;
  private readonly eventWatch: ListWatch<EventObject>;
  private readonly seenCounts = new Map<string, { count: number; message: string }>();
  private eventsSynced = false;

  constructor(private readonly options: CanaryObserverOptions) {
    const { kubeConfig, namespace, name } = options;
    const canaryPath = resourcePath('flagger.app/v1beta1', 'canaries', namespace);
    const eventsPath = resourcePath('v1', 'events', namespace);
    const canarySelector = `metadata.name=${name}`;
    const eventSelector = `involvedObject.kind=Canary,involvedObject.name=${name}`;
    const list =
      <T>(path: string, selector: string) =>
      () =>
        kubeRequest<ListResult<T>>(kubeConfig, {
          method: 'GET',
          path: `${path}?fieldSelector=${encodeURIComponent(selector)}`,
        });
    this.canaries = new ListWatch<CanaryObject>({
      kubeConfig,
      label: `canary ${namespace}/${name}`,
      path: canaryPath,
      fieldSelector: canarySelector,
      list: list<CanaryObject>(canaryPath, canarySelector),
      onChange: (type, canary) => {
        if (type !== 'DELETED') this.onCanary(canary);
      },
      signal: this.abort.signal,
    });
    this.eventWatch = new ListWatch<EventObject>({
      kubeConfig,
      label: `events of canary ${namespace}/${name}`,
      path: eventsPath,
      fieldSelector: eventSelector,
      list: list<EventObject>(eventsPath, eventSelector),
      onChange: (type, event) => {
        if (type !== 'DELETED') this.onEvent(event);
      },
      onSynced: () => {
        this.eventsSynced = true;
      },
      signal: this.abort.signal,
    });
  }

  async start(): Promise<this> {
    await Promise.all([this.canaries.start(), this.eventWatch.start()]);
    return this;
  }

  get status(): CanaryStatusRecord | undefined {
    return this.statuses.at(-1);
  }

  private onCanary(canary: CanaryObject): void {
    const s = canary.status ?? {};
    const record: CanaryStatusRecord = {
      atMs: this.options.clock.now(),
      phase: s.phase ?? '',
      canaryWeight: s.canaryWeight ?? 0,
      failedChecks: s.failedChecks ?? 0,
      iterations: s.iterations ?? 0,
      objectTime: s.lastTransitionTime,
    };
    const last = this.statuses.at(-1);
    if (
      last &&
      last.phase === record.phase &&
      last.canaryWeight === record.canaryWeight &&
      last.failedChecks === record.failedChecks &&
      last.iterations === record.iterations
    )
      return;
    this.statuses.push(record);
    debug('%s/%s status %o', this.options.namespace, this.options.name, record);
    this.options.onStatus?.(record);
  }

  private onEvent(event: EventObject): void {
    const key = event.metadata?.uid ?? event.metadata?.name ?? '';
    const count = event.count ?? 1;
    const message = event.message ?? '';
    const seen = this.seenCounts.get(key);
    // An aggregated event comes back MODIFIED with a higher count: each increment is one occurrence.
    if (seen && seen.count >= count && seen.message === message) return;
    this.seenCounts.set(key, { count, message });
    const record: CanaryEventRecord = {
      atMs: this.options.clock.now(),
      type: event.type ?? '',
      reason: event.reason ?? '',
      message,
      count,
      historic: !this.eventsSynced,
      objectTime: event.lastTimestamp ?? event.eventTime,
    };
    this.events.push(record);
    debug('%s/%s event %s %s', this.options.namespace, this.options.name, record.type, record.message);
    this.options.onEvent?.(record);
  }

  /** First event at or after `sinceMs` whose message contains `text`. */
  firstEvent(text: string, sinceMs = -Infinity): CanaryEventRecord | undefined {
    return this.events.find((e) => !e.historic && e.atMs >= sinceMs && e.message.includes(text));
  }

  firstStatus(match: (s: CanaryStatusRecord) => boolean, sinceMs = -Infinity): CanaryStatusRecord | undefined {
    return this.statuses.find((s) => s.atMs >= sinceMs && match(s));
  }

  /** Polls `find` until it returns something, the deadline passes or the signal aborts. */
  async waitFor<T>(
    what: string,
    find: () => T | undefined,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<T> {
    const found = await pollUntil(find, { everyMs: 50, ...options });
    if (found !== undefined) return found;
    const s = this.status;
    throw new PlatformError(
      `canary ${this.options.namespace}/${this.options.name}: ${what} did not happen within ${(options.timeoutMs / 1000).toFixed(0)} s ` +
        `(phase ${s?.phase || '—'}, weight ${s?.canaryWeight ?? '—'}, failedChecks ${s?.failedChecks ?? '—'}; last event: ${this.events.at(-1)?.message ?? 'none'})`,
    );
  }

  async stop(): Promise<void> {
    this.abort.abort(new Error('observer stopped'));
    await Promise.allSettled([this.canaries.done(), this.eventWatch.done()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
