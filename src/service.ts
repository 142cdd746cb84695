/**
 * Assembles the running service: the database (external, or embedded when none is configured), migrations, the use
 * cases and the HTTP listener; and takes it all down again, in reverse order, on shutdown.
 */
import { v7 as uuidv7 } from 'uuid';
import { buildApp } from './app.js';
import type { Config, DatabaseConfig } from './config.js';
import { findCustomer } from './individual-customers/customer-store.js';
import { createRegisterCustomers } from './individual-customers/register-customers.js';
import type { Logger } from './platform/logger.js';
import { createPool, isReachable, type Pool } from './platform/postgres/database.js';
import { startEmbeddedPostgres } from './platform/postgres/embedded.js';
import { createMetrics } from './platform/metrics.js';
import { migrate } from './platform/postgres/migrate.js';
import { startKafkaFlow, type KafkaFlow } from './individual-customers/kafka-flow.js';
import { startBacklogSampler } from './platform/postgres/outbox-backlog.js';
import { createWakeSignal } from './platform/wake-signal.js';

export interface Database {
  readonly pool: Pool;
  readonly embedded: boolean;
  close(): Promise<void>;
}

/** Connects to the configured PostgreSQL, or starts the embedded one; applies pending migrations either way. */
export async function openDatabase(config: DatabaseConfig, logger: Logger): Promise<Database> {
  let connectionString: string;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (config.kind === 'embedded') {
    logger.info({ dataDir: config.dataDir, port: config.port }, 'no database configured: starting embedded PostgreSQL');
    const embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      port: config.port,
      onLog: (message) => logger.debug({ postgres: message.trim() }, 'embedded postgres'),
    });
    connectionString = embedded.connectionString;
    stopEmbedded = () => embedded.stop();
  } else {
    connectionString = config.connectionString;
  }
  const pool = createPool(connectionString, config.poolSize);
  try {
    const report = await migrate(pool);
    if (report.applied.length > 0) logger.info({ applied: report.applied }, 'migrations applied');
  } catch (error) {
    await pool.end();
    await stopEmbedded?.();
    throw error;
  }
  return {
    pool,
    embedded: stopEmbedded !== undefined,
    close: async () => {
      await pool.end();
      await stopEmbedded?.();
    },
  };
}

export interface RunningService {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  const database = await openDatabase(config.database, logger);
  let accepting = true;
  const metrics = createMetrics();
  const relayWake = createWakeSignal();
  const registerCustomers = createRegisterCustomers({
    metrics,
    onCommitted: () => relayWake.notify(),
    pool: database.pool,
    numberPrefix: config.customers.numberPrefix,
    clock: () => new Date(),
    newId: () => uuidv7(),
  });
  const app = buildApp({
    logger,
    bodyLimitBytes: config.http.bodyLimitBytes,
    registerCustomers,
    metrics,
    findCustomer: (key) => findCustomer(database.pool, key),
    healthChecks: { db: () => isReachable(database.pool) },
    accepting: () => accepting,
  });
  let url: string;
  try {
    url = await app.listen({ host: config.http.host, port: config.http.port });
  } catch (error) {
    await database.close();
    throw error;
  }
  logger.info({ url }, 'customer-service is listening');

  // Kafka: consumer of identity.user.events and relay to customer.events, only when brokers are configured.
  const backlog = startBacklogSampler({ pool: database.pool, metrics, destinations: ['customer-events'] });
  let kafkaFlow: KafkaFlow | undefined;
  if (config.kafka.brokers.length > 0) {
    kafkaFlow = startKafkaFlow({
      config: config.kafka,
      pool: database.pool,
      register: registerCustomers,
      logger,
      metrics,
      relayWake,
      onPublished: () => void backlog.sample(),
    });
  } else {
    logger.info('KAFKA_BROKERS not set: the Kafka consumer and the customer.events relay are off');
  }
  return {
    url,
    stop: async () => {
      accepting = false;
      await app.close(); // stops accepting, lets in-flight requests finish
      await kafkaFlow?.stop();
      backlog.stop();
      await database.close();
      logger.info('customer-service stopped');
    },
  };
}
