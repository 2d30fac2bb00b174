import { realpathSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../common/errors.ts';
import { readRegularFile } from '../common/files.ts';
import {
  experimentSchema,
  scenarioSchema,
  type Arm,
  type Experiment,
  type ExperimentEntry,
  type Scenario,
} from './schema.ts';

/** Experiment and scenario files are small; anything larger is a mistake or an attack. */
const MAX_FILE_BYTES = 1024 * 1024;

/** Shows a path relative to the working directory when that is shorter, as users typed it. */
export function displayPath(file: string, cwd = process.cwd()): string {
  const relative = path.relative(cwd, file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

const TOP_LEVEL_KINDS: Array<[(v: unknown) => boolean, string]> = [
  [Array.isArray, 'a list'],
  [(v) => typeof v === 'string', 'text'],
  [(v) => typeof v === 'number', 'a number'],
  [(v) => typeof v === 'boolean', 'true or false'],
];

/**
 * Reads and parses a YAML file that holds a mapping of fields (or nothing), or throws one
 * ConfigError line. Only a regular file of at most MAX_FILE_BYTES is read. A file that is not a
 * mapping is named, never quoted: it may be a credentials file named by mistake (or on purpose).
 */
export function readYamlFile(file: string): unknown {
  const shown = displayPath(file);
  const read = readRegularFile(file, MAX_FILE_BYTES);
  if (!read.ok) {
    switch (read.reason) {
      case 'too-large':
        throw new ConfigError(
          `${shown}: file is ${read.size} bytes, over the ${MAX_FILE_BYTES}-byte limit for plan files; is this the right file?`,
        );
      case 'not-a-file':
        throw new ConfigError(`${shown}: not a regular file (a device, FIFO or socket); name a YAML file`);
      case 'folder':
        throw new ConfigError(`${shown}: cannot read file (EISDIR); name a YAML file, not a folder`);
      default: {
        const hint = read.reason === 'missing' ? 'check the path' : 'check the file';
        throw new ConfigError(`${shown}: cannot read file (${read.code ?? 'error'}); ${hint}`);
      }
    }
  }
  const bytes = read.bytes;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError(`${shown}: file is not valid UTF-8; save it as UTF-8 text`);
  }
  // The yaml library caps alias expansion (maxAliasCount), which defuses "billion laughs" files.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    const where = pos ? `:${pos.line}:${pos.col}` : '';
    const message = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?\s*$/, '');
    throw new ConfigError(`${shown}${where}: YAML syntax error: ${message}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(`${shown}: YAML cannot be expanded: ${(err as Error).message.split('\n')[0]}`);
  }
  if (value !== null && value !== undefined && !isPlainObject(value)) {
    const kind = TOP_LEVEL_KINDS.find(([test]) => test(value))?.[1] ?? 'not a mapping';
    throw new ConfigError(
      `${shown}: (top level): the file holds ${kind}, not a mapping of fields; name a plan or scenario file (key: value lines)`,
    );
  }
  return value;
}

/** Formats a property path the way users read it: runs[0].arms[1]. */
export function formatPath(parts: readonly PropertyKey[]): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(top level)';
}

function valueAt(input: unknown, parts: readonly PropertyKey[]): unknown {
  let node: unknown = input;
  for (const part of parts) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const json = JSON.stringify(value);
  if (json === undefined) return String(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

const EXPECTED: Record<string, string> = {
  array: 'a list',
  object: 'a mapping of fields',
  int: 'a whole number',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
};

/** One issue as "path: what is wrong (the value)". */
function describeIssue(issue: z.core.$ZodIssue, input: unknown, pathPrefix: readonly PropertyKey[]): string {
  const where = formatPath([...pathPrefix, ...issue.path]);
  const value = valueAt(input, issue.path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => `"${k}"`).join(', ');
      return `${where}: unknown key ${keys}; check the spelling against the documented fields`;
    }
    case 'invalid_type': {
      const expected = EXPECTED[issue.expected] ?? `a ${issue.expected}`;
      if (value === undefined) return `${where}: missing; this field is required (${expected})`;
      if (typeof value === 'number' && !Number.isFinite(value))
        return `${where}: ${showValue(value)} is not a finite number`;
      return `${where}: ${showValue(value)} is not ${expected}`;
    }
    case 'invalid_value':
      return `${where}: ${showValue(value)} is not one of ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'invalid_union':
      if (issue.path[issue.path.length - 1] === 'kind')
        return `${where}: ${showValue(value)} is not one of dashboard, alert, human`;
      if (value && typeof value === 'object' && 'kind' in value) {
        return `${where}.kind: ${showValue((value as { kind: unknown }).kind)} is not one of dashboard, alert, human`;
      }
      return `${where}: ${showValue(value)} does not match any allowed form`;
    case 'too_small':
      if (issue.origin === 'array') return `${where}: needs at least ${String(issue.minimum)} item(s)`;
      if (issue.origin === 'string') return `${where}: must not be empty`;
      return issue.inclusive === false
        ? `${where}: ${showValue(value)} must be above ${String(issue.minimum)}`
        : `${where}: ${showValue(value)} is below the minimum ${String(issue.minimum)}`;
    case 'too_big':
      if (issue.origin === 'array') return `${where}: has more than ${String(issue.maximum)} items`;
      if (issue.origin === 'string') return `${where}: is longer than ${String(issue.maximum)} characters`;
      return `${where}: ${showValue(value)} is above the maximum ${String(issue.maximum)}`;
    case 'invalid_format':
      return `${where}: ${showValue(value)} ${issue.message}`;
    case 'custom':
      return `${where}: ${issue.message}`;
    default:
      return `${where}: ${showValue(value)} ${issue.message.replace(/^Invalid input:?\s*/i, '') || 'is invalid'}`;
  }
}

/** Validates data against a schema; on failure throws one line naming file, path and value. */
export function validate<S extends z.ZodType>(
  schema: S,
  data: unknown,
  shownFile: string,
  pathPrefix: readonly PropertyKey[] = [],
): z.output<S> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  // Unknown keys first: a misspelt key is usually why a required one looks missing.
  const issues = [...result.error.issues].sort(
    (a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'),
  );
  const first = describeIssue(issues[0]!, data, pathPrefix);
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  throw new ConfigError(`${shownFile}: ${first}${more}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Deep merge of plain objects; arrays and scalars from `over` replace those in `base`. An object
 * whose `kind` changes (a dashboard operator overridden by an alert one) is another type of thing
 * whose fields mean nothing to the new kind: it is replaced, not merged.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  if ('kind' in over && over.kind !== base.kind) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = deepMerge(base[key], value);
  return out;
}

const YAML_FILE = /\.ya?ml$/;

/** True when `file` is `dir` or lies under it. */
function isInside(file: string, dir: string): boolean {
  const relative = path.relative(dir, file);
  return !relative.startsWith('..') && !path.isAbsolute(relative);
}

/**
 * Finds a scenario by name in scenariosDir, or by path relative to the experiment file. A plan is
 * input that may come from elsewhere, so a reference stays inside the scenarios folder or the
 * experiment's own folder (symlinks resolved) and names a .yaml or .yml file: it cannot make the
 * harness read ~/.kube/config or a token. `where` prefixes the error ("plan.yaml: runs[0].scenario").
 */
export function resolveScenarioFile(
  ref: string,
  experimentFile: string,
  scenariosDir: string,
  where = `${displayPath(experimentFile)}: scenario`,
): string {
  const byPath = /[\\/]/.test(ref) || YAML_FILE.test(ref);
  const file = byPath ? path.resolve(path.dirname(experimentFile), ref) : path.join(scenariosDir, `${ref}.yaml`);
  const planDir = path.dirname(experimentFile);
  const allowed = `${displayPath(scenariosDir)}/ or the experiment's folder ${displayPath(planDir)}/`;
  if (!YAML_FILE.test(file)) {
    throw new ConfigError(`${where}: "${ref}" is not a .yaml or .yml file; name a scenario in ${allowed}`);
  }
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    return file; // Missing: reading it says so.
  }
  const roots = [scenariosDir, planDir].flatMap((dir) => {
    try {
      return [realpathSync(dir)];
    } catch {
      return [];
    }
  });
  if (!YAML_FILE.test(real) || !roots.some((root) => isInside(real, root))) {
    throw new ConfigError(
      `${where}: "${ref}" is outside ${allowed} (symlinks followed); copy the scenario into one of them`,
    );
  }
  return file;
}

export function loadScenarioFile(file: string): Scenario {
  const shown = displayPath(file);
  const raw = readYamlFile(file);
  const parsed = validate(scenarioSchema, raw ?? {}, shown);
  return { ...parsed, name: parsed.name ?? path.basename(file).replace(/\.ya?ml$/, '') };
}

/** One cell of the plan: an entry of the experiment, or one value combination of a swept entry. */
export interface PlanCell {
  /** Index of the experiment entry it comes from. */
  entry: number;
  arms: Arm[];
  repetitions?: number;
  /** The scenario with overrides and sweep values applied. */
  scenario: Scenario;
  /** Swept field → value, when the entry sweeps. */
  sweep?: Record<string, unknown>;
  /** "field=value, field=value" (short field names), '' when not swept. */
  sweepLabel: string;
}

/** A validated experiment with its scenarios resolved (overrides and sweeps applied). */
export interface LoadedExperiment {
  file: string;
  experiment: Experiment;
  cells: PlanCell[];
}

function setPath(path: string, value: unknown): Record<string, unknown> {
  const parts = path.split('.');
  let node: unknown = value;
  for (let i = parts.length - 1; i >= 0; i--) node = { [parts[i]!]: node };
  return node as Record<string, unknown>;
}

function combinations(sweep: Record<string, unknown[]>): Array<Record<string, unknown>> {
  let out: Array<Record<string, unknown>> = [{}];
  for (const [key, values] of Object.entries(sweep))
    out = out.flatMap((combo) => values.map((v) => ({ ...combo, [key]: v })));
  return out;
}

export function sweepLabel(sweep: Record<string, unknown> | undefined): string {
  if (!sweep) return '';
  return Object.entries(sweep)
    .map(([k, v]) => `${k.split('.').pop()}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}

export function loadExperimentFile(file: string, scenariosDir: string): LoadedExperiment {
  const shown = displayPath(file);
  const raw = readYamlFile(file);
  const parsed = validate(experimentSchema, raw ?? {}, shown);
  const experiment: Experiment = { ...parsed, name: parsed.name ?? path.basename(file).replace(/\.ya?ml$/, '') };
  const cells = experiment.runs.flatMap((entry: ExperimentEntry, index): PlanCell[] => {
    const scenarioFile = resolveScenarioFile(entry.scenario, file, scenariosDir, `${shown}: runs[${index}].scenario`);
    let scenarioRaw: unknown;
    try {
      scenarioRaw = readYamlFile(scenarioFile);
    } catch (err) {
      if (err instanceof ConfigError && /cannot read file \(ENOENT\)/.test(err.message)) {
        throw new ConfigError(
          `${shown}: runs[${index}].scenario: "${entry.scenario}" not found (looked for ${displayPath(scenarioFile)}); name a file in ${displayPath(scenariosDir)}/ or give a path`,
        );
      }
      throw err;
    }
    // Validate the file alone first, so its own mistakes are reported against it.
    const base = validate(scenarioSchema, scenarioRaw ?? {}, displayPath(scenarioFile));
    const name = base.name ?? path.basename(scenarioFile).replace(/\.ya?ml$/, '');
    const withOverrides = entry.overrides ? deepMerge(scenarioRaw ?? {}, entry.overrides) : (scenarioRaw ?? {});
    if (entry.overrides) validate(scenarioSchema, withOverrides, shown, ['runs', index, 'overrides']);
    const combos = entry.sweep ? combinations(entry.sweep) : [undefined];
    return combos.map((combo) => {
      let merged = withOverrides;
      if (combo) for (const [key, value] of Object.entries(combo)) merged = deepMerge(merged, setPath(key, value));
      const scenario = combo
        ? validate(scenarioSchema, merged, shown, ['runs', index, 'sweep'])
        : validate(scenarioSchema, merged, shown, ['runs', index, 'overrides']);
      return {
        entry: index,
        arms: entry.arms,
        repetitions: entry.repetitions,
        scenario: { ...scenario, name: scenario.name ?? name },
        sweep: combo,
        sweepLabel: sweepLabel(combo),
      };
    });
  });
  return { file, experiment, cells };
}
