/** The PostgreSQL connection pool and the one way this codebase runs a transaction. */
import { readFileSync } from 'node:fs';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { ConfigError } from '../config-error.js';

/** TLS to PostgreSQL with libpq's `sslmode` meanings: `verify-full` checks the chain and the host name. */
export interface DatabaseTls {
  readonly mode: 'require' | 'verify-ca' | 'verify-full';
  /** PEM file of the CA(s) to trust; the system's CAs when absent. */
  readonly caFile?: string;
}

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

/**
 * `timeouts` (the service passes its configured ones): a locked row or a stuck statement then ends with a transient
 * error (57014, 55P03) instead of holding the caller; HTTP answers 503 with Retry-After, consumers retry with
 * backoff. Migrations lift the bounds for themselves. Without `timeouts`, the server's settings apply.
 */
export function createPool(connectionString: string, max: number, tls?: DatabaseTls, timeouts?: PoolTimeouts): Pool {
  const bounds = timeouts === undefined ? {} : { statement_timeout: timeouts.statementMs, lock_timeout: timeouts.lockMs };
  const pool = new pg.Pool(
    tls === undefined
      ? { connectionString, max, connectionTimeoutMillis: 5_000, ...bounds }
      : { connectionString: withoutSslParameters(connectionString), max, connectionTimeoutMillis: 5_000, ssl: sslOptions(connectionString, tls), ...bounds },
  );
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

/**
 * Node TLS options with libpq's `sslmode` meanings. For verify-full the certificate is checked against the host named
 * in the connection string, as libpq does, also when that is an IP address (pg sets no `servername` for IPs; Node
 * would fall back to the socket's host, which is the same today: explicit here so it stays so). verify-ca checks the
 * chain only.
 */
export function sslOptions(connectionString: string, tls: DatabaseTls): ConnectionOptions {
  if (tls.mode === 'require') return { rejectUnauthorized: false };
  let ca: Buffer | undefined;
  if (tls.caFile !== undefined) {
    try {
      ca = readFileSync(tls.caFile);
    } catch (error) {
      throw new ConfigError([`DB_SSL_CA_FILE: cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'}) (got "${tls.caFile}")`]);
    }
  }
  const host = new URL(connectionString).hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    rejectUnauthorized: true,
    ...(ca === undefined ? {} : { ca }),
    checkServerIdentity: tls.mode === 'verify-full' ? (_name, cert) => checkServerIdentity(host, cert) : () => undefined,
  };
}

/** Our TLS settings replace the URL's: pg would otherwise let `sslmode`/`sslrootcert` in the URL override them. */
function withoutSslParameters(connectionString: string): string {
  const url = new URL(connectionString);
  for (const name of ['ssl', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslnegotiation']) url.searchParams.delete(name);
  return url.toString();
}
