/**
 * Run as its own process (`node --import tsx test/support/log-in-span.ts`): enables the library instrumentations the
 * way `src/main.ts` does, starts tracing, then logs with the service's logger before, inside and after a span. Its
 * stdout is the log lines. (Inside vitest's module runner pino escapes the ESM hook, so this runs outside it.)
 */
import { instrumentLibraries } from '../../src/platform/telemetry/instrumentations.js';

await instrumentLibraries();
const { inSpan, startTracing } = await import('../../src/platform/telemetry/index.js');
const { loadConfig } = await import('../../src/config.js');
const { createLogger } = await import('../../src/platform/logger.js');
const tracing = await startTracing({ ...loadConfig({}).tracing, exporter: 'console' });
const logger = createLogger({ level: 'info', personalData: false });
logger.info('before');
await inSpan('traced_operation', {}, (span) => {
  logger.info({ spanId: span.spanContext().spanId, traceId: span.spanContext().traceId }, 'inside');
  logger.child({ part: 'child' }).warn('inside, from a child logger');
  return Promise.resolve();
});
logger.info('after');
await tracing.shutdown();
