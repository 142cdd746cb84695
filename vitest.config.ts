import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // log-search: every log line of the run lands in test-results/logs/run-…; after the last file it is searched for
    // e-mail addresses in clear (issue 16). run-logs.setup: child processes' output goes there too.
    globalSetup: ['test/support/log-search.global-setup.ts', 'test/support/global-setup.ts', 'test/support/kafka-global-setup.ts'],
    // child-coverage: only under `npm run test:coverage` (scripts/coverage.sh), children write their V8 coverage too.
    setupFiles: ['test/support/run-logs.setup.ts', 'test/support/child-coverage.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // `npm run test:coverage` (scripts/coverage.sh) adds the child processes' coverage to this in-process report.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/**/*.test.ts'],
      reporter: ['json'],
      reportsDirectory: 'coverage/in-process',
      // A failing test file must not throw away a 30-minute run's coverage: the report is written anyway, and
      // `npm run test:coverage` still exits non-zero (scripts/coverage.sh keeps vitest's status).
      reportOnFailure: true,
    },
  },
});
