/**
 * Assembles the running service: the database (external, or embedded when none is configured), migrations, the use
 * cases and the HTTP listener; and takes it all down again, in reverse order, on shutdown.
 */
import { readFileSync } from 'node:fs';
import { buildApp } from './app.js';
import { authenticatorFor, decideAuth } from './platform/auth/authenticator.js';
import type { Config } from './config.js';
import { dependencyStates, type ComponentProbe, type HealthCheck } from './platform/http/health.routes.js';
import type { Logger } from './platform/logger.js';
import { isReachable } from './platform/postgres/database.js';
import { openDatabase } from './platform/postgres/open-database.js';
import { createMetrics } from './platform/metrics.js';
import { parkedCounts } from './platform/postgres/dead-letters.js';
import { pendingCounts } from './platform/postgres/outbox.js';
import { startTracing, type Tracing } from './platform/telemetry/index.js';
import { consoleRoutes } from './operations/console.routes.js';
import { flows, replayHandlersOf, schemaAdoptions } from './flows.js';
import type { Flow, RunningFlow } from './platform/flow.js';
import { createTeardown, orTearDown } from './platform/teardown.js';

export { openDatabase, type Database } from './platform/postgres/open-database.js';

export interface RunningService {
  readonly url: string;
  stop(): Promise<void>;
}

/** The package version, for the tracing resource (`src/` and `dist/` both sit beside package.json). */
export const SERVICE_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Registers the tracing SDK when `config.tracing` asks for it (a no-op otherwise); commands call it once at start. */
export async function startTelemetry(config: Config, logger: Logger): Promise<Tracing> {
  const tracing = await startTracing(config.tracing, { serviceVersion: SERVICE_VERSION });
  if (tracing.enabled) {
    logger.info({ exporter: config.tracing.exporter, protocol: config.tracing.otlpProtocol, url: config.tracing.otlpTracesUrl }, 'tracing enabled');
  }
  return tracing;
}

/** Runs the service with `serviceFlows` (every flow of `src/flows.ts` unless a test passes others). */
export async function startService(config: Config, logger: Logger, serviceFlows: readonly Flow<Config>[] = flows): Promise<RunningService> {
  // Before anything starts: refused (exit 2) when an external database would be served without authentication.
  const authDecision = decideAuth(config);
  const authenticator = authenticatorFor(config, authDecision);
  if (authDecision.enforced) {
    logger.info({ methods: authDecision.methods }, 'authentication required on the API');
  } else if (authDecision.reason === 'embedded-defaults') {
    logger.warn('authentication is off (embedded defaults: no database configured): the API is open to anyone who can reach this port');
  } else {
    logger.warn('authentication is off (AUTH_MODE=none): the API, including customer lookups, is open to anyone who can reach this port');
  }
  // Everything started registers its stop here: shutdown, and a start that fails half-way, stop it in reverse order.
  const teardown = createTeardown();
  const tracing = await startTelemetry(config, logger);
  teardown.defer(() => tracing.shutdown());
  const database = await orTearDown(teardown, () => openDatabase(config.database, logger, config.databaseTimeouts, schemaAdoptions));
  teardown.defer(() => database.close());
  let accepting = true;
  // Readiness is UP only while what the HTTP API needs answers (PostgreSQL, and what each flow adds: its read-model
  // store). Brokers and mirrors are background components: /health and dependency_up report them; an outage pauses
  // their consumers, not reads.
  const healthChecks: Record<string, HealthCheck> = { db: () => isReachable(database.pool) };
  const components: Record<string, ComponentProbe> = {};
  const metrics = createMetrics({
    database: { outboxBacklog: () => pendingCounts(database.pool), parkedDeadLetters: () => parkedCounts(database.pool), outboxDestinations: serviceFlows.flatMap((flow) => flow.outbox.map((declared) => declared.destination)) },
    dependencies: () => dependencyStates({ checks: healthChecks, components }),
    build: { version: SERVICE_VERSION, revision: config.buildRevision },
  });
  // Every flow (src/flows.ts) starts its stores, use cases and HTTP part now, its consumers once the listener is up.
  const services = { config, pool: database.pool, logger, metrics, teardown };
  const running: RunningFlow[] = [];
  for (const flow of serviceFlows) {
    const started = await orTearDown(teardown, () => flow.start(services));
    running.push(started);
    Object.assign(healthChecks, started.readiness);
    Object.assign(components, started.components);
  }
  const app = buildApp({
    flows: running.flatMap((flow) => (flow.http === undefined ? [] : [flow.http])),
    extraRoutes: [
      // The operator console; replays go through the same handlers as `dead-letters replay`.
      (api) =>
        consoleRoutes(api, {
          pool: database.pool,
          metrics,
          find: running.flatMap((flow) => (flow.find === undefined ? [] : [flow.find])),
          replay: replayHandlersOf({ config, pool: database.pool, logger, metrics }),
        }),
    ],
    logger,
    bodyLimitBytes: config.http.bodyLimitBytes,
    requestTimeoutMs: config.http.requestTimeoutMs,
    metrics,
    healthChecks,
    components,
    loadShedding: config.http.loadShedding,
    accepting: () => accepting,
    security: { authenticator, rateLimits: config.rateLimits },
  });
  const url = await orTearDown(teardown, () => app.listen({ host: config.http.host, port: config.http.port }));
  for (const flow of running) flow.startBackground?.();
  logger.info({ url }, 'customer-service is listening');

  return {
    url,
    // Graceful shutdown, in order; cli.ts bounds the whole of it by SHUTDOWN_TIMEOUT_MS.
    stop: async () => {
      // 1. Readiness answers 503 at once (Kubernetes' preStop sleep has already let endpoints drain).
      accepting = false;
      // 2. Stop taking work: the listener closes, requests in flight finish (their transactions commit), requests
      //    arriving on open connections meanwhile get 503 and write nothing.
      await app.close();
      // 3. Then everything else, in the reverse order of its start (the teardown stack): consumers (Kafka, NATS: they
      //    finish and acknowledge their current batch) and their outbox relays, which publish what they can before
      //    the deadline (whatever is left is published by the next instance); the projectors finish their batch;
      //    connections close last, once nothing uses them; buffered spans are exported (bounded).
      await teardown.run();
      logger.info('customer-service stopped');
    },
  };
}
