/**
 * Assembles the running service: the database (external, or embedded when none is configured), migrations, the use
 * cases and the HTTP listener; and takes it all down again, in reverse order, on shutdown.
 */
import { v7 as uuidv7 } from 'uuid';
import { buildApp } from './app.js';
import type { Config, DatabaseConfig } from './config.js';
import { customerProjection } from './individual-customers/customer-read-model.js';
import { openCustomerReadModel } from './individual-customers/open-read-model.js';
import { createRegisterCustomers } from './individual-customers/register-customers.js';
import type { Logger } from './platform/logger.js';
import { createPool, isReachable, type Pool } from './platform/postgres/database.js';
import { startEmbeddedPostgres } from './platform/postgres/embedded.js';
import { createMetrics } from './platform/metrics.js';
import { migrate } from './platform/postgres/migrate.js';
import { createProjector } from './platform/postgres/projector.js';
import { createWakeSignal, fanOut } from './platform/wake-signal.js';

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
  // Read model: documents projected from the event store; the projector is woken by every local commit.
  const readModel = await openCustomerReadModel(config.readModel, database.pool).catch(async (error: unknown) => {
    await database.close();
    throw error;
  });
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
  const registerCustomers = createRegisterCustomers({
    onCommitted: fanOut(projectorWake),
    metrics,
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
    findCustomer: (key) => readModel.find(key),
    healthChecks: { db: () => isReachable(database.pool) },
    accepting: () => accepting,
  });
  let url: string;
  try {
    url = await app.listen({ host: config.http.host, port: config.http.port });
  } catch (error) {
    await readModel.close();
    await database.close();
    throw error;
  }
  projector.start();
  logger.info({ url }, 'customer-service is listening');
  return {
    url,
    stop: async () => {
      accepting = false;
      await app.close(); // stops accepting, lets in-flight requests finish
      await projector.stop();
      await readModel.close();
      await database.close();
      logger.info('customer-service stopped');
    },
  };
}
