/**
 * A migration that fails half-way leaves nothing behind: its transaction is rolled back with its bookkeeping row, the
 * error names it, the migration lock is released (the next start is not stuck behind it), and once it is fixed the next
 * run applies it. Edited and concurrent migrations are `migrations.test.ts`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MigrationError } from '../../src/platform/postgres/migrate.js';
import { migrations } from '../../src/platform/postgres/migrations/index.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
});
afterAll(() => db.drop());

const version = Math.max(...migrations.map((migration) => migration.version)) + 1;
const broken = { version, name: 'broken', sql: 'CREATE TABLE half_done (id INTEGER); SELECT 1 / 0;' };
const tableExists = async (name: string) => (await db.rows('SELECT 1 FROM information_schema.tables WHERE table_name = $1', [name])).length === 1;

describe('a migration that fails', () => {
  it('is rolled back whole and named in the error; the ones before it stay applied', async () => {
    const failure = await migrate(db.pool, [...migrations, broken]).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(MigrationError);
    expect((failure as Error).message).toBe(`migration ${version} (broken) failed: division by zero`);
    expect(await tableExists('half_done')).toBe(false);
    const recorded = await db.rows<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(recorded.map((row) => row.version)).toEqual(migrations.map((migration) => migration.version));
  });

  it('does not keep the migration lock: the next run, with the migration fixed, applies just it', async () => {
    const fixed = { ...broken, sql: 'CREATE TABLE half_done (id INTEGER);' };
    const report = await migrate(db.pool, [...migrations, fixed]);
    expect(report).toEqual({ applied: [`${version}-broken`], current: version });
    expect(await tableExists('half_done')).toBe(true);
  });
});
