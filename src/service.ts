/**
 * Assembles the running service: the database (external, or embedded when none is configured), migrations, the use
 * cases and the HTTP listener; and takes it all down again, in reverse order, on shutdown.
 */
import { readFileSync } from 'node:fs';
import { v7 as uuidv7 } from 'uuid';
import { buildApp } from './app.js';
import { authenticatorFor, decideAuth } from './platform/auth/authenticator.js';
import type { Config } from './config.js';
import { customerProjection } from './individual-customers/customer-read-model.js';
import { openCustomerReadModel } from './individual-customers/open-read-model.js';
import { createRegisterCustomers } from './individual-customers/register-customers.js';
import { createActivateCustomers } from './individual-customers/activate-customers.js';
import { dependencyStates, type ComponentProbe, type HealthCheck } from './platform/http/health.routes.js';
import { startInBackground } from './platform/background-start.js';
import { withoutUserinfo, type Logger } from './platform/logger.js';
import { isReachable } from './platform/postgres/database.js';
import { openDatabase } from './platform/postgres/open-database.js';
import { createMetrics } from './platform/metrics.js';
import { parkedCounts } from './platform/postgres/dead-letters.js';
import { startKafkaFlow } from './individual-customers/kafka-flow.js';
import { createWakeSignal, fanOut } from './platform/wake-signal.js';
import { pendingCounts } from './platform/postgres/outbox.js';
import { createProjector } from './platform/postgres/projector.js';
import { startTracing, type Tracing } from './platform/telemetry/index.js';
import { findCompany } from './corporate-customers/company-store.js';
import { corporateCustomerRoutes, customerRegisteredIntake } from './corporate-customers/corporate-customers.http.js';
import { startCorporateNats } from './corporate-customers/corporate-nats.js';
import { KNAPSCEN_MIRROR_PROJECTION, knapscenViolations, openKnapscenMirror } from './corporate-customers/knapscen-mirror.js';
import { createRegisterCorporateCustomer } from './corporate-customers/register-corporate-customer.js';
import { consoleRoutes } from './operations/console.routes.js';
import { outboxDestinations, replayHandlersOf } from './flows.js';
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

export async function startService(config: Config, logger: Logger): Promise<RunningService> {
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
  const database = await orTearDown(teardown, () => openDatabase(config.database, logger, config.databaseTimeouts));
  teardown.defer(() => database.close());
  let accepting = true;
  // Readiness is UP only while what the HTTP API needs answers (PostgreSQL, the read-model store). Brokers and mirrors
  // are background components: /health and dependency_up report them; an outage pauses their consumers, not reads.
  const healthChecks: Record<string, HealthCheck> = { db: () => isReachable(database.pool) };
  const components: Record<string, ComponentProbe> = {};
  const metrics = createMetrics({
    database: { outboxBacklog: () => pendingCounts(database.pool), parkedDeadLetters: () => parkedCounts(database.pool), outboxDestinations },
    dependencies: () => dependencyStates({ checks: healthChecks, components }),
    build: { version: SERVICE_VERSION, revision: config.buildRevision },
  });
  // Read model: documents projected from the event store; the projector is woken by every local commit.
  const readModel = await orTearDown(teardown, () => openCustomerReadModel(config.readModel, database.pool));
  teardown.defer(() => readModel.close());
  const projectorWake = createWakeSignal();
  const projector = createProjector({
    pool: database.pool,
    projection: customerProjection(readModel),
    wake: projectorWake,
    logger,
    metrics,
    batchSize: config.readModel.batchSize,
    pollIntervalMs: config.readModel.pollIntervalMs,
  });
  if (readModel.ping !== undefined) {
    // The read model's own store (MongoDB) answers a ping: readiness is DOWN while it does not.
    healthChecks.read_model = readModel.ping.bind(readModel);
  }
  const relayWake = createWakeSignal();
  const registerCustomers = createRegisterCustomers({
    metrics,
    logger,
    onCommitted: fanOut(projectorWake, relayWake),
    pool: database.pool,
    numberPrefix: config.customers.numberPrefix,
    clock: () => new Date(),
    newId: () => uuidv7(),
  });
  const activateCustomers = createActivateCustomers({
    metrics,
    logger,
    onCommitted: fanOut(projectorWake, relayWake),
    pool: database.pool,
    clock: () => new Date(),
    newId: () => uuidv7(),
  });
  // Corporate flow: HTTP always; JetStream consumer and relays when NATS is configured.
  const corporateWake = { customerSaved: createWakeSignal(), userSaved: createWakeSignal() };
  // knapscen's MySQL mirror (KNAPSCEN_MYSQL_URL): a projection of its own, woken by corporate commits.
  const mirrorWake = createWakeSignal();
  const knapscenMirror = config.knapscenMirror === undefined ? undefined : openKnapscenMirror(config.knapscenMirror.mysqlUrl, logger);
  if (knapscenMirror !== undefined) teardown.defer(() => knapscenMirror.close());
  const mirrorProjector =
    knapscenMirror === undefined
      ? undefined
      : createProjector({
          pool: database.pool,
          projection: knapscenMirror.projection,
          wake: mirrorWake,
          logger,
          metrics,
          batchSize: config.readModel.batchSize,
          pollIntervalMs: config.readModel.pollIntervalMs,
        });
  // Projectors stop (finishing their batch) before the stores they write to close.
  if (mirrorProjector !== undefined) teardown.defer(() => mirrorProjector.stop());
  teardown.defer(() => projector.stop());
  if (knapscenMirror !== undefined) {
    // A background component like the brokers: MySQL down pauses the mirror (its projector retries), not reads.
    // The details never show the URL (it holds knapscen's password).
    components.mirror = async () => {
      try {
        await knapscenMirror.isReachable();
        return { status: 'UP' };
      } catch (error) {
        return { status: 'DOWN', details: { projection: KNAPSCEN_MIRROR_PROJECTION, error: withoutUserinfo(error instanceof Error ? error.message : String(error)) } };
      }
    };
  }
  const registerCorporateCustomer = createRegisterCorporateCustomer({
    metrics,
    logger,
    publishEmails: config.corporate.publishEmails,
    pool: database.pool,
    clock: () => new Date(),
    newId: () => uuidv7(),
    onCommitted: fanOut(corporateWake.customerSaved, corporateWake.userSaved, mirrorWake),
    ...(knapscenMirror === undefined ? {} : { extraChecks: (company) => knapscenViolations(company) }),
  });
  // A NATS server unreachable at start does not stop the service: it connects in the background (Job mode, which
  // has its own connection, still exits 1 so that its Job is retried).
  if (config.nats !== undefined) {
    const natsConfig = config.nats;
    const nats = await startInBackground({
      name: 'nats',
      logger,
      start: () =>
        startCorporateNats({ config: natsConfig, pool: database.pool, register: registerCorporateCustomer, logger, metrics, wake: corporateWake }),
    });
    teardown.defer(() => nats.stop());
    // Once connected, a PING/PONG round trip; while the client reconnects it does not answer, and the probe's timeout says DOWN.
    components.nats = async () => {
      const started = nats.current();
      if (started === undefined) return nats.status();
      await started.connection.flush();
      return { status: 'UP' };
    };
  }
  const app = buildApp({
    extraIntake: [customerRegisteredIntake(registerCorporateCustomer)],
    extraRoutes: [
      (api) => corporateCustomerRoutes(api, (id) => findCompany(database.pool, id)),
      // The operator console; replays go through the same handlers as `dead-letters replay`.
      (api) =>
        consoleRoutes(api, { pool: database.pool, metrics, findCustomer: (key) => readModel.find(key), replay: replayHandlersOf({ config, pool: database.pool, logger, metrics }) }),
    ],
    logger,
    bodyLimitBytes: config.http.bodyLimitBytes,
    requestTimeoutMs: config.http.requestTimeoutMs,
    registerCustomers,
    activateCustomers,
    metrics,
    findCustomer: (key) => readModel.find(key),
    healthChecks,
    components,
    loadShedding: config.http.loadShedding,
    accepting: () => accepting,
    security: { authenticator, rateLimits: config.rateLimits },
  });
  const url = await orTearDown(teardown, () => app.listen({ host: config.http.host, port: config.http.port }));
  projector.start();
  mirrorProjector?.start();
  logger.info({ url }, 'customer-service is listening');

  // Kafka: consumer of identity.user.events and relay to customer.events, only when brokers are configured.
  if (config.kafka.brokers.length > 0) {
    const flow = startKafkaFlow({
      config: config.kafka,
      pool: database.pool,
      register: registerCustomers,
      activate: activateCustomers,
      logger,
      metrics,
      relayWake,
    });
    teardown.defer(() => flow.stop());
    logger.info({ brokers: config.kafka.brokers }, 'Kafka consumer and relay connect in the background: readiness does not wait for the broker');
    components.kafka = async () => ((await flow.isReachable()) ? { status: 'UP' } : { status: 'DOWN', details: { brokers: config.kafka.brokers } });
  } else {
    logger.info('KAFKA_BROKERS not set: the Kafka consumer and the customer.events relay are off');
  }
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
