/**
 * The one lookup of an outside program (k6, helm, wrk, …): an explicit CANARY_MTTR_<NAME> path,
 * then PATH, then the tools cache `npm run tools:install` (scripts/tools/install.sh) fills. The
 * cache is found without sourcing its tools.env, so tests and a fresh shell see the same tools.
 */
import { accessSync, constants, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The tools cache: CANARY_MTTR_TOOLS_DIR, else ~/.cache/canary-mttr/tools. */
export function toolsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CANARY_MTTR_TOOLS_DIR ?? path.join(env.HOME ?? os.homedir(), '.cache', 'canary-mttr', 'tools');
}

export function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of `name` on `env.PATH` (or `name` itself when it is a path), or undefined. */
export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (name.includes('/')) return isExecutableFile(name) ? path.resolve(name) : undefined;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    // An empty PATH entry means the current directory to a shell; a tool found there by accident
    // is not one the user installed, so empty entries are skipped.
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return path.resolve(candidate);
  }
  return undefined;
}

/** The variable that names a tool's path explicitly: CANARY_MTTR_K6 for k6. */
export function toolVariable(name: string): string {
  return `CANARY_MTTR_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * Path of the tool `name`: `CANARY_MTTR_<NAME>` when it names an executable file, then PATH, then
 * `<tools cache>/bin/<name>`. Undefined when none is an executable file.
 */
export function findTool(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env[toolVariable(name)];
  if (explicit) {
    const found = findExecutable(explicit, env);
    if (found) return found;
  }
  return findExecutable(name, env) ?? findExecutable(path.join(toolsCacheDir(env), 'bin', name), env);
}

/** Where findTool looked, for a "not found" line: it names the variable's value when it was set. */
export function toolSearchPlaces(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const variable = toolVariable(name);
  const explicit = env[variable] ? `${variable}=${env[variable]} is not an executable file; ` : '';
  return `${explicit}not on PATH nor in ${path.join(toolsCacheDir(env), 'bin')}`;
}
