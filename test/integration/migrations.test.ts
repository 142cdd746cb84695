import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/platform/postgres/migrate.js';
import { migrations } from '../../src/platform/postgres/migrations/index.js';
import { createPool, type Pool } from '../../src/platform/postgres/database.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
});
afterAll(() => db.drop());

describe('migrations', () => {
  it('are safe when several instances start at the same moment', async () => {
    const pools: Pool[] = Array.from({ length: 4 }, () => createPool(db.url, 2));
    try {
      const reports = await Promise.all(pools.map((pool) => migrate(pool)));
      const applied = reports.flatMap((report) => report.applied);
      expect(applied).toEqual(migrations.map((migration) => `${migration.version}-${migration.name}`));
      const rows = await db.rows<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((row) => row.version)).toEqual(migrations.map((migration) => migration.version));
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('apply nothing the second time, and refuse a migration edited after it was applied', async () => {
    expect((await migrate(db.pool)).applied).toEqual([]);
    const [first, ...rest] = migrations;
    if (first === undefined) throw new Error('no migrations');
    await expect(migrate(db.pool, [{ ...first, sql: `${first.sql}\n-- edited` }, ...rest])).rejects.toThrow(/changed after it was applied/);
  });
});
