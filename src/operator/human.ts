import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { isAbort, type Operator, type OperatorContext, type OperatorResult, watchedServices } from './types.ts';

/**
 * A real person at the terminal. The harness prints what was released and how to roll back;
 * the person watches (the router's metrics, or the dashboard on a cluster) and types `rollback`.
 */
export class HumanOperator implements Operator {
  readonly kind = 'human';
  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly instructions: () => string,
  ) {}

  describe(): Record<string, string | number> {
    return { kind: 'human', source: 'a person at the terminal typed the rollback' };
  }

  async watch(ctx: OperatorContext): Promise<OperatorResult> {
    this.output.write(`${this.instructions()}\nType "rollback" and Enter to roll back the canary.\n`);
    const lines = createInterface({ input: this.input, terminal: false });
    let external = false;
    try {
      const typed = await new Promise<number | undefined>((resolve, reject) => {
        const onAbort = () => reject(ctx.signal.reason);
        if (ctx.signal.aborted) return onAbort();
        ctx.signal.addEventListener('abort', onAbort, { once: true });
        // A person may also roll back outside the harness (helm rollback); the platform sees it.
        void ctx.externalRollback?.then((atMs) => {
          ctx.signal.removeEventListener('abort', onAbort);
          external = true;
          resolve(atMs);
        });
        lines.on('line', (line) => {
          if (/^\s*(rollback|r)\s*$/i.test(line)) {
            ctx.signal.removeEventListener('abort', onAbort);
            resolve(ctx.clock.now());
          } else {
            this.output.write('Type "rollback" to roll back; anything else is ignored.\n');
          }
        });
        // End of input: nobody will type; the run waits for its deadline.
        lines.once('close', () => undefined);
      });
      if (typed === undefined) return {};
      if (external) {
        // A real person's busy time is not modelled: the command is counted, its time is not.
        ctx.act(typed, 'helm-command', 0, 'helm rollback by a person (busy time not modelled)');
        ctx.note(typed, 'operator-rollback', 'rolled back outside the harness');
        return { detectMs: typed, mitigateMs: typed };
      }
      // In a release train (docs/design.md §13), "rollback" rolls back every service, one at a time.
      const services = watchedServices(ctx);
      for (const svc of services) {
        svc.act(typed, 'helm-command', 0, 'helm rollback by a person (busy time not modelled)');
        svc.note(typed, 'operator-rollback', 'typed at the terminal');
        await svc.rollback();
      }
      const detections = services.length > 1 ? services.map((svc) => ({ service: svc.index, atMs: typed })) : undefined;
      return { detectMs: typed, mitigateMs: typed, ...(detections ? { detections } : {}) };
    } catch (err) {
      if (isAbort(err, ctx.signal)) return {};
      throw err;
    } finally {
      lines.close();
    }
  }
}
