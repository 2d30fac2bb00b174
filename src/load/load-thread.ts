/**
 * The worker side of ThreadLoadGenerator (thread-generator.ts): runs the built-in generator on
 * this thread's own event loop, on the caller's scenario clock (MonotonicClock), and posts the
 * records back in one message per turn of the loop. One load at a time; the thread waits for the
 * next after each.
 */
import { parentPort } from 'node:worker_threads';
import { MonotonicClock } from '../common/clock.ts';
import { LoopLagMonitor } from '../common/loop-lag.ts';
import { BuiltinLoadGenerator, type LiveStats, type StartedLoad } from './builtin-generator.ts';
import type { FromThread, LiveSnapshot, ToThread } from './thread-generator.ts';
import type { RequestRecord } from './types.ts';

const port = parentPort;
if (port === null) throw new Error('load-thread.ts runs in a worker thread (ThreadLoadGenerator)');

let current: { id: number; load: StartedLoad; lag: LoopLagMonitor } | undefined;
let pending: RequestRecord[] = [];
let flushing: NodeJS.Immediate | undefined;

const post = (message: FromThread) => port.postMessage(message);

function snapshot(stats: LiveStats): LiveSnapshot {
  const { scheduled, sent, completed, failed, timedOut, errored, dropped, recorded, inFlight, maxInFlightSeen } = stats;
  return {
    scheduled,
    sent,
    completed,
    failed,
    timedOut,
    errored,
    dropped,
    recorded,
    inFlight,
    maxInFlightSeen,
    sendLag: stats.sendLag,
  };
}

function flush(): void {
  flushing = undefined;
  if (current === undefined) return;
  post({ type: 'records', id: current.id, records: pending, stats: snapshot(current.load.stats) });
  pending = [];
}

function start(message: Extract<ToThread, { type: 'start' }>): void {
  const { id } = message;
  let load: StartedLoad;
  try {
    load = new BuiltinLoadGenerator().start({
      ...message.options,
      clock: new MonotonicClock(message.anchor),
      onRecord: (record) => {
        pending.push(record);
        flushing ??= setImmediate(flush);
      },
    });
  } catch (err) {
    post({ type: 'failed', id, message: (err as Error).message });
    return;
  }
  current = { id, load, lag: new LoopLagMonitor() };
  void load.ready.then(() => post({ type: 'ready', id, stats: snapshot(load.stats) }));
}

function stop(id: number): void {
  if (current?.id !== id) return;
  const { load, lag } = current;
  load.stop().then(
    (summary) => {
      clearImmediate(flushing);
      flush();
      current = undefined;
      post({ type: 'done', id, summary: { ...summary, loopLag: lag.stop() } });
    },
    (err: unknown) => {
      lag.stop();
      clearImmediate(flushing);
      flush();
      current = undefined;
      post({ type: 'failed', id, message: err instanceof Error ? err.message : String(err) });
    },
  );
}

port.on('message', (message: ToThread) => {
  if (message.type === 'start') start(message);
  else stop(message.id);
});
post({ type: 'booted' });
