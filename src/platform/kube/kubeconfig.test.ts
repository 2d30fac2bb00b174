import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test-support/cli.ts';
import { loadKubeConfig, redact, secretsOf } from './kubeconfig.ts';

const TOKEN = 'cmttr-secret-token-5f3a9c1e7b2d4a6f8e0c';
const PASSWORD = 'hunter2-is-not-a-password';
let dir: string;
let kubeconfig: string;
let port: number;

function kubeconfigYaml(server: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'current-context: lab',
    'clusters:',
    `- name: lab-cluster\n  cluster:\n    server: ${server}\n    insecure-skip-tls-verify: true`,
    'contexts:',
    '- name: lab\n  context:\n    cluster: lab-cluster\n    user: lab-user',
    '- name: other\n  context:\n    cluster: lab-cluster\n    user: basic-user',
    'users:',
    `- name: lab-user\n  user:\n    token: ${TOKEN}`,
    `- name: basic-user\n  user:\n    username: admin\n    password: ${PASSWORD}`,
  ].join('\n');
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kubeconfig-'));
  // A port nobody listens on: bind, note it, close.
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(`https://127.0.0.1:${port}`));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kubeconfig credentials never reach a message', () => {
  it('finds every credential and redacts it, bearer headers included', () => {
    const kc = loadKubeConfig({ kubeconfig });
    const secrets = secretsOf(kc);
    expect(secrets).toContain(TOKEN);
    expect(secrets).toContain(PASSWORD);
    const text = `GET failed: Authorization: Bearer ${TOKEN}; basic ${PASSWORD}; Bearer abc.def`;
    const clean = redact(text, secrets);
    expect(clean).not.toContain(TOKEN);
    expect(clean).not.toContain(PASSWORD);
    expect(clean).not.toContain('abc.def');
    expect(clean).toBe('GET failed: Authorization: Bearer [redacted]; basic [redacted]; Bearer [redacted]');
  });

  it('an unreachable cluster: one line naming context and server, exit 1, no token anywhere', async () => {
    const out = path.join(dir, 'out-unreachable');
    const r = await runCli([
      'experiment',
      '--platform',
      'kube',
      '--kubeconfig',
      kubeconfig,
      '--experiment',
      'experiments/quick-kube.yaml',
      '--out',
      out,
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `kube: cannot reach the cluster of context "lab" at https://127.0.0.1:${port} (ECONNREFUSED); check --kubeconfig and --context, and that the cluster is running\n`,
    );
    expect(r.stderr + r.stdout).not.toContain(TOKEN);
  });

  it('an unknown context is named with the contexts there are', async () => {
    const r = await runCli([
      'experiment',
      '--platform',
      'kube',
      '--kubeconfig',
      kubeconfig,
      '--context',
      'prod',
      '--experiment',
      'experiments/quick-kube.yaml',
      '--out',
      path.join(dir, 'o2'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`--context: "prod" is not a context of ${kubeconfig}; contexts: lab, other\n`);
  });

  it('a kubeconfig that is not one: one line, and none of its content', async () => {
    const broken = path.join(dir, 'broken');
    writeFileSync(broken, `apiVersion: v1\nusers:\n- name: x\n  user: {token: ${TOKEN}\n`);
    const r = await runCli([
      'experiment',
      '--platform',
      'kube',
      '--kubeconfig',
      broken,
      '--experiment',
      'experiments/quick-kube.yaml',
      '--out',
      path.join(dir, 'o3'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`--kubeconfig: ${broken} is not a valid kubeconfig; check the file\n`);
    expect(r.stderr).not.toContain(TOKEN);
  });

  it('a compressed plan is refused on a cluster before anything is contacted', async () => {
    const r = await runCli([
      'experiment',
      '--platform',
      'kube',
      '--kubeconfig',
      kubeconfig,
      '--out',
      path.join(dir, 'o4'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^experiments\/quick\.yaml: timeScale: 10 cannot apply on --platform kube \(a cluster runs in real time\)/,
    );
  });
});
