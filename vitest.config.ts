import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'faulty-app/**/*.test.ts', 'scripts/**/*.test.ts'],
    // The bare tier: no tools cache, no k6, helm or Chromium. Tests that need installed tools run
    // as `npm run test:tools`, the control-plane tests as `npm run test:cluster`.
    exclude: [...configDefaults.exclude, '**/*.cluster.test.ts', '**/*.tools.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real processes and bind loopback ports; two cores
    // are all a CI machine has, so files run at most two at a time.
    maxWorkers: 2,
  },
});
