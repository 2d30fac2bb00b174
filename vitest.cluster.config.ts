import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster`: the local control-plane tier (real kube-apiserver, etcd, kwok, Flagger,
 * Prometheus). Needs `npm run tools:install`; without the tools the tests fail, naming that command.
 * One file at a time in a child process: each file starts its own control plane, and a clean
 * process exit (or SIGKILL) takes every started process down with it.
 */
export default defineConfig({
  test: {
    include: ['src/**/*.cluster.test.ts', 'scripts/**/*.cluster.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 600_000,
    hookTimeout: 180_000,
    env: { CANARY_MTTR_CLUSTER_TESTS: '1' },
  },
});
