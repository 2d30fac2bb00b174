/** One release of the fidelity scenario, on the real Flagger or on the model. Times are seconds after the release. */
export interface FidelityRun {
  rep: number;
  /** Namespace (real Flagger) or run id (model). */
  id: string;
  /** `New revision detected! …`: the first tick after the release (its phase `a` in docs/design.md §5). */
  newRevisionS?: number;
  /** First failed check: `Halt … advancement …` (or failedChecks ≥ 1). */
  detectS?: number;
  /** `Rolling back … failed checks threshold reached N` (or phase Failed). */
  rollbackS?: number;
  /** Text of the first Halt event. */
  detectMessage?: string;
  outcome: 'rolled_back' | 'promoted' | 'neither';
  failedRequests: number;
  totalRequests: number;
  /**
   * Real side: p99 latency (real ms) of the stable build's answers after the release, and the
   * requests that timed out or found no connection. A healthy stable build answers in a few ms;
   * slower means the machine, not the build, was slow (table.ts `overloaded`). Not measured on the model.
   */
  stableP99Ms?: number;
  timeouts?: number;
  /**
   * Real side: the longest stall of the harness's event loop during the release, wall ms. That
   * loop sends the load and runs the mesh emulator's routers and the service proxy, so a slow
   * stable build with a short stall here was slowed outside this process.
   */
  loopLagMaxMs?: number;
}
