/**
 * Entry point of `npm run cluster:up` / `cluster:down`:
 *   node --import tsx scripts/kind/cluster.ts up|down [--name NAME]
 * Everything is in src/cluster/kind.ts; this file only wires the process to it. The first Ctrl-C
 * stops the running step (its child process is killed); a second exits at once.
 */
import { runClusterCli } from '../../src/cluster/kind.ts';

const controller = new AbortController();
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts += 1;
  if (interrupts > 1) process.exit(130);
  process.stderr.write('interrupted: stopping the current step (Ctrl-C again to exit at once)\n');
  controller.abort(new Error('interrupted'));
});

try {
  process.exitCode = await runClusterCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    signal: controller.signal,
  });
} catch (err) {
  if (controller.signal.aborted) {
    process.exitCode = 130;
  } else {
    console.error(err);
    process.exitCode = 1;
  }
}
