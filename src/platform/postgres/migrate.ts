/**
 * Versioned schema migrations. Safe when several instances start at once: the runner holds a session-level advisory
 * lock while it applies, so the second instance waits and then finds nothing left to do. Each migration runs in its
 * own transaction together with its bookkeeping row.
 */
import { createHash } from 'node:crypto';
import type { Pool, Queryable } from './database.js';
import { inspectSchema, SchemaNotRecognisedError, type SchemaAdoption } from './schema-adoption.js';
import { migrations as allMigrations } from './migrations/index.js';
import type { Migration } from './migrations/migration.js';

export type { Migration } from './migrations/migration.js';

export interface MigrationReport {
  readonly applied: readonly string[];
  readonly current: number;
  /** Set when this run adopted the database of a service this one replaces: the adoption's plan (`schema-adoption.ts`). */
  readonly adopted?: unknown;
}

// Any constant works; this one reads "customer-service migrations".
const MIGRATION_LOCK_KEY = 7_419_200_001;

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** Applies what is missing of `migrations`, after adopting the database first when one of `adoptions` recognises it. */
export async function migrate(
  pool: Pool,
  migrations: readonly Migration[] = allMigrations,
  adoptions: readonly SchemaAdoption[] = [],
): Promise<MigrationReport> {
  const client = await pool.connect();
  try {
    // A migration may rebuild an index for minutes, and another instance waits for it: no pool bounds here.
    await client.query('SET statement_timeout = 0; SET lock_timeout = 0');
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      // A database that already holds tables of ours without our bookkeeping is either one a flow adopts (the ACME
      // service's), here in one transaction (it then counts as migrated to the adoption's version), or refused untouched.
      const layout = await inspectSchema(client, migrations, adoptions);
      if (layout.kind === 'unrecognised') throw new SchemaNotRecognisedError(layout.reasons);
      let adopted: unknown;
      if (layout.kind === 'adoptable') {
        const { adoption } = layout;
        await client.query('BEGIN');
        try {
          adopted = await adoption.plan(client, layout.tables);
          await adoption.adopt(client, adopted);
          await createBookkeeping(client);
          await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
            adoption.adoptedAs.version,
            adoption.adoptedAs.name,
            checksumOf(adoption.adoptedAs),
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      }
      await createBookkeeping(client);
      const { rows } = await client.query<{ version: number; checksum: string }>(
        'SELECT version, checksum FROM schema_migrations',
      );
      const done = new Map(rows.map((row) => [row.version, row.checksum]));
      const applied: string[] = [];
      for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
        const checksum = checksumOf(migration);
        const recorded = done.get(migration.version);
        if (recorded !== undefined) {
          if (recorded !== checksum) {
            throw new MigrationError(`migration ${migration.version} (${migration.name}) changed after it was applied`);
          }
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
            migration.version,
            migration.name,
            checksum,
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw new MigrationError(`migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`, {
            cause: error,
          });
        }
        applied.push(`${migration.version}-${migration.name}`);
      }
      const current = Math.max(0, ...migrations.map((migration) => migration.version));
      return { applied, current, ...(adopted === undefined ? {} : { adopted }) };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    // Discarded, not pooled: it runs without the pool's timeouts.
    client.release(true);
  }
}

function checksumOf(migration: Migration): string {
  return createHash('sha256').update(migration.sql).digest('hex');
}

async function createBookkeeping(client: Queryable): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW())`);
}
