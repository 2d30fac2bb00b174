/**
 * The preflight against a PATH of fake tools. Test doubles: docker, kind, helm and kubectl cannot
 * all run here (no Docker engine), so each fake is a two-line shell script that prints what the
 * real tool prints for its version command (and, for docker, for `docker info`).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareVersions, formatPreflight, parseVersion, runPreflight } from './preflight.ts';
import { fakeTool as writeFakeTool, fakeToolsHome } from '../test-support/fake-tools.ts';

let dir: string;
let bin: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  // Only the fakes: no /usr/bin, and an empty tools cache, so a real helm cannot be picked up.
  ({ dir, bin, env } = fakeToolsHome('canary-mttr-preflight-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const fakeTool = (name: string, body: string, where = bin): string => writeFakeTool(where, name, body);

const fakes = {
  helm: () => fakeTool('helm', `echo 'v3.22.0+g5f2d3c1'`),
  kubectl: () =>
    fakeTool(
      'kubectl',
      `printf 'Client Version: v1.30.2\\nKustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\\n'`,
    ),
  kind: (v = 'v0.33.0') => fakeTool('kind', `echo 'kind ${v} go1.24.6 linux/amd64'`),
  docker: (info: 'up' | 'down' | 'hang' = 'up') =>
    fakeTool(
      'docker',
      [
        `if [ "$1" = "--version" ]; then echo 'Docker version 28.2.2, build e6534b4'; exit 0; fi`,
        info === 'up' ? `echo '28.2.2'` : '',
        info === 'down'
          ? `echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 1`
          : '',
        // exec: the sleep itself is the process the preflight kills on its timeout.
        info === 'hang' ? 'exec /bin/sleep 30' : '',
      ].join('\n'),
    ),
};

describe('runPreflight + formatPreflight', () => {
  it('lists docker and kind when the PATH lacks them, in one block, and finds the others', async () => {
    const helm = fakes.helm();
    const kubectl = fakes.kubectl();
    const report = await runPreflight({ env });
    expect(report.problems).toEqual([
      { tool: 'docker', kind: 'missing', searched: 'on PATH' },
      { tool: 'kind', kind: 'missing', searched: 'on PATH' },
    ]);
    expect(report.tools).toEqual({
      helm: { path: helm, version: '3.22.0' },
      kubectl: { path: kubectl, version: '1.30.2' },
    });
    expect(formatPreflight(report.problems)).toBe(
      [
        'npm run cluster:up cannot start: 2 prerequisites need attention',
        '  docker  missing: not found on PATH; need Docker 20.10.0 or newer with a running engine',
        '          get it: install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, then start it',
        '  kind    missing: not found on PATH; need kind 0.30.0 or newer',
        '          get it: go install sigs.k8s.io/kind@v0.33.0 (puts kind in $(go env GOPATH)/bin; put that on PATH), or a release binary: https://kind.sigs.k8s.io/docs/user/quick-start/#installation',
        'Then run npm run cluster:up again.',
      ].join('\n'),
    );
  });

  it('says when a tool is too old, unusable, or the docker engine does not answer', async () => {
    const docker = fakes.docker('down');
    const kind = fakes.kind('v0.17.0');
    fakes.helm();
    const kubectl = fakeTool('kubectl', `echo 'error: unknown flag: --client' >&2; exit 1`);
    const report = await runPreflight({ env });
    expect(formatPreflight(report.problems, 'npm run cluster:up')).toBe(
      [
        'npm run cluster:up cannot start: 3 prerequisites need attention',
        '  docker   not running: docker info failed: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
        '           get it: start the engine (sudo systemctl start docker, or open Docker Desktop) until docker info answers',
        `  kind     too old: 0.17.0 at ${kind}; need kind 0.30.0 or newer`,
        '           get it: go install sigs.k8s.io/kind@v0.33.0 (puts kind in $(go env GOPATH)/bin; put that on PATH), or a release binary: https://kind.sigs.k8s.io/docs/user/quick-start/#installation',
        `  kubectl  unusable: ${kubectl}: "kubectl version --client" exited with code 1 and printed "error: unknown flag: --client"; need kubectl 1.28.0 or newer`,
        '           get it: a release binary from https://kubernetes.io/docs/tasks/tools/#kubectl, or your package manager',
        'Then run npm run cluster:up again.',
      ].join('\n'),
    );
    expect(report.problems.map((p) => p.path)).toEqual([docker, kind, kubectl]);
  });

  it('reports nothing when all four are in place, with their paths for the commands to run', async () => {
    const paths = { docker: fakes.docker('up'), kind: fakes.kind(), helm: fakes.helm(), kubectl: fakes.kubectl() };
    const report = await runPreflight({ env });
    expect(report.problems).toEqual([]);
    expect(report.tools).toEqual({
      docker: { path: paths.docker, version: '28.2.2' },
      kind: { path: paths.kind, version: '0.33.0' },
      helm: { path: paths.helm, version: '3.22.0' },
      kubectl: { path: paths.kubectl, version: '1.30.2' },
    });
    expect(formatPreflight([])).toBe('npm run cluster:up: docker, kind, helm and kubectl are in place');
  });

  it('finds helm in the tools cache or CANARY_MTTR_HELM, and says where it looked when it is in neither', async () => {
    const toolsDir = path.join(dir, 'tools');
    const cached = fakeTool('helm', `echo 'v3.22.0'`, path.join(toolsDir, 'bin'));
    expect(
      (await runPreflight({ env: { ...env, CANARY_MTTR_TOOLS_DIR: toolsDir }, tools: ['helm'] })).tools.helm?.path,
    ).toBe(cached);

    const explicit = fakeTool('my-helm', `echo 'v3.14.4'`, path.join(dir, 'elsewhere'));
    const viaEnv = await runPreflight({
      env: { ...env, CANARY_MTTR_TOOLS_DIR: toolsDir, CANARY_MTTR_HELM: explicit },
      tools: ['helm'],
    });
    expect(viaEnv.tools.helm).toEqual({ path: explicit, version: '3.14.4' });

    const none = await runPreflight({ env, tools: ['helm'] });
    expect(formatPreflight(none.problems).split('\n').slice(1, 3)).toEqual([
      `  helm  missing: not found on PATH, in CANARY_MTTR_HELM or in ${path.join(dir, 'no-tools', 'bin')}; need Helm 3.12.0 or newer`,
      '        get it: npm run tools:install (builds the pinned helm into ~/.cache/canary-mttr/tools/bin, found there without a PATH change), or https://helm.sh/docs/intro/install/',
    ]);
  });

  it('gives up on a docker engine that does not answer, and kills the hung command', async () => {
    fakes.docker('hang');
    const started = Date.now();
    const report = await runPreflight({ env, tools: ['docker'], timeoutMs: 500 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(report.problems).toEqual([
      {
        tool: 'docker',
        kind: 'not-running',
        path: path.join(bin, 'docker'),
        detail: 'docker info failed: docker info --format {{.ServerVersion}} did not finish within 0.5 s',
      },
    ]);
  });

  it('checks only the tools asked for (cluster:down needs docker and kind)', async () => {
    fakes.docker('up');
    fakes.kind();
    const report = await runPreflight({ env, tools: ['kind', 'docker'] });
    expect(report.problems).toEqual([]);
    expect(Object.keys(report.tools)).toEqual(['docker', 'kind']);
  });
});

describe('parseVersion', () => {
  it.each([
    ['Docker version 28.2.2, build e6534b4', [28, 2, 2]],
    ['kind v0.33.0 go1.24.6 linux/amd64', [0, 33, 0]],
    ['v3.22.0+g5f2d3c1', [3, 22, 0]],
    ['Client Version: v1.32.4-dispatcher\nKustomize Version: v5.5.0', [1, 32, 4]],
    ['Client Version: version.Info{Major:"1", Minor:"27", GitVersion:"v1.27.3"}', [1, 27, 3]],
    ['podman version 4.9', [4, 9, 0]],
    ['no version here', undefined],
  ])('%j', (text, expected) => {
    expect(parseVersion(text)).toEqual(expected);
  });

  it('orders versions numerically', () => {
    expect(compareVersions([0, 30, 0], [0, 4, 9])).toBeGreaterThan(0);
    expect(compareVersions([1, 28, 0], [1, 28, 0])).toBe(0);
    expect(compareVersions([3, 9, 9], [3, 12, 0])).toBeLessThan(0);
  });
});
