export {
  BuiltinLoadGenerator,
  DEFAULT_BODIES,
  type LiveStats,
  type LoadGenerator,
  type LoadOptions,
  type LoadSummary,
  type SendLagStats,
  type StartedLoad,
} from './builtin-generator.ts';
export { LoadError } from './errors.ts';
export { LagHistogram } from './lag-histogram.ts';
export { isFailure, type RequestRecord } from './types.ts';
