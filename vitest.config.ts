import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // log-search: every log line of the run lands in test-results/logs/run-…; after the last file it is searched for
    // e-mail addresses in clear (issue 16). run-logs.setup: child processes' output goes there too.
    globalSetup: ['test/support/log-search.global-setup.ts', 'test/support/global-setup.ts', 'test/support/kafka-global-setup.ts'],
    setupFiles: ['test/support/run-logs.setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
