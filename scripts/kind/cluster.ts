/**
 * Entry point of `npm run cluster:up` / `cluster:down`:
 *   node --import tsx scripts/kind/cluster.ts up|down [--name NAME]
 * Everything is in src/cluster/kind.ts; this file only wires the process to it through the
 * commands' shared entry (src/cli/entry.ts): the first Ctrl-C stops the running step (its child
 * process is killed); a second exits at once.
 */
import { exitCodeOf, runAsEntry } from '../../src/cli/entry.ts';
import { runClusterCli } from '../../src/cluster/kind.ts';

await runAsEntry(
  import.meta.url,
  () => 'interrupted: stopping the current step (Ctrl-C again to exit at once)\n',
  (argv, signal) =>
    runClusterCli(argv, { stdout: process.stdout, stderr: process.stderr, signal }).catch((err) =>
      exitCodeOf(err, signal, process.stderr),
    ),
);
