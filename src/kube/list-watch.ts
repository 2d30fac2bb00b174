import { Watch, type KubeConfig } from '@kubernetes/client-node';
import createDebug from 'debug';
import { sleepWall } from '../common/clock.ts';

const debug = createDebug('canary-mttr:watch');

/** The few fields of any Kubernetes object a list-watch needs. */
export interface ObjectMeta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
}

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export interface ListWatchOptions<T extends ObjectMeta> {
  kubeConfig: KubeConfig;
  /** Collection path, as for `kubectl get --raw`: /apis/apps/v1/deployments, /api/v1/namespaces/x/events. */
  path: string;
  /** Field selector applied to both the list and the watch. */
  fieldSelector?: string;
  /** Lists the collection; the typed API clients of @kubernetes/client-node do this. */
  list: () => Promise<ListResult<T>>;
  onChange: (type: ChangeType, object: T) => void;
  /** Called after every (re-)list has been applied, the first time included. */
  onSynced?: () => void;
  signal: AbortSignal;
  /** Wall ms between failed attempts; doubled per failure, capped at 10 s. */
  backoffMs?: number;
  /** For diagnostics: canary-mttr:watch <label>. */
  label: string;
}

interface WatchStatus {
  code?: number;
  reason?: string;
  message?: string;
}

/**
 * Keeps a local copy of a collection in sync: list, then watch from the list's resourceVersion;
 * when the watch ends it resumes from the last version seen, and when the server says that version
 * is gone (410 Expired) or any error happens it lists again and reports the difference as changes,
 * so no update is lost across a disconnect. The same scheme as client-go's reflector.
 */
export class ListWatch<T extends ObjectMeta> {
  private readonly cache = new Map<string, T>();
  private resourceVersion: string | undefined;
  private loop: Promise<void> | undefined;
  private readonly firstSync: Promise<void>;
  private resolveFirstSync!: () => void;
  private rejectFirstSync!: (err: unknown) => void;
  private synced = false;

  constructor(private readonly options: ListWatchOptions<T>) {
    this.firstSync = new Promise((resolve, reject) => {
      this.resolveFirstSync = resolve;
      this.rejectFirstSync = reject;
    });
    this.firstSync.catch(() => undefined);
  }

  private cutCurrent: ((err: Error) => void) | undefined;

  /**
   * Drops the current watch connection as a network failure would; the loop lists again and
   * reports only what changed meanwhile. Used by tests (and CANARY_MTTR_CUT_WATCH_EVERY_MS) to
   * prove that no change is lost or repeated across a disconnect.
   */
  cut(): void {
    this.cutCurrent?.(new Error('watch connection cut'));
  }

  /** Starts the loop; resolves after the first list has been applied. */
  async start(): Promise<void> {
    // Fault injection for tests: cut every watch connection this often (wall ms).
    const every = Number(process.env.CANARY_MTTR_CUT_WATCH_EVERY_MS ?? 0);
    if (every > 0 && !this.loop) {
      const timer = setInterval(() => this.cut(), every);
      timer.unref();
      this.options.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
    }
    this.loop ??= this.run().catch((err) => {
      if (!this.options.signal.aborted) debug('%s: loop ended: %O', this.options.label, err);
      this.rejectFirstSync(err);
    });
    await this.firstSync;
  }

  get items(): T[] {
    return [...this.cache.values()];
  }

  /** Resolves when the loop has ended (after the signal aborted). */
  async done(): Promise<void> {
    await this.loop;
  }

  private key(object: T): string {
    return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
  }

  private async relist(): Promise<void> {
    const result = await this.options.list();
    const seen = new Set<string>();
    for (const item of result.items) {
      const key = this.key(item);
      seen.add(key);
      const previous = this.cache.get(key);
      this.cache.set(key, item);
      if (!previous) this.options.onChange('ADDED', item);
      else if (previous.metadata?.resourceVersion !== item.metadata?.resourceVersion)
        this.options.onChange('MODIFIED', item);
    }
    for (const [key, item] of [...this.cache]) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.options.onChange('DELETED', item);
      }
    }
    this.resourceVersion = result.metadata?.resourceVersion;
    this.options.onSynced?.();
    if (!this.synced) {
      this.synced = true;
      this.resolveFirstSync();
    }
  }

  private async run(): Promise<void> {
    const { signal, label } = this.options;
    const baseBackoff = this.options.backoffMs ?? 250;
    let failures = 0;
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        const outcome = await this.watchOnce();
        if (outcome === 'expired') {
          debug('%s: resourceVersion %s expired; listing again', label, this.resourceVersion);
          needList = true;
        }
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        failures++;
        needList = true;
        const wait = Math.min(10_000, baseBackoff * 2 ** (failures - 1));
        debug('%s: %s; listing again in %d ms', label, (err as Error)?.message ?? String(err), wait);
        try {
          await sleepWall(wait, signal);
        } catch {
          return;
        }
      }
    }
  }

  /** One watch connection; resolves when it closes normally, 'expired' on 410. */
  private watchOnce(): Promise<'closed' | 'expired'> {
    const { signal } = this.options;
    return new Promise((resolve, reject) => {
      let controller: AbortController | undefined;
      let settled = false;
      let expired = false;
      const finish = (err: unknown) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(expired ? 'expired' : 'closed');
      };
      const onAbort = () => {
        controller?.abort();
        finish(undefined);
      };
      this.cutCurrent = (err) => {
        controller?.abort();
        finish(err);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const query: Record<string, string | number | boolean | undefined> = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        // The server ends a watch after a while anyway; a shorter one also proves the connection alive.
        timeoutSeconds: 240,
        fieldSelector: this.options.fieldSelector,
      };
      new Watch(this.options.kubeConfig)
        .watch(
          this.options.path,
          query,
          (type: string, object: T & WatchStatus & { metadata?: { resourceVersion?: string } }) => {
            if (settled) return;
            if (type === 'ERROR') {
              const status = object as WatchStatus;
              if (status.code === 410) {
                expired = true;
                controller?.abort();
                finish(undefined);
              } else {
                controller?.abort();
                finish(new Error(`watch error ${status.code ?? '?'} ${status.reason ?? ''}: ${status.message ?? ''}`));
              }
              return;
            }
            const version = object.metadata?.resourceVersion;
            if (version) this.resourceVersion = version;
            if (type === 'BOOKMARK') return;
            const key = this.key(object);
            if (type === 'DELETED') {
              this.cache.delete(key);
              this.options.onChange('DELETED', object);
            } else if (type === 'ADDED' || type === 'MODIFIED') {
              const known = this.cache.has(key);
              this.cache.set(key, object);
              this.options.onChange(known ? 'MODIFIED' : 'ADDED', object);
            }
          },
          (err: unknown) => finish(err ?? undefined),
        )
        .then(
          (c) => {
            controller = c;
            if (signal.aborted) c.abort();
          },
          (err: unknown) => finish(err),
        );
    });
  }
}
