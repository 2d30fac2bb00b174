/**
 * `npm run fidelity -- --all`: every scenario of the catalogue on the real Flagger of a local
 * control plane (one per scrape interval, several releases at once) and on the model, into one
 * runs.csv that is rewritten after every release, so an interrupt keeps what was measured and
 * `--resume DIR` measures only what is missing.
 */
import { setMaxListeners } from 'node:events';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deriveSeed } from '../common/random.ts';
import { writeFileAtomic } from '../common/files.ts';
import type { Logger } from '../common/logger.ts';
import type { StartedLocalCluster } from '../cluster/local/cluster.ts';
import type { Scenario } from '../scenario/schema.ts';
import { runOnModel } from './model-runs.ts';
import {
  byScrapeInterval,
  estimateModelS,
  estimateReleaseS,
  Progress,
  releaseTasks,
  repsFor,
  scheduleWallS,
} from './plan.ts';
import { runRealRelease } from './real-flagger.ts';
import { readFidelityRunsCsv, writeFidelityRunsCsv, type FidelityRow, type Side } from './runs-csv.ts';
import { fidelityFindingsMarkdown, overloaded } from './table.ts';
import type { FidelityRun } from './types.ts';

export const RUNS_CSV = 'runs.csv';
export const FIDELITY_MD = 'fidelity.md';

/** Consecutive failed releases after which the real side stops: the cluster, not a release, is broken. */
const MAX_FAILURES_IN_A_ROW = 3;
/** Times one repetition is measured again after an overloaded release, in the same run. */
const MAX_OVERLOAD_RETRIES = 2;
/**
 * Seconds between the first releases of the slots, so that their charts and pods do not all start
 * in the same seconds. Overloaded releases (a stable p99 of 250–700 ms on an otherwise idle
 * machine) came only among the first releases after a start of the run; the stagger made them
 * fewer, not none (README, Fidelity). Each release already pauses a random part of an interval
 * before its load, so the stagger changes no phase.
 */
const SLOT_STAGGER_S = 15;

export interface CatalogueOptions {
  scenarios: Scenario[];
  /** Releases per scenario and side (partial-0.5pct gets REPS_FACTOR times as many). */
  reps: number;
  /** Real releases at once on one cluster. */
  concurrency: number;
  modelTimeScale: number;
  modelConcurrency: number;
  seed: number;
  out: string;
  logger: Logger;
  signal: AbortSignal;
  /** A local control plane whose Prometheus scrapes every `scrapeIntervalS`. */
  startCluster: (scrapeIntervalS: number, stateDir: string) => Promise<StartedLocalCluster>;
  versions: { flagger: string; kubernetes: string };
  now?: () => number;
}

/** The wall-time estimate of a whole run, seconds: the real side on its slots, then the model. */
export function estimateCatalogueS(
  o: Pick<CatalogueOptions, 'scenarios' | 'reps' | 'concurrency' | 'modelTimeScale' | 'modelConcurrency'>,
): { realS: number; modelS: number } {
  const realS = byScrapeInterval(o.scenarios).reduce(
    (sum, g) =>
      sum +
      scheduleWallS(
        releaseTasks(g.scenarios, o.reps).map((t) => estimateReleaseS(t.scenario)),
        o.concurrency,
      ),
    0,
  );
  return { realS, modelS: estimateModelS(o.scenarios, o.reps, o.modelTimeScale, o.modelConcurrency) };
}

function rowOf(side: Side, scenario: Scenario, run: FidelityRun): FidelityRow {
  return {
    ...run,
    side,
    scenario: scenario.name,
    intervalS: scenario.flagger.intervalMs / 1000,
    threshold: scenario.flagger.threshold,
    smokeTest: scenario.flagger.smokeTest,
    scrapeIntervalS: scenario.metrics.scrapeIntervalS,
  };
}

/** Runs what `out/runs.csv` does not hold yet, then writes fidelity.md from all of it. */
export async function runCatalogue(o: CatalogueOptions): Promise<FidelityRow[]> {
  const { logger, signal } = o;
  // Each release in flight listens on the signal several times (sleeps, watches, load); node's
  // default of 10 would warn at two or three releases at once.
  setMaxListeners(10 + 8 * o.concurrency, signal);
  const now = o.now ?? Date.now;
  const csv = path.join(o.out, RUNS_CSV);
  const names = new Set(o.scenarios.map((s) => s.name));
  const rows: FidelityRow[] = existsSync(csv) ? readFidelityRunsCsv(csv).filter((r) => names.has(r.scenario)) : [];
  const save = () => writeFidelityRunsCsv(csv, rows);
  // The cluster's state (its credentials among it) and the model's journals stay out of git; the
  // folder's runs.csv, fidelity.md and plan.json are what gets checked in.
  writeFileAtomic(path.join(o.out, '.gitignore'), 'cluster-*/\nmodel/\n');
  // An overloaded release is kept but does not count: resume measures that repetition again.
  const done = (side: Side) =>
    new Set(rows.filter((r) => r.side === side && !overloaded(r)).map((r) => `${r.scenario}/${r.rep}`));
  if (rows.length > 0) logger.info(`Resuming: ${rows.length} releases already in ${RUNS_CSV} are kept`);

  const groups = byScrapeInterval(o.scenarios);
  const realDone = done('real');
  const todo = groups.map((g) => ({ ...g, tasks: releaseTasks(g.scenarios, o.reps, realDone) }));
  const estimate = estimateCatalogueS(o);
  const remainingS = todo.flatMap((g) => g.tasks.map((t) => estimateReleaseS(t.scenario)));
  const progress = new Progress(remainingS.length, [...remainingS], o.concurrency, estimate.modelS);
  if (groups.length > 1)
    logger.info(
      `Scrape intervals ${groups.map((g) => `${g.scrapeIntervalS} s (${g.scenarios.map((s) => s.name).join(', ')})`).join('; ')}: one local control plane each, one after the other`,
    );
  logger.info(progress.line(now()));

  // The fewest releases at once the overload back-off came down to, for fidelity.md.
  let fewest = o.concurrency;
  for (const group of todo) {
    if (group.tasks.length === 0) continue;
    signal.throwIfAborted();
    await using cluster = await o.startCluster(
      group.scrapeIntervalS,
      // A cluster refuses a state dir it did not write: each start (a resume too) gets its own.
      path.join(o.out, `cluster-scrape-${group.scrapeIntervalS}s-${now().toString(36)}`),
    );
    logger.info(
      `Local control plane up (Prometheus scraping every ${group.scrapeIntervalS} s): ${group.tasks.length} releases, ${o.concurrency} at once`,
    );
    const queue = group.tasks.map((task) => ({ ...task, retries: 0 }));
    let failuresInARow = 0;
    let fatal: unknown;
    // Releases at once; an overloaded release lowers it by one, as the experiment runner's lag
    // back-off does (docs/design.md §10).
    let limit = Math.min(o.concurrency, group.tasks.length);
    let live = limit;
    const worker = async (slot: number) => {
      await sleep(slot * SLOT_STAGGER_S * 1000, undefined, { signal }).catch(() => undefined);
      for (
        let task = queue.shift();
        task !== undefined && !signal.aborted && fatal === undefined;
        task = queue.shift()
      ) {
        const token = progress.started(estimateReleaseS(task.scenario), now());
        try {
          const run = await runRealRelease(
            { cluster, scenario: task.scenario, logger, signal, seed: deriveSeed(o.seed, task.scenario.name) },
            task.rep,
          );
          const row = rowOf('real', task.scenario, run);
          rows.push(row);
          save();
          failuresInARow = 0;
          if (overloaded(row)) {
            limit = Math.max(1, limit - 1);
            fewest = Math.min(fewest, limit);
            const again = task.retries < MAX_OVERLOAD_RETRIES;
            if (again) {
              queue.push({ ...task, retries: task.retries + 1 });
              progress.requeued(estimateReleaseS(task.scenario));
            }
            logger.warn(
              `real Flagger  ${task.scenario.name} r${task.rep} measured an overloaded machine (stable p99 ${run.stableP99Ms?.toFixed(0) ?? '—'} ms, ${run.timeouts ?? 0} timeouts; the harness's event loop stalled at most ${run.loopLagMaxMs?.toFixed(0) ?? '—'} ms): kept in ${RUNS_CSV} but left out of the comparison; ` +
                `${again ? 'measured again later' : 'not measured again (retries spent; --resume tries again)'}, now ${limit} at once`,
            );
          }
        } catch (err) {
          if (signal.aborted) return;
          failuresInARow++;
          logger.warn(
            `real Flagger  ${task.scenario.name} r${task.rep} failed and is not recorded (--resume measures it again): ${err instanceof Error ? err.message : String(err)}`,
          );
          if (failuresInARow >= MAX_FAILURES_IN_A_ROW) fatal = err;
        }
        progress.finished(token, now());
        logger.info(progress.line(now()));
        if (live > limit) break;
      }
      live--;
    };
    await Promise.all(Array.from({ length: limit }, (_, slot) => worker(slot)));
    signal.throwIfAborted();
    if (fatal !== undefined) throw fatal;
  }

  const modelDone = done('model');
  for (const scenario of o.scenarios) {
    const want = repsFor(scenario.name, o.reps);
    if ([...Array(want).keys()].every((k) => modelDone.has(`${scenario.name}/${k + 1}`))) continue;
    signal.throwIfAborted();
    // The model's releases of a scenario are one experiment: an incomplete one is run again whole.
    for (let i = rows.length - 1; i >= 0; i--)
      if (rows[i]!.side === 'model' && rows[i]!.scenario === scenario.name) rows.splice(i, 1);
    const outDir = path.join(o.out, 'model', scenario.name);
    rmSync(outDir, { recursive: true, force: true });
    logger.info(
      `model         ${scenario.name}: ${want} releases at ${o.modelTimeScale}×, ${o.modelConcurrency} at once`,
    );
    const runs = await runOnModel({
      scenario,
      reps: want,
      timeScale: o.modelTimeScale,
      seed: deriveSeed(o.seed, scenario.name),
      outDir,
      logger,
      signal,
      concurrency: o.modelConcurrency,
    });
    for (const run of runs) rows.push(rowOf('model', scenario, run));
    save();
  }

  writeFileAtomic(
    path.join(o.out, FIDELITY_MD),
    `# Fidelity: the real Flagger against the model, every scenario\n\n` +
      `Flagger ${o.versions.flagger} on a local control plane (kube-apiserver ${o.versions.kubernetes}, etcd, kwok, Prometheus, flagger-loadtester), real time, ${o.concurrency} releases at once${fewest < o.concurrency ? ` (${fewest} from an overloaded release on)` : ''}; ` +
      `the model (\`src/flagger-model\` on the local platform) at ${o.modelTimeScale}×. Every figure comes from \`${RUNS_CSV}\` beside this file.\n\n` +
      `${fidelityFindingsMarkdown(rows)}\n`,
  );
  return rows;
}
