/** Opening the service's PostgreSQL: the configured one, or an embedded one when none is configured. */
import type { Logger } from '../logger.js';
import { createPool, type DatabaseTls, type Pool, type PoolTimeouts } from './database.js';
import { startEmbeddedPostgres } from './embedded.js';
import { migrate } from './migrate.js';
import { migrations } from './migrations/index.js';
import type { SchemaAdoption } from './schema-adoption.js';

/** The command store: an external PostgreSQL, or the embedded one `npm start` runs by default. */
export type DatabaseConfig =
  | { readonly kind: 'external'; readonly connectionString: string; readonly poolSize: number; readonly tls?: DatabaseTls }
  | {
      readonly kind: 'embedded';
      readonly dataDir: string;
      readonly port: number;
      readonly poolSize: number;
    };

export interface Database {
  readonly pool: Pool;
  readonly embedded: boolean;
  close(): Promise<void>;
}

/**
 * Connects to the configured PostgreSQL, or starts the embedded one; applies pending migrations either way, after
 * adopting the database when one of `adoptions` (the flows', `src/flows.ts`) recognises it.
 */
export async function openDatabase(
  config: DatabaseConfig,
  logger: Logger,
  timeouts?: PoolTimeouts,
  adoptions: readonly SchemaAdoption[] = [],
): Promise<Database> {
  let connectionString: string;
  let tls: DatabaseTls | undefined;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (config.kind === 'embedded') {
    logger.info({ dataDir: config.dataDir, port: config.port }, 'no database configured: starting embedded PostgreSQL');
    const embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      port: config.port,
      onLog: (message) => logger.debug({ postgres: message.trim() }, 'embedded postgres'),
      onStale: (message) => logger.warn(message),
    });
    connectionString = embedded.connectionString;
    stopEmbedded = () => embedded.stop();
  } else {
    connectionString = config.connectionString;
    tls = config.tls;
  }
  const pool = createPool(connectionString, config.poolSize, tls, timeouts);
  try {
    const report = await migrate(pool, migrations, adoptions);
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
