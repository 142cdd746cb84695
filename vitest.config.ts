import { configDefaults, defineConfig } from 'vitest/config';

// The leader-change test (issue 13) fails on an idle machine: a kafkajs client keeps reconnecting to the killed node
// until its retries run out (ECONNREFUSED). It runs with `npm run test:leader-change` until the client is replaced,
// not in `npm test`, so that a known client defect does not hide every other result.
const leaderChange = 'test/integration/kafka-leader-change.test.ts';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: process.env.KAFKA_LEADER_CHANGE === '1' ? configDefaults.exclude : [...configDefaults.exclude, leaderChange],
    // log-search: every log line of the run lands in test-results/logs/run-…; after the last file it is searched for
    // e-mail addresses in clear (issue 16). run-logs.setup: child processes' output goes there too.
    globalSetup: ['test/support/log-search.global-setup.ts', 'test/support/global-setup.ts', 'test/support/kafka-global-setup.ts'],
    setupFiles: ['test/support/run-logs.setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
