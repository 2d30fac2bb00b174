import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../../faulty-app/build.ts';
import type { Endpoint } from '../../mesh/router.ts';
import { ProcessRegistry } from '../../process/registry.ts';
import { waitFor } from '../../test-support/cli.ts';
import { AppLauncher, type BuildSpec } from './app-process.ts';
import { ProcessDeployment, type ProcessDeploymentOptions } from './deployment.ts';

// The one Deployment played by real faulty-app processes, in both of its modes: the local
// platform's (a crashed pod stays down) and the mesh emulator's (kubelet's CrashLoopBackOff).
let workDir: string;
let registry: ProcessRegistry;
let launcher: AppLauncher;
const healthy: BuildSpec = { version: 'v1', fault: 'none', errorRate: 0, latencyMs: 0, onsetS: 0 };
// faulty-app in crash mode answers /readyz, then exits with code 1 300 ms after it started.
const crashing: BuildSpec = { version: 'v2', fault: 'crash', errorRate: 0, latencyMs: 0, onsetS: 0 };

beforeAll(async () => {
  workDir = mkdtempSync(path.join(tmpdir(), 'deployment-test-'));
  registry = new ProcessRegistry({ experiment: `deployment-test-${process.pid}` });
  launcher = new AppLauncher(registry, await buildApp(path.join(workDir, 'app.mjs')), 1);
});

afterAll(async () => {
  await registry[Symbol.asyncDispose]();
  rmSync(workDir, { recursive: true, force: true });
});

const deployments: ProcessDeployment[] = [];
afterEach(async () => {
  await Promise.all(deployments.splice(0).map((d) => d.stop()));
});

function deployment(extra: Partial<ProcessDeploymentOptions> = {}) {
  const published: Endpoint[][] = [];
  const d = new ProcessDeployment({
    label: 'app',
    launcher,
    publish: (e) => published.push(e),
    readyTimeoutMs: 15_000,
    ...extra,
  });
  deployments.push(d);
  return { d, published };
}

describe('ProcessDeployment', () => {
  it('rolls out: the new pod is published once ready, then the old one is stopped', async () => {
    const { d, published } = deployment();
    expect(await d.rollOut({ spec: healthy, seed: 1 })).toBe(true);
    const first = d.port!;
    expect(await d.rollOut({ spec: { ...healthy, version: 'v1.1' }, seed: 2 })).toBe(true);
    expect(d.port).not.toBe(first);
    expect(published).toEqual([[{ host: '127.0.0.1', port: first }], [{ host: '127.0.0.1', port: d.port }]]);
    await d.stop();
    expect(published.at(-1)).toEqual([]);
    expect(d.readiness()).toBe('absent');
  });

  it('without a back-off (local platform), a pod that never gets ready leaves the old one serving', async () => {
    const { d, published } = deployment();
    expect(await d.rollOut({ spec: healthy, seed: 1 })).toBe(true);
    const first = d.port;
    expect(await d.rollOut({ spec: crashing, seed: 2 })).toBe(false);
    expect(d.readiness()).toBe('failed');
    expect(d.port).toBe(first);
    expect(published).toEqual([[{ host: '127.0.0.1', port: first }]]);
    expect(d.restartsOf(undefined)).toBe(0);
  });

  it('with a back-off (mesh emulator), a pod that never gets ready replaces the old one and is restarted until stopped', async () => {
    let restarts = 0;
    const { d, published } = deployment({ crashLoop: { startMs: 50, maxMs: 100, onRestart: () => restarts++ } });
    expect(await d.rollOut({ spec: healthy, seed: 1, revision: 'r1' })).toBe(true);
    expect(d.servingRevision).toBe('r1');
    expect(d.rollOutInBackground({ spec: crashing, seed: 2, revision: 'r2' })).toBe(true);
    await waitFor(() => restarts >= 2, 30_000, 'two restarts');
    // The same revision again is the roll-out already under way, not a new one.
    expect(d.rollOutInBackground({ spec: crashing, seed: 2, revision: 'r2' })).toBe(false);
    expect(d.restartsOf('r2')).toBeGreaterThanOrEqual(2);
    expect(d.restartsOf('r1')).toBe(0);
    expect(d.servingRevision).toBeUndefined();
    expect(published.slice(1).every((e) => e.length === 0)).toBe(true);
    await d.stop();
    expect(d.isActive).toBe(false);
    expect(published.at(-1)).toEqual([]);
  });
});
