import { describe, expect, it } from 'vitest';
import { PlatformError } from '../../common/errors.ts';
import {
  EXPERIMENT_LABEL,
  experimentIdProblem,
  formatHolder,
  type Holder,
  holdingOf,
  LEASE_DURATION_S,
  LEASE_NAME,
  type LeaseRecord,
  microTime,
  type NamespaceRecord,
  parseHolder,
  type ProcessProbe,
  selectForCleanup,
  sessionNamespace,
} from './experiment-namespaces.ts';

const T0 = Date.parse('2026-12-01T20:00:00Z');
const here: Holder = { host: 'box', key: 'aaaaaaaaaaaa', pid: 4242, startTicks: 777 };
const elsewhere: Holder = { host: 'other', key: 'bbbbbbbbbbbb', pid: 4242, startTicks: 777 };

/** A machine (pid namespace `key`) where exactly the processes in `running` run ("pid/startTicks"). */
function probe(running: string[] = [], key: string | undefined = here.key): ProcessProbe {
  return { key, isRunning: (pid, startTicks) => running.includes(`${pid}/${startTicks}`) };
}
const noKey: ProcessProbe = { key: undefined, isRunning: () => true };

function ns(name: string, options: { id?: string; createdMs?: number; deleting?: boolean } = {}): NamespaceRecord {
  return {
    metadata: {
      name,
      uid: `uid-${name}`,
      creationTimestamp: new Date(options.createdMs ?? T0 - 3_600_000).toISOString(),
      ...(options.deleting ? { deletionTimestamp: new Date(T0).toISOString() } : {}),
      labels: options.id === undefined ? { team: 'x' } : { [EXPERIMENT_LABEL]: options.id },
    },
  };
}

function lease(namespace: string, holder: Holder | string, renewedMs: number, durationS = LEASE_DURATION_S) {
  return {
    metadata: { name: LEASE_NAME, namespace },
    spec: {
      holderIdentity: typeof holder === 'string' ? holder : formatHolder(holder),
      leaseDurationSeconds: durationS,
      renewTime: microTime(renewedMs),
    },
  } satisfies LeaseRecord;
}

describe('sessionNamespace', () => {
  it('names the experiment id, the arm and the slot', () => {
    expect(sessionNamespace('k3v9x0qa', 'flagger', 2)).toBe('canary-mttr-k3v9x0qa-flagger-2');
    expect(sessionNamespace('0000abcd', 'manual', 1)).toBe('canary-mttr-0000abcd-manual-1');
  });

  it('refuses a name that is not a DNS label of at most 63 characters', () => {
    // 12 + 41 + 10 = 63 characters; one more is too long.
    expect(sessionNamespace('a'.repeat(41), 'flagger', 1)).toHaveLength(63);
    expect(() => sessionNamespace('a'.repeat(42), 'flagger', 1)).toThrow(PlatformError);
    expect(() => sessionNamespace('Upper', 'manual', 1)).toThrow(/not a DNS label/);
    expect(() => sessionNamespace('abc', 'manual', 0)).toThrow(/slot 0/);
  });
});

describe('experimentIdProblem', () => {
  it('takes journal ids and label values, refuses what cannot be a label value', () => {
    expect(experimentIdProblem('k3v9x0qa')).toBeUndefined();
    expect(experimentIdProblem('quick-kube')).toBeUndefined();
    expect(experimentIdProblem('a,b')).toMatch(/not an experiment id/);
    expect(experimentIdProblem('-a')).toMatch(/not an experiment id/);
    expect(experimentIdProblem('a'.repeat(64))).toMatch(/at most 63/);
  });
});

describe('lease holders', () => {
  it('round-trips and refuses what another program wrote', () => {
    expect(parseHolder(formatHolder(here))).toEqual(here);
    expect(parseHolder('flagger-7d9f')).toBeUndefined();
    expect(parseHolder('box/key/12/x')).toBeUndefined();
    expect(parseHolder(undefined)).toBeUndefined();
  });

  it('writes MicroTime with six fractional digits', () => {
    expect(microTime(Date.parse('2026-12-01T20:00:01.234Z'))).toBe('2026-12-01T20:00:01.234000Z');
  });
});

describe('holdingOf: is a live run using the namespace?', () => {
  const a = ns('canary-mttr-a-flagger-1', { id: 'a' });

  it('a holder on this machine is live exactly while its process runs, whatever the lease says', () => {
    const fresh = lease(a.metadata.name, here, T0 - 1_000);
    const stale = lease(a.metadata.name, here, T0 - 3_600_000);
    expect(holdingOf(a, fresh, T0, probe(['4242/777']))).toEqual({
      live: true,
      why: 'harness pid 4242 on this machine is running',
    });
    expect(holdingOf(a, stale, T0, probe(['4242/777'])).live).toBe(true);
    // Killed a second ago: no need to wait for the lease to run out.
    expect(holdingOf(a, fresh, T0, probe())).toEqual({ live: false, why: 'harness pid 4242 on this machine is gone' });
    // The pid now belongs to a process that started later: not the holder.
    expect(holdingOf(a, fresh, T0, probe(['4242/999'])).live).toBe(false);
  });

  it('a holder elsewhere is live until renewTime + leaseDurationSeconds', () => {
    const renewed = T0 - 10_000;
    const l = lease(a.metadata.name, elsewhere, renewed, 60);
    // Its pid running here means nothing: another machine's pids are not this one's.
    expect(holdingOf(a, l, renewed + 59_999, probe()).live).toBe(true);
    expect(holdingOf(a, l, renewed + 60_000, probe(['4242/777'])).live).toBe(false);
    expect(holdingOf(a, l, renewed + 59_999, probe()).why).toBe('harness pid 4242 on other renewed its lease 60 s ago');
    expect(holdingOf(a, l, renewed + 300_000, probe()).why).toBe(
      'the lease of harness pid 4242 on other expired 4 min ago',
    );
    // A longer duration written in the lease is honoured.
    expect(holdingOf(a, lease(a.metadata.name, elsewhere, renewed, 600), renewed + 300_000, probe()).live).toBe(true);
    // Where this machine cannot say who it is, only the times count.
    expect(holdingOf(a, lease(a.metadata.name, here, renewed), renewed + 1_000, noKey).live).toBe(true);
    expect(holdingOf(a, lease(a.metadata.name, here, renewed), renewed + 60_000, noKey).live).toBe(false);
  });

  it('without a lease a namespace is live for one lease duration after its creation', () => {
    const young = ns('canary-mttr-b-manual-1', { id: 'b', createdMs: T0 - 5_000 });
    const old = ns('canary-mttr-b-manual-2', { id: 'b', createdMs: T0 - LEASE_DURATION_S * 1000 });
    expect(holdingOf(young, undefined, T0, probe()).live).toBe(true);
    expect(holdingOf(old, undefined, T0, probe())).toEqual({ live: false, why: 'no harness lease' });
  });
});

describe('selectForCleanup', () => {
  const deadHere = 'canary-mttr-dead0001-flagger-1';
  const liveHere = 'canary-mttr-live0001-manual-1';
  const liveElsewhere = 'canary-mttr-far00001-flagger-3';
  const oldStyle = 'canary-mttr-flagger';
  const namespaces = [
    ns(deadHere, { id: 'dead0001' }),
    ns(liveHere, { id: 'live0001' }),
    ns(liveElsewhere, { id: 'far00001' }),
    ns(oldStyle, { id: 'quick-kube' }),
    ns('canary-mttr-gone0001-manual-1', { id: 'gone0001', deleting: true }),
    // Not the project's: never selected, whatever its lease says.
    ns('canary-mttr-mine0001-manual-1'),
    { metadata: { name: 'canary-mttr-empty-label', labels: { [EXPERIMENT_LABEL]: '' } } },
  ];
  const leases: LeaseRecord[] = [
    lease(deadHere, here, T0 - 1_000),
    lease(liveHere, { ...here, pid: 5000 }, T0 - 3_600_000),
    lease(liveElsewhere, elsewhere, T0 - 5_000),
    lease('canary-mttr-mine0001-manual-1', here, T0 - 3_600_000),
    // Another program's lease of the same name elsewhere, and one of another name here: ignored.
    { metadata: { name: 'other-lease', namespace: liveElsewhere }, spec: { renewTime: microTime(T0 - 3_600_000) } },
  ];
  const names = (list: Array<{ namespace: NamespaceRecord }>) => list.map((r) => r.namespace.metadata.name);

  it('deletes the labelled namespaces no live run holds, keeps the held ones, never an unlabelled one', () => {
    const s = selectForCleanup(namespaces, leases, { nowMs: T0, probe: probe(['5000/777']) });
    expect(names(s.remove)).toEqual([deadHere, oldStyle]);
    expect(names(s.held)).toEqual([liveHere, liveElsewhere]);
    expect(s.terminating.map((n) => n.metadata.name)).toEqual(['canary-mttr-gone0001-manual-1']);
    expect(s.remove[0]!.why).toBe('harness pid 4242 on this machine is gone');
  });

  it('--experiment-id narrows the selection to that experiment and still keeps a live run', () => {
    const dead = selectForCleanup(namespaces, leases, { experimentId: 'dead0001', nowMs: T0, probe: probe() });
    expect(names(dead.remove)).toEqual([deadHere]);
    expect(dead.held).toEqual([]);
    const live = selectForCleanup(namespaces, leases, { experimentId: 'far00001', nowMs: T0, probe: probe() });
    expect(live.remove).toEqual([]);
    expect(names(live.held)).toEqual([liveElsewhere]);
    // The same experiment once its lease has run out.
    const later = selectForCleanup(namespaces, leases, {
      experimentId: 'far00001',
      nowMs: T0 + 60_000,
      probe: probe(),
    });
    expect(names(later.remove)).toEqual([liveElsewhere]);
  });
});
