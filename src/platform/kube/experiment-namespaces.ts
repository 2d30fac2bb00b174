import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import createDebug from 'debug';
import { PlatformError, UsageError } from '../../common/errors.ts';
import { pollUntil } from '../../common/poll.ts';
import { KubeApiError, kubeRequest, resourcePath } from '../../kube/kube-rest.ts';
import { isAlive, pidNamespaceKey, startTicksOf } from '../../process/procfs.ts';
import type { Arm } from '../../scenario/schema.ts';
import { redact, secretsOf } from './kubeconfig.ts';

const debug = createDebug('canary-mttr:kube');

/**
 * One namespace set per experiment (docs/design.md §10): each session's namespace is named with
 * the experiment's unique id, its arm and its slot, and labelled with the id, so two experiments
 * on one cluster never share an object and cleanup can tell whose a namespace is. A Lease in each
 * namespace, renewed while the harness runs, tells a live run's namespaces from a dead one's.
 */

/** The label every namespace (and every object the charts render) carries: the experiment's id. */
export const EXPERIMENT_LABEL = 'canary-mttr/experiment';
/** The experiment's name from its plan, for people reading `kubectl get ns -o yaml`. */
export const EXPERIMENT_NAME_ANNOTATION = 'canary-mttr/experiment-name';
/** The Lease in each of the project's namespaces that says a harness is using it. */
export const LEASE_NAME = 'canary-mttr-harness';
/** A lease not renewed for this long belongs to a harness that is gone. */
export const LEASE_DURATION_S = 60;
/** Three renewals per duration, so two lost in a row (a slow API server) do not expire it. */
export const LEASE_RENEW_EVERY_MS = 20_000;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Whether `name` can name a namespace: a DNS label of at most 63 characters. */
export function isDnsLabel(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}

const LABEL_VALUE = /^[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;

/** `canary-mttr-<experimentId>-<arm>-<slot>`: a DNS label of at most 63 characters. */
export function sessionNamespace(experimentId: string, arm: Arm, slot: number): string {
  const name = `canary-mttr-${experimentId}-${arm}-${slot}`;
  if (!Number.isInteger(slot) || slot < 1 || !isDnsLabel(name)) {
    throw new PlatformError(
      `kube: experiment id "${experimentId}", arm ${arm} and slot ${slot} make the namespace name "${name}", which is not a DNS label of at most 63 characters`,
    );
  }
  return name;
}

/** Why `value` cannot be an experiment id on the command line, or undefined when it can. */
export function experimentIdProblem(value: string): string | undefined {
  if (value.length > 63 || !LABEL_VALUE.test(value))
    return 'not an experiment id (the journal header\'s "id": letters, digits, "-", "_" or ".", at most 63)';
  return undefined;
}

/** Who holds a lease: enough for a cleanup on the same machine to check the process itself. */
export interface Holder {
  host: string;
  /** pidNamespaceKey() of the holder: pids compare only between equal keys. */
  key: string;
  pid: number;
  startTicks: number;
}

/** `<host>/<key>/<pid>/<startTicks>`, the Lease's holderIdentity. */
export function formatHolder(h: Holder): string {
  return `${h.host}/${h.key}/${h.pid}/${h.startTicks}`;
}

export function parseHolder(identity: string | undefined): Holder | undefined {
  const parts = (identity ?? '').split('/');
  if (parts.length !== 4) return undefined;
  const [host, key, pid, startTicks] = parts as [string, string, string, string];
  if (!host || !key || !/^\d+$/.test(pid) || !/^\d+$/.test(startTicks)) return undefined;
  return { host, key, pid: Number(pid), startTicks: Number(startTicks) };
}

/** This harness as a lease holder, or undefined where /proc cannot say who it is. */
export function thisHarness(): Holder | undefined {
  const key = pidNamespaceKey();
  const startTicks = startTicksOf(process.pid);
  if (key === undefined || startTicks === undefined) return undefined;
  return { host: hostname(), key, pid: process.pid, startTicks };
}

/** What cleanup can learn about processes on its own machine. */
export interface ProcessProbe {
  /** pidNamespaceKey() of the prober; undefined when it has none. */
  key: string | undefined;
  /** True while the process `pid` that started at `startTicks` runs. */
  isRunning(pid: number, startTicks: number): boolean;
}

/**
 * The probe of this process: a pid and its start time name one process for the machine's uptime
 * (a reused pid starts later). The executable is not compared: cleanup may run another node.
 */
export function localProbe(): ProcessProbe {
  return {
    key: pidNamespaceKey(),
    isRunning: (pid, startTicks) => isAlive(pid) && startTicksOf(pid) === startTicks,
  };
}

export interface NamespaceRecord {
  metadata: {
    name: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
}

export interface LeaseRecord {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string };
}

export interface Holding {
  live: boolean;
  /** Why, for the listing: "harness pid 123 on this machine is gone", "lease expired 2 min ago". */
  why: string;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

/**
 * Whether a live harness holds a namespace (README "Namespaces, leases and cleanup"):
 * - its Lease names a holder on this machine (same pid namespace): live while that process runs,
 *   whatever the lease's times (a harness whose renewals stall is still alive);
 * - its Lease names a holder elsewhere: live until renewTime + leaseDurationSeconds by this
 *   machine's clock (the two clocks must agree to well within the duration);
 * - no Lease: live for one lease duration after the namespace was created (a harness takes its
 *   lease just after creating the namespace), dead after that.
 */
export function holdingOf(
  namespace: NamespaceRecord,
  lease: LeaseRecord | undefined,
  nowMs: number,
  probe: ProcessProbe,
): Holding {
  const durationMs = (lease?.spec?.leaseDurationSeconds ?? LEASE_DURATION_S) * 1000;
  const holder = parseHolder(lease?.spec?.holderIdentity);
  if (lease && holder && probe.key !== undefined && holder.key === probe.key) {
    return probe.isRunning(holder.pid, holder.startTicks)
      ? { live: true, why: `harness pid ${holder.pid} on this machine is running` }
      : { live: false, why: `harness pid ${holder.pid} on this machine is gone` };
  }
  const renewedMs = Date.parse(lease?.spec?.renewTime ?? lease?.spec?.acquireTime ?? '');
  if (lease && Number.isFinite(renewedMs)) {
    const who = holder ? `harness pid ${holder.pid} on ${holder.host}` : `holder "${lease.spec?.holderIdentity ?? ''}"`;
    const leftMs = renewedMs + durationMs - nowMs;
    return leftMs > 0
      ? { live: true, why: `${who} renewed its lease ${ago(nowMs - renewedMs)} ago` }
      : { live: false, why: `the lease of ${who} expired ${ago(-leftMs)} ago` };
  }
  const createdMs = Date.parse(namespace.metadata.creationTimestamp ?? '');
  if (Number.isFinite(createdMs) && nowMs - createdMs < durationMs)
    return { live: true, why: `created ${ago(nowMs - createdMs)} ago, its harness may be taking its lease` };
  return { live: false, why: 'no harness lease' };
}

export interface CleanupSelection {
  /** Labelled, matching the id if one was given, held by no live run: cleanup deletes these. */
  remove: Array<{ namespace: NamespaceRecord; why: string }>;
  /** Labelled and matching, but a live run holds them: never deleted. */
  held: Array<{ namespace: NamespaceRecord; why: string }>;
  /** Already being deleted. */
  terminating: NamespaceRecord[];
}

/**
 * Which of `namespaces` cleanup deletes. Only namespaces carrying the project's label are ever
 * considered (whatever the list holds), only those of `experimentId` when one is given, and never
 * one that a live run holds (holdingOf).
 */
export function selectForCleanup(
  namespaces: readonly NamespaceRecord[],
  leases: readonly LeaseRecord[],
  options: { experimentId?: string; nowMs: number; probe: ProcessProbe },
): CleanupSelection {
  const leaseOf = new Map(
    leases.filter((l) => l.metadata.name === LEASE_NAME).map((l) => [l.metadata.namespace ?? '', l]),
  );
  const selection: CleanupSelection = { remove: [], held: [], terminating: [] };
  for (const ns of namespaces) {
    const label = ns.metadata.labels?.[EXPERIMENT_LABEL];
    if (label === undefined || label === '') continue;
    if (options.experimentId !== undefined && label !== options.experimentId) continue;
    if (ns.metadata.deletionTimestamp) {
      selection.terminating.push(ns);
      continue;
    }
    const holding = holdingOf(ns, leaseOf.get(ns.metadata.name), options.nowMs, options.probe);
    (holding.live ? selection.held : selection.remove).push({ namespace: ns, why: holding.why });
  }
  return selection;
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const isStatus = (err: unknown, status: number) => err instanceof KubeApiError && err.statusCode === status;

export interface ClaimOptions {
  namespace: string;
  experimentId: string;
  experimentName: string;
  /** This harness; undefined where /proc cannot say (the lease then names the host and pid only). */
  holder?: Holder;
  signal?: AbortSignal;
  /** Wall ms between renewals (default LEASE_RENEW_EVERY_MS). */
  renewEveryMs?: number;
  leaseDurationS?: number;
  /** How long to wait for this experiment's own namespace to finish terminating (default 120 s). */
  terminatingTimeoutMs?: number;
  probe?: ProcessProbe;
  now?: () => number;
}

/**
 * A namespace this harness created (or took back: its own, labelled with its experiment id, from an
 * interrupted run of the same experiment) and holds with a renewed Lease until release().
 */
export class ClaimedNamespace {
  private timer: NodeJS.Timeout | undefined;
  private released = false;

  private constructor(
    private readonly kc: KubeConfig,
    readonly name: string,
    readonly uid: string | undefined,
    private readonly identity: string,
    private readonly now: () => number,
  ) {}

  /**
   * Creates the namespace, or takes back this experiment's own; then takes its Lease. A namespace
   * of that name without the label of this experiment is never used: a UsageError (exit 2). A
   * Lease another live harness holds is a PlatformError.
   */
  static async claim(kc: KubeConfig, options: ClaimOptions): Promise<ClaimedNamespace> {
    const { namespace, experimentId } = options;
    const now = options.now ?? Date.now;
    const identity = options.holder ? formatHolder(options.holder) : `${hostname()}/-/${process.pid}/0`;
    const fail = (what: string, err: unknown): never => {
      const message = redact(String((err as Error)?.message ?? err), secretsOf(kc));
      throw new PlatformError(`kube: ${what}: ${message.split('\n')[0]}`);
    };
    let uid: string | undefined;
    let created = false;
    for (let attempt = 0; uid === undefined; attempt++) {
      if (attempt === 3) fail(`namespace ${namespace}`, new Error('created and deleted by someone else meanwhile'));
      const made = await kubeRequest<NamespaceRecord>(kc, {
        method: 'POST',
        path: '/api/v1/namespaces',
        body: {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: {
            name: namespace,
            labels: { [EXPERIMENT_LABEL]: experimentId },
            annotations: { [EXPERIMENT_NAME_ANNOTATION]: options.experimentName },
          },
        },
      }).catch((err: unknown) => (isStatus(err, 409) ? undefined : fail(`cannot create namespace ${namespace}`, err)));
      if (made) {
        uid = made.metadata.uid ?? '';
        created = true;
        break;
      }
      const existing = await kubeRequest<NamespaceRecord>(kc, {
        method: 'GET',
        path: `/api/v1/namespaces/${namespace}`,
      }).catch((err: unknown) => (isStatus(err, 404) ? undefined : fail(`cannot read namespace ${namespace}`, err)));
      if (!existing) continue; // deleted in between: create it
      const label = existing.metadata.labels?.[EXPERIMENT_LABEL];
      if (label !== experimentId) {
        throw new UsageError(
          `kube: namespace ${namespace} already exists ${label === undefined ? `without the label ${EXPERIMENT_LABEL}` : `labelled ${EXPERIMENT_LABEL}=${label}`}, so it is not this experiment's (id ${experimentId}) and is left alone; delete or rename it, or start a new experiment`,
        );
      }
      if (!existing.metadata.deletionTimestamp) {
        uid = existing.metadata.uid ?? '';
        break;
      }
      // This experiment's namespace from an interrupted run, still terminating: wait until it is gone.
      const timeoutMs = options.terminatingTimeoutMs ?? 120_000;
      const gone = await pollUntil(
        () =>
          kubeRequest(kc, { method: 'GET', path: `/api/v1/namespaces/${namespace}` }).then(
            () => false,
            (err: unknown) => isStatus(err, 404),
          ),
        { everyMs: 500, timeoutMs, signal: options.signal },
      );
      if (!gone)
        fail(`namespace ${namespace}`, new Error(`still terminating after ${timeoutMs / 1000} s; try again later`));
    }
    const claimed = new ClaimedNamespace(kc, namespace, uid || undefined, identity, now);
    try {
      await claimed.takeLease(options);
    } catch (err) {
      // A namespace this harness just created goes again; one it took back stays for its holder.
      if (created) await claimed.release().catch((e) => debug('release after a failed claim: %O', e));
      throw err;
    }
    claimed.timer = setInterval(() => {
      claimed.renew().catch((err) => debug('%s: lease renewal failed: %s', namespace, (err as Error).message));
    }, options.renewEveryMs ?? LEASE_RENEW_EVERY_MS);
    // Renewal alone never keeps the harness running.
    claimed.timer.unref();
    return claimed;
  }

  private leasePath(name?: string): string {
    return resourcePath('coordination.k8s.io/v1', 'leases', this.name, name);
  }

  private async takeLease(options: ClaimOptions): Promise<void> {
    const nowMs = this.now();
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LEASE_NAME, namespace: this.name, labels: { [EXPERIMENT_LABEL]: options.experimentId } },
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: options.leaseDurationS ?? LEASE_DURATION_S,
        acquireTime: microTime(nowMs),
        renewTime: microTime(nowMs),
      },
    };
    try {
      await kubeRequest(this.kc, { method: 'POST', path: this.leasePath(), body: lease });
      return;
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
    }
    const existing = await kubeRequest<LeaseRecord>(this.kc, { method: 'GET', path: this.leasePath(LEASE_NAME) });
    if (existing.spec?.holderIdentity !== this.identity) {
      const holding = holdingOf({ metadata: { name: this.name } }, existing, nowMs, options.probe ?? localProbe());
      if (holding.live) {
        throw new PlatformError(
          `kube: namespace ${this.name} is in use by another run of experiment ${options.experimentId} (${holding.why}); stop that run, or wait ${LEASE_DURATION_S} s after it ended`,
        );
      }
    }
    // Replace names the version read: of two harnesses taking over one dead lease, one wins.
    await kubeRequest(this.kc, {
      method: 'PUT',
      path: this.leasePath(LEASE_NAME),
      body: { ...lease, metadata: { ...lease.metadata, resourceVersion: existing.metadata.resourceVersion } },
    });
  }

  /** Moves renewTime to now. */
  async renew(): Promise<void> {
    if (this.released) return;
    await kubeRequest(this.kc, {
      method: 'PATCH',
      path: this.leasePath(LEASE_NAME),
      body: { spec: { holderIdentity: this.identity, renewTime: microTime(this.now()) } },
    });
  }

  /**
   * Stops renewing and deletes the namespace (its Lease and releases with it). The uid
   * precondition makes sure the namespace deleted is the one claimed. Safe to call twice.
   */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await deleteNamespace(this.kc, this.name, this.uid);
  }
}

/**
 * Deletes a namespace if it is still the one with `uid`: 'changed' when another namespace of that
 * name has replaced it (left alone), 'gone' when none is left.
 */
export async function deleteNamespace(
  kc: KubeConfig,
  name: string,
  uid: string | undefined,
): Promise<'deleted' | 'gone' | 'changed'> {
  try {
    await kubeRequest(kc, {
      method: 'DELETE',
      path: `/api/v1/namespaces/${name}`,
      body: { apiVersion: 'v1', kind: 'DeleteOptions', ...(uid ? { preconditions: { uid } } : {}) },
    });
    return 'deleted';
  } catch (err) {
    if (isStatus(err, 404)) return 'gone';
    if (isStatus(err, 409)) return 'changed';
    throw err;
  }
}

/**
 * The project's namespaces on a cluster (those labelled `canary-mttr/experiment`, of
 * `experimentId` when given) and their harness Leases, for cleanup.
 */
export async function listExperimentNamespaces(
  kc: KubeConfig,
  experimentId?: string,
): Promise<{ namespaces: NamespaceRecord[]; leases: LeaseRecord[] }> {
  const selector = experimentId === undefined ? EXPERIMENT_LABEL : `${EXPERIMENT_LABEL}=${experimentId}`;
  const [namespaces, leases] = await Promise.all([
    kubeRequest<{ items: NamespaceRecord[] }>(kc, {
      method: 'GET',
      path: `/api/v1/namespaces?labelSelector=${encodeURIComponent(selector)}`,
    }),
    kubeRequest<{ items: LeaseRecord[] }>(kc, {
      method: 'GET',
      path: `${resourcePath('coordination.k8s.io/v1', 'leases')}?fieldSelector=${encodeURIComponent(`metadata.name=${LEASE_NAME}`)}`,
    }),
  ]);
  return { namespaces: namespaces.items, leases: leases.items };
}
