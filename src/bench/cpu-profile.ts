/**
 * Reads a V8 CPU profile (`node --cpu-prof`, a .cpuprofile file) and names where the time went:
 * self time per function and per script, and the shares of idle, GC and native "(program)" time.
 * The benchmark writes these into results.json for every missed target, so the explanation of a
 * miss is a measurement, not a guess.
 */

/** The parts of the .cpuprofile format (Chrome DevTools Protocol Profiler.Profile) read here. */
export interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
    hitCount?: number;
    children?: number[];
  }>;
  startTime: number;
  endTime: number;
  /** Node id of each sample, in order. */
  samples?: number[];
  /** Microseconds since the previous sample (the first since startTime). */
  timeDeltas?: number[];
}

export interface ProfileEntry {
  /** `functionName (file:line)`, or a V8 pseudo-node such as `(garbage collector)`. */
  name: string;
  selfMs: number;
  /** Share of the busy (non-idle) time. */
  busyShare: number;
}

export interface ProfileSummary {
  /** Profiled wall time. */
  totalMs: number;
  /** Share of the profiled time the thread was idle (waiting in the event loop). */
  idleShare: number;
  /** Share of busy time in the garbage collector. */
  gcShare: number;
  /** Share of busy time in native code V8 does not attribute to a JS function ("(program)"). */
  programShare: number;
  topFunctions: ProfileEntry[];
  /** Self time grouped by script (node:internal modules, project files, dependencies). */
  topScripts: ProfileEntry[];
}

const IDLE = '(idle)';
const GC = '(garbage collector)';
const PROGRAM = '(program)';

/** Shortens a script URL to what a reader recognises: `node:_http_client`, `src/load/x.ts`. */
export function shortScript(url: string): string {
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return url;
  const withoutScheme = url.replace(/^file:\/\//, '');
  const nm = withoutScheme.lastIndexOf('/node_modules/');
  if (nm >= 0) return withoutScheme.slice(nm + '/node_modules/'.length);
  const marker = ['/src/', '/bench/', '/faulty-app/']
    .map((m) => withoutScheme.lastIndexOf(m))
    .reduce((a, b) => Math.max(a, b), -1);
  if (marker >= 0) return withoutScheme.slice(marker + 1);
  return withoutScheme.replace(/^.*\//, '');
}

export function summarizeCpuProfile(profile: CpuProfile, top = 8): ProfileSummary {
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0 && deltas.length === samples.length) {
    // A sample's delta is the time since the previous one: it belongs to the previous sample.
    for (let i = 0; i < samples.length; i++) {
      const us = deltas[i + 1] ?? (profile.endTime - profile.startTime) / samples.length;
      selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, us));
    }
  } else {
    const totalHits = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
    const usPerHit = totalHits > 0 ? (profile.endTime - profile.startTime) / totalHits : 0;
    for (const node of profile.nodes) selfUs.set(node.id, (node.hitCount ?? 0) * usPerHit);
  }
  const byFunction = new Map<string, number>();
  const byScript = new Map<string, number>();
  let idleUs = 0;
  let gcUs = 0;
  let programUs = 0;
  let totalUs = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === IDLE) {
      idleUs += us;
      continue;
    }
    if (functionName === GC) gcUs += us;
    if (functionName === PROGRAM) programUs += us;
    const script = shortScript(url);
    const name =
      url === '' ? functionName || '(anonymous)' : `${functionName || '(anonymous)'} (${script}:${lineNumber + 1})`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const scriptKey = url === '' ? functionName || '(native)' : script;
    byScript.set(scriptKey, (byScript.get(scriptKey) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const rank = (map: Map<string, number>): ProfileEntry[] =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: round(us / 1000), busyShare: busyUs > 0 ? round(us / busyUs, 3) : 0 }));
  return {
    totalMs: round(totalUs / 1000),
    idleShare: totalUs > 0 ? round(idleUs / totalUs, 3) : 0,
    gcShare: busyUs > 0 ? round(gcUs / busyUs, 3) : 0,
    programShare: busyUs > 0 ? round(programUs / busyUs, 3) : 0,
    topFunctions: rank(byFunction),
    topScripts: rank(byScript),
  };
}

/** One line for a results note: busy share, then the heaviest scripts and functions. */
export function describeProfile(label: string, s: ProfileSummary, count = 4): string {
  const pct = (v: number) => `${(v * 100).toFixed(0)}%`;
  const scripts = s.topScripts
    .slice(0, count)
    .map((e) => `${e.name} ${pct(e.busyShare)}`)
    .join(', ');
  const functions = s.topFunctions
    .slice(0, count)
    .map((e) => `${e.name} ${pct(e.busyShare)}`)
    .join(', ');
  return (
    `${label}: busy ${pct(1 - s.idleShare)} of ${(s.totalMs / 1000).toFixed(1)} s (GC ${pct(s.gcShare)} of busy); ` +
    `by script: ${scripts}; by function: ${functions}`
  );
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
