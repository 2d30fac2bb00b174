/**
 * Where each operator parameter of a run comes from, for the report's "source" column. A value the
 * experiment swept is an experimental factor, not an assumption: it is named as swept, and the
 * story behind the docs/design.md §6 defaults is told only for the fields that kept their default.
 */
import type { RunEntry } from '../experiment/journal.ts';
import { operatorSchema, type OperatorSettings, type Scenario } from '../scenario/schema.ts';

/** Sweep keys that reach into the operator start with this (docs/design.md §6 models). */
const OPERATOR_PATH = 'manual.operator';

/** Why each default is what it is (docs/design.md §6), by operator kind and field path. */
const DEFAULT_REASONS: Record<string, string> = {
  'dashboard.lookIntervalS': 'a person looking at a Grafana panel once a minute',
  'dashboard.panelWindowS': 'the panel shows the error rate over the last minute',
  'dashboard.visibleErrorRate': 'where an error-rate panel visibly looks wrong',
  'dashboard.latencyPanel':
    "the latency panel beside the error-rate panel (latency and errors are two of the Google SRE book's four golden signals), its threshold line at the scenario's slo.latencyMs (the proposal's 500 ms, docs/design.md §12)",
  'dashboard.pNotice': 'a bad panel is noticed at four looks in five',
  'dashboard.reaction.medianS': 'decide and type the rollback, lognormal',
  'dashboard.reaction.p90S': 'decide and type the rollback, lognormal',
  'alert.errorRateAbove': 'the rule fires above 1% failed requests',
  'alert.ruleWindowS': 'the error rate is measured over one minute',
  'alert.latencyP99AboveMs':
    "off: docs/design.md §6's rule pages on the error rate only; set it to add `or p99 > L` to the rule",
  'alert.forS': 'the condition must hold for one minute before the rule fires',
  'alert.evaluationIntervalS': "docs/design.md §6's choice; Grafana evaluates every 10 s by default",
  'alert.groupWaitS': "Alertmanager's default group_wait",
  'alert.acknowledge.medianS': 'time to acknowledge the page, lognormal',
  'alert.acknowledge.p90S': "p90 at the Google SRE book's 5-minute on-call target",
  'alert.action.medianS': 'acknowledged page to rollback command, lognormal',
  'alert.action.p90S': 'acknowledged page to rollback command, lognormal',
};

function leaves(value: unknown, prefix = ''): Array<[string, unknown]> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [[prefix, value]];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

const show = (path: string, value: unknown) =>
  `${path} = ${typeof value === 'number' && path.endsWith('S') ? `${value} s` : String(value)}`;

/**
 * The source text of one operator model: the swept fields named as swept (with the value this
 * cell ran), fields set by the plan to a value other than the default named as such, and the
 * docs/design.md §6 reason for each field that kept its default. `sweep` maps dotted scenario paths to
 * values, as RunEntry.sweep does. Undefined when every field kept its default (the operator's own
 * story then holds) and for the human operator, who has no parameters.
 */
export function operatorSourceText(
  settings: OperatorSettings,
  sweep: Record<string, unknown> | undefined,
): string | undefined {
  if (settings.kind === 'human') return undefined;
  const defaults = Object.fromEntries(leaves(operatorSchema.parse({ kind: settings.kind })));
  const sweptPaths = Object.keys(sweep ?? {})
    .filter((k) => k === 'manual' || k === OPERATOR_PATH || k.startsWith(`${OPERATOR_PATH}.`))
    .map((k) => k.slice(OPERATOR_PATH.length + 1));
  const isSwept = (path: string) => sweptPaths.some((p) => p === '' || p === path || path.startsWith(`${p}.`));
  const swept: string[] = [];
  const set: string[] = [];
  const assumed: string[] = [];
  for (const [path, value] of leaves(settings)) {
    if (path === 'kind') continue;
    if (isSwept(path)) swept.push(show(path, value));
    else if (value !== defaults[path]) set.push(show(path, value));
    else
      assumed.push(
        `${show(path, value)} (${DEFAULT_REASONS[`${settings.kind}.${path}`] ?? 'docs/design.md §6 default'})`,
      );
  }
  if (swept.length === 0 && set.length === 0) return undefined;
  return [
    swept.length > 0 ? `Swept, an experimental factor and not an assumption: ${swept.join(', ')}` : '',
    set.length > 0 ? `Set by the experiment or scenario file, not a docs/design.md §6 default: ${set.join(', ')}` : '',
    assumed.length > 0 ? `Assumed (docs/design.md §6 defaults): ${assumed.join('; ')}` : '',
  ]
    .filter(Boolean)
    .join('. ')
    .concat('.');
}

/**
 * Why each parameter of the manual process (docs/design.md §13) is what it is, by the key its
 * description gives it (operator/progression.ts describeManualProcess), and the scenario path a
 * sweep names it by.
 */
const PROCESS_REASONS: Record<string, { path: string; reason: string; keptWhenSwept?: boolean }> = {
  services: {
    path: 'services',
    reason:
      'assumed: one person runs the whole train, as the manual process has one release engineer; one service at a time because each edit and helm command is typed and read before the next, and the panels of one service are read before the next service (docs/design.md §13)',
    // The number is swept; how one person handles the train stays an assumption.
    keptWhenSwept: true,
  },
  progression: {
    path: 'manual.progression',
    reason:
      'assumed: three weights before the promotion, each about double the last, and a hold of two looks at the docs/design.md §6 look interval (2 × 60 s) before each step',
  },
  editErrorRate: {
    path: 'manual.editErrorRate',
    reason:
      "0 unless swept; HEART's nominal error probabilities for routine procedural tasks, 0.0004 to 0.02 (Williams 1988), motivate the swept values",
  },
  valuesEditS: { path: 'manual.effort.valuesEditS', reason: 'assumed: open values.yaml, change one field, save' },
  helmCommandS: {
    path: 'manual.effort.helmCommandS',
    reason:
      'keystroke-level model (Card, Moran & Newell 1980): about 60 keystrokes at 0.2 s and one mental preparation (1.35 s), then reading the answer',
  },
  panelLookS: {
    path: 'manual.effort.panelLookS',
    reason: 'assumed: reading one panel; a look reads the error rate and, where shown, the latency',
  },
  pageAcknowledgeS: { path: 'manual.effort.pageAcknowledgeS', reason: 'assumed: open the page and acknowledge it' },
};

/**
 * The source text of the manual process's parameters: swept ones named as swept, the others with
 * the reason for their value. Undefined for a description without them (journals older than it).
 */
export function manualProcessSourceText(
  description: Record<string, string | number>,
  sweep: Record<string, unknown> | undefined,
): string | undefined {
  const keys = Object.keys(PROCESS_REASONS).filter((k) => k in description);
  if (keys.length === 0) return undefined;
  const sweptPaths = Object.keys(sweep ?? {});
  const isSwept = (path: string) =>
    sweptPaths.some((p) => p === path || path.startsWith(`${p}.`) || p.startsWith(`${path}.`));
  const swept = keys
    .filter((k) => isSwept(PROCESS_REASONS[k]!.path))
    .map((k) => {
      const { reason, keptWhenSwept } = PROCESS_REASONS[k]!;
      return `${k} = ${description[k]}${keptWhenSwept ? ` (${reason})` : ''}`;
    });
  const assumed = keys
    .filter((k) => !isSwept(PROCESS_REASONS[k]!.path))
    .map((k) => `${k} = ${description[k]} (${PROCESS_REASONS[k]!.reason})`);
  return [
    swept.length > 0 ? `Manual process, swept: ${swept.join(', ')}` : '',
    assumed.length > 0 ? `Manual process (docs/design.md §13): ${assumed.join('; ')}` : '',
  ]
    .filter(Boolean)
    .join('. ')
    .concat('.');
}

/**
 * The run's operator description with its source told per field, when the plan swept or changed
 * an operator field, and the manual process's sources as `processSource`. A run whose operator
 * kept every default keeps the source it journaled.
 */
export function withOperatorSource(run: RunEntry, scenario: Scenario | undefined): RunEntry {
  if (!run.operator) return run;
  const processSource = manualProcessSourceText(run.operator, run.sweep);
  const operator = processSource === undefined ? run.operator : { ...run.operator, processSource };
  const settings = scenario?.manual.operator;
  const source = settings && settings.kind === run.operator.kind ? operatorSourceText(settings, run.sweep) : undefined;
  if (source === undefined && processSource === undefined) return run;
  return { ...run, operator: source === undefined ? operator : { ...operator, source } };
}
