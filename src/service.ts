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
import { findCompany } from './corporate-customers/company-store.js';
import { corporateCustomerRoutes, customerRegisteredIntake } from './corporate-customers/corporate-customers.http.js';
import { startCorporateNats, type CorporateNats } from './corporate-customers/corporate-nats.js';
import { createRegisterCorporateCustomer } from './corporate-customers/register-corporate-customer.js';
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
  const registerCustomers = createRegisterCustomers({
    metrics,
    pool: database.pool,
    numberPrefix: config.customers.numberPrefix,
    clock: () => new Date(),
    newId: () => uuidv7(),
  });
  // Corporate flow: HTTP always; JetStream consumer and relays when NATS is configured.
  const corporateWake = { customerSaved: createWakeSignal(), userSaved: createWakeSignal() };
  const registerCorporateCustomer = createRegisterCorporateCustomer({
    metrics,
    pool: database.pool,
    clock: () => new Date(),
    newId: () => uuidv7(),
    onCommitted: fanOut(corporateWake.customerSaved, corporateWake.userSaved),
  });
  let corporateNats: CorporateNats | undefined;
  if (config.nats !== undefined) {
    try {
      corporateNats = await startCorporateNats({
        config: config.nats,
        pool: database.pool,
        register: registerCorporateCustomer,
        logger,
        metrics,
        wake: corporateWake,
      });
    } catch (error) {
      await database.close();
      throw error;
    }
  }
  const app = buildApp({
    extraIntake: [customerRegisteredIntake(registerCorporateCustomer)],
    extraRoutes: [(api) => corporateCustomerRoutes(api, (id) => findCompany(database.pool, id))],
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
    await corporateNats?.stop();
    await database.close();
    throw error;
  }
  logger.info({ url }, 'customer-service is listening');
  return {
    url,
    stop: async () => {
      accepting = false;
      await app.close(); // stops accepting, lets in-flight requests finish
      await corporateNats?.stop();
      await database.close();
      logger.info('customer-service stopped');
    },
  };
}
