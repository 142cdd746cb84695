/** The PostgreSQL connection pool and the one way this codebase runs a transaction. */
import pg from 'pg';

export type Queryable = Pick<pg.PoolClient, 'query'>;
export type Pool = pg.Pool;
export type TransactionClient = pg.PoolClient;

// Timestamps and ids are handled as strings in the domain; keep bigint columns (positions, offsets) exact.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => value);
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);

/** Server-side bounds of each statement and lock wait; see `DATABASE_STATEMENT_TIMEOUT_MS` / `DATABASE_LOCK_TIMEOUT_MS`. */
export interface PoolTimeouts {
  readonly statementMs: number;
  readonly lockMs: number;
}

export const DEFAULT_POOL_TIMEOUTS: PoolTimeouts = { statementMs: 60_000, lockMs: 30_000 };

export function createPool(connectionString: string, max: number, timeouts: PoolTimeouts = DEFAULT_POOL_TIMEOUTS): Pool {
  // A locked row or a stuck statement ends with a transient error (57014, 55P03) instead of holding the caller: HTTP
  // answers 503 with Retry-After, consumers retry with backoff. Migrations and rebuilds lift the bounds for themselves.
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: 5_000,
    statement_timeout: timeouts.statementMs,
    lock_timeout: timeouts.lockMs,
  });
  // An idle client losing its connection (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  // Neither may a checked-out one: pg-pool listens for errors only while a client is idle, and a server FATAL
  // (pg_terminate_backend, a restart, a failover) on a client in a transaction or held by a relay emits 'error' with
  // no listener, which kills the process. The query in flight fails with the error (retried or answered 503 as a
  // transient failure), and the client, no longer queryable, is discarded when released.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

/**
 * Runs `work` in one transaction: COMMIT when it resolves, ROLLBACK when it throws (and rethrows). `first`, a
 * statement without parameters (values inlined with `escapeLiteral`), is sent together with BEGIN: one round trip
 * less for a transaction that always starts the same way (e.g. taking its locks).
 */
export async function withTransaction<T>(
  pool: Pool,
  work: (client: TransactionClient) => Promise<T>,
  options: { readonly first?: (client: TransactionClient) => string } = {},
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query(options.first === undefined ? 'BEGIN' : `BEGIN; ${options.first(client)}`);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** True when the database answers a trivial query within `timeoutMs`. */
export async function isReachable(pool: Pool, timeoutMs = 1_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([pool.query('SELECT 1').then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
