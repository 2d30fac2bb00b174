import { defineConfig } from 'vitest/config';

/**
 * `npm run test:tools`: the tests that need installed tools: k6 and helm (`npm run tools:install`)
 * and Debian's Chromium (`apt-get install chromium`). A missing tool fails its tests with a message
 * naming how to install it; nothing here is skipped.
 */
export default defineConfig({
  test: {
    include: ['src/**/*.tools.test.ts', 'faulty-app/**/*.tools.test.ts', 'scripts/**/*.tools.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // k6 and the app processes it loads compete for the same two cores: one file at a time.
    fileParallelism: false,
    maxWorkers: 1,
  },
});
