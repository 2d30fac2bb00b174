/**
 * Bundles faulty-app into one dependency-free ES module, so an app process starts with plain
 * `node <bundle>` (about 0.1 s) instead of compiling TypeScript through tsx at every start
 * (about 0.35 s): the local platform starts one process per pod, and start time is part of
 * what a rollout measures.
 *
 * As a script (used by the Dockerfile): node --import tsx faulty-app/build.ts <out.mjs>
 */
import { build } from 'esbuild';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const entryPoint = fileURLToPath(new URL('./src/server.ts', import.meta.url));

/** Writes the bundle to `outFile` (parent folders are created) and returns its absolute path. */
export async function buildApp(outFile: string): Promise<string> {
  const outfile = path.resolve(outFile);
  await build({
    entryPoints: [entryPoint],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Problems are thrown as the error's message; nothing is printed to the caller's terminal.
    logLevel: 'silent',
    legalComments: 'none',
  });
  return outfile;
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) {
  const outFile = process.argv[2];
  if (outFile === undefined || outFile === '') {
    process.stderr.write(
      'faulty-app/build.ts: no output file given; usage: node --import tsx faulty-app/build.ts <out.mjs>\n',
    );
    process.exitCode = 2;
  } else {
    buildApp(outFile).then(
      (written) => process.stdout.write(`${written}\n`),
      (err: unknown) => {
        process.stderr.write(`faulty-app/build.ts: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      },
    );
  }
}
