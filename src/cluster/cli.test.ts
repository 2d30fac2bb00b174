import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main, readyText } from './cli.ts';
import type { ClusterState } from '../kube/cluster-state.ts';
import { resolveTools } from './tools.ts';
import { sink } from '../test-support/sink.ts';

async function run(argv: string[], env: NodeJS.ProcessEnv = process.env) {
  const out = sink();
  const err = sink();
  const code = await main(argv, { stdout: out.stream, stderr: err.stream, env, signal: new AbortController().signal });
  return { code, stdout: out.text(), stderr: err.text() };
}

describe('cluster CLI (src/cluster/cli.ts): errors a user sees', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('an unknown provider, option or command is one line and exit code 2', async () => {
    expect(await run(['up', '--provider', 'minikube'])).toEqual({
      code: 2,
      stdout: '',
      stderr: '--provider: "minikube" is not a provider; use one of local, kind\n',
    });
    expect(await run(['up', '--provider', 'local', '--statedir', '/tmp/x'])).toEqual({
      code: 2,
      stdout: '',
      stderr: '--statedir: unknown option of --provider local; see --help\n',
    });
    expect(await run(['sideways', '--provider', 'local'])).toEqual({
      code: 2,
      stdout: '',
      stderr: '"sideways" is not a command; use up or down (see --help)\n',
    });
    expect(await run(['up', '--provider', 'local', '--timeout', '5'])).toEqual({
      code: 2,
      stdout: '',
      stderr: '--timeout: "5" is not a number of seconds from 10 to 3600\n',
    });
    expect(await run(['up', '--provider', 'kind', '--state-dir', '/tmp/x'])).toEqual({
      code: 2,
      stdout: '',
      stderr: '--state-dir: an option of --provider local, not of kind\n',
    });
    expect(await run(['up', '--provider', 'local', 'now'])).toEqual({
      code: 2,
      stdout: '',
      stderr: '"now": unexpected argument; options start with --, see --help\n',
    });
  });

  it('up --provider local without the tools says to run tools:install, exit code 1', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'canary-mttr-notools-'));
    dirs.push(empty);
    const env = { PATH: process.env.PATH, HOME: empty, CANARY_MTTR_TOOLS_DIR: empty };
    const result = await run(['up', '--provider', 'local', '--state-dir', path.join(empty, 'state')], env);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `local cluster: etcd not found at ${empty}/bin/etcd; run npm run tools:install first (or set CANARY_MTTR_ETCD)\n`,
    });
    expect(() => resolveTools(env)).toThrow(/run npm run tools:install first/);
  });

  it('down with no cluster in the state dir has nothing to do', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'canary-mttr-nocluster-'));
    dirs.push(dir);
    expect(await run(['down', '--provider', 'local', '--state-dir', dir])).toEqual({
      code: 0,
      stdout: `No local cluster in ${dir}; nothing to stop.\n`,
      stderr: '',
    });
  });
});

describe('cluster CLI: what `up` prints when ready', () => {
  const state: ClusterState = {
    version: 1,
    provider: 'local',
    name: 'cluster-abc',
    stateDir: '/state',
    status: 'ready',
    ownerPid: 1,
    ownerKind: 'supervisor',
    startedAt: '2026-12-01T00:00:00Z',
    kubeconfig: '/state/kubeconfig',
    ports: {},
    processes: [],
    routers: [],
  };

  it("names the loadtester's Service when the cluster runs one, and only then", () => {
    expect(readyText({ ...state, loadtesterNamespace: 'canary-mttr' }, true)).toContain(
      '  Loadtester    flagger-loadtester.canary-mttr (the smoke-test webhook',
    );
    expect(readyText(state, true)).not.toContain('Loadtester');
  });
});
