import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../common/errors.ts';
import { experimentIdProblem, isDnsLabel } from '../platform/kube/experiment-namespaces.ts';

export const EXPERIMENT_HELP = `Usage: npm run experiment -- [options]

Runs an experiment plan (both arms, faulty release, load, detection, rollback, repetitions)
and writes a report folder with journal.jsonl, runs.csv, summary.json, report.md and requests/.

Options:
  --experiment FILE   experiment plan (default experiments/quick.yaml)
  --platform NAME     local (embedded, no cluster; the default) or kube (a real cluster)
  --kubeconfig FILE   kube: the kubeconfig (default $KUBECONFIG, then ~/.kube/config)
  --context NAME      kube: the kubeconfig context (default its current context)
  --prometheus-url U  kube: Prometheus's HTTP API (default: the local control plane's)
  --service-url U     kube: where the load goes (default: the local control plane's mesh)
  --loadtester-namespace NS
                      kube: namespace of flagger-loadtester, the smoke-test scenarios' runner
                      (default: the local control plane's, else canary-mttr, where
                      npm run cluster:up installs it on kind)
  --out DIR           report folder (default reports/<experiment>-<timestamp>)
  --seed N            base seed, overrides the plan's (runs derive their own seeds from it)
  --reps N            repetitions per arm and scenario, overrides the plan's
  --time-scale X      scenario seconds per wall second, overrides the plan's (1 = real time)
  --resume DIR        finish an interrupted experiment in its report folder (same plan and seed)
  --load NAME         builtin (default on local), k6, or auto (k6 when installed; default on kube)
  --concurrency N     runs in flight at once, each in its own slot (default: the plan's
                      concurrency, else chosen from the cores and time scale on local, 1 on kube)
  -h, --help          this text

Ctrl-C stops after cleaning up; runs already finished stay in the journal and the report.`;

export const REPORT_HELP = `Usage: npm run report -- DIR

Re-renders runs.csv, summary.json and report.md of a report folder from its journal.jsonl,
without re-running anything.`;

export const COMPARE_HELP = `Usage: npm run compare -- DIR_A DIR_B [--out DIR]

Compares two report folders (for example local against kube, or two seeds): outcomes per
scenario and arm, and for every duration the medians, the difference B − A with a bootstrap CI,
A12 and the Mann–Whitney p. Writes compare.md (and compare.html with overlaid charts) into --out
(default reports/compare-<A>-vs-<B>).`;

export const CLEANUP_HELP = `Usage: npm run cleanup -- [--kubeconfig FILE [--context NAME] [--experiment-id ID] [--yes]]

Removes the app processes and temporary folders that crashed runs left behind.

With --kubeconfig (an exported KUBECONFIG is not used), also lists the namespaces labelled
canary-mttr/experiment on that cluster that no live run holds (its harness Lease expired, or its
harness on this machine is gone), and deletes them only with --yes. A namespace a live run holds
is never deleted, nor one without the label.

  --experiment-id ID  only that experiment's namespaces (the "id" of its journal header)
  --yes               delete what is listed (without it nothing on the cluster is deleted)`;

export interface CleanupArgs {
  kubeconfig?: string;
  context?: string;
  experimentId?: string;
  yes: boolean;
  help: boolean;
}

/** Most runs in flight at once the harness accepts (each slot holds its own processes and ports). */
export const MAX_CONCURRENCY = 64;

export function parseCleanupArgs(argv: string[]): CleanupArgs {
  const options = {
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    'experiment-id': { type: 'string' },
    yes: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  } as const;
  const { values } = parseOptions(argv, options, false);
  const clusterOnly = (['context', 'experiment-id', 'yes'] as const).find(
    (k) => values[k] !== undefined && values[k] !== false,
  );
  if (clusterOnly !== undefined && values.kubeconfig === undefined) {
    throw new UsageError(
      `--${clusterOnly}: only with --kubeconfig FILE; cleanup deletes namespaces on a cluster only when its kubeconfig is named`,
    );
  }
  const experimentId = values['experiment-id'];
  const problem = experimentId === undefined ? undefined : experimentIdProblem(experimentId);
  if (problem !== undefined) throw new UsageError(`--experiment-id: "${experimentId}" is ${problem}`);
  return {
    kubeconfig: values.kubeconfig,
    context: values.context,
    experimentId,
    yes: values.yes,
    help: values.help,
  };
}

export function parseCompareArgs(argv: string[]): { dirs: string[]; out?: string; help: boolean } {
  const { values, positionals } = parseOptions(
    argv,
    { out: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    true,
  );
  if (!values.help && positionals.length !== 2) {
    throw new UsageError(
      `compare: expected two report folders, got ${positionals.length}; usage: npm run compare -- DIR_A DIR_B [--out DIR]`,
    );
  }
  return { dirs: positionals, out: values.out as string | undefined, help: values.help as boolean };
}

export interface ExperimentArgs {
  experiment?: string;
  platform: string;
  out?: string;
  seed?: number;
  reps?: number;
  timeScale?: number;
  resume?: string;
  kubeconfig?: string;
  context?: string;
  prometheusUrl?: string;
  serviceUrl?: string;
  loadtesterNamespace?: string;
  load?: string;
  concurrency?: number;
  help: boolean;
}

/**
 * The number an option's text stands for, or undefined when the option was not given. Text that is
 * not a finite number, or fails `check`, is one UsageError line: `--reps: "0" is not <what>`.
 */
export function numberOption(
  flag: string,
  raw: string | undefined,
  check: (n: number) => boolean,
  what: string,
): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || !check(value)) {
    throw new UsageError(`${flag}: "${raw}" is not ${what}`);
  }
  return value;
}

/** A whole number from `min` to `max` (numberOption's check and wording). */
export function integerOption(flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  return numberOption(
    flag,
    raw,
    (n) => Number.isInteger(n) && n >= min && n <= max,
    `a whole number from ${min} to ${max}`,
  );
}

/**
 * The one argument parser of every command (experiment, report, compare, cleanup, cluster,
 * fidelity, bench): node:util parseArgs, strict, with its errors turned into one UsageError line
 * naming the option. `scope` says whose options these are ("--provider local") when a command has
 * several sets.
 */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: T,
  allowPositionals: boolean,
  scope?: string,
) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals, strict: true });
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!;
    const unknown = /Unknown option '([^']+)'/.exec(message);
    if (unknown) throw new UsageError(`${unknown[1]}: unknown option${scope ? ` of ${scope}` : ''}; see --help`);
    const positional = /Unexpected argument '([^']+)'/.exec(message);
    if (positional) throw new UsageError(`"${positional[1]}": unexpected argument; options start with --, see --help`);
    throw new UsageError(`${message}; see --help`);
  }
}

export function parseExperimentArgs(argv: string[]): ExperimentArgs {
  const { values } = parseOptions(
    argv,
    {
      experiment: { type: 'string' },
      platform: { type: 'string', default: 'local' },
      out: { type: 'string' },
      seed: { type: 'string' },
      reps: { type: 'string' },
      'time-scale': { type: 'string' },
      resume: { type: 'string' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      'prometheus-url': { type: 'string' },
      'service-url': { type: 'string' },
      'loadtester-namespace': { type: 'string' },
      load: { type: 'string' },
      concurrency: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    false,
  );
  if (values.load !== undefined && !['builtin', 'k6', 'auto'].includes(values.load as string)) {
    throw new UsageError(`--load: "${values.load}" is not a load generator; use builtin, k6 or auto`);
  }
  const loadtesterNamespace = values['loadtester-namespace'] as string | undefined;
  if (loadtesterNamespace !== undefined && !isDnsLabel(loadtesterNamespace)) {
    throw new UsageError(
      `--loadtester-namespace: "${loadtesterNamespace}" is not a namespace name; use lower-case letters, digits and '-', at most 63, such as canary-mttr`,
    );
  }
  if (values.resume !== undefined) {
    const clash = ['experiment', 'out', 'seed', 'reps', 'time-scale'].find(
      (k) => (values as Record<string, unknown>)[k] !== undefined,
    );
    if (clash)
      throw new UsageError(
        `--resume: cannot be combined with --${clash}; a resumed experiment keeps the plan, folder and seed it started with`,
      );
  }
  return {
    experiment: values.experiment as string | undefined,
    platform: values.platform as string,
    out: values.out as string | undefined,
    seed: numberOption(
      '--seed',
      values.seed as string | undefined,
      (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32,
      'a whole number from 0 to 4294967295',
    ),
    reps: numberOption(
      '--reps',
      values.reps as string | undefined,
      (n) => Number.isInteger(n) && n >= 1 && n <= 10_000,
      'a whole number from 1 to 10000',
    ),
    timeScale: numberOption(
      '--time-scale',
      values['time-scale'] as string | undefined,
      (n) => n >= 0.1 && n <= 200,
      'a number from 0.1 to 200 (scenario seconds per wall second)',
    ),
    resume: values.resume as string | undefined,
    kubeconfig: values.kubeconfig as string | undefined,
    context: values.context as string | undefined,
    prometheusUrl: values['prometheus-url'] as string | undefined,
    serviceUrl: values['service-url'] as string | undefined,
    loadtesterNamespace,
    load: values.load as string | undefined,
    concurrency: integerOption('--concurrency', values.concurrency as string | undefined, 1, MAX_CONCURRENCY),
    help: values.help as boolean,
  };
}

export function parseReportArgs(argv: string[]): { dir?: string; help: boolean } {
  const { values, positionals } = parseOptions(argv, { help: { type: 'boolean', short: 'h', default: false } }, true);
  if (positionals.length > 1) throw new UsageError(`expected one report folder, got ${positionals.length}; see --help`);
  return { dir: positionals[0], help: values.help as boolean };
}
