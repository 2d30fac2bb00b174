import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'entry.ts');

describe('abortOnInterrupt', () => {
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`${name} aborts the command's signal with Interrupted (exit code 130), not the process`, async () => {
      // A command in its own process, as the CLI runs: it reports the abort and exits by itself.
      const script = [
        `const { abortOnInterrupt } = await import(${JSON.stringify(ENTRY)});`,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the child's own template literal
        'const signal = abortOnInterrupt((name) => `${name}: stopping\\n`);',
        "signal.addEventListener('abort', () => {",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the child's own template literal
        '  console.log(`aborted ${signal.reason.exitCode}`);',
        '  process.exit(0);',
        '});',
        "console.log('ready');",
        'setInterval(() => {}, 1000);',
      ].join('\n');
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
      });
      try {
        await new Promise<void>((resolve) => {
          child.stdout!.setEncoding('utf8').on('data', (c: string) => {
            stdout += c;
            if (stdout.includes('ready\n')) resolve();
          });
          void exited.then(() => resolve());
        });
        child.kill(name);
        expect(await exited).toEqual({ code: 0, signal: null });
        expect(stdout).toBe('ready\naborted 130\n');
        expect(stderr).toBe(`${name}: stopping\n`);
      } finally {
        child.kill('SIGKILL');
      }
    });
  }
});
