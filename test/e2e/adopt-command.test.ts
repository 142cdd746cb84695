/**
 * `adopt acme` on databases that hold nothing to adopt: no database configured, an empty one, and one that is already
 * ours. Each answer is an exit code an operator (or a Job) acts on, and none of them may change the database.
 * The ACME database itself, and one the command does not recognise, are `acme-adoption.test.ts`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const env = { LOG_LEVEL: 'warn', AUTH_MODE: 'none' };

const publicTables = async (db: TestDatabase) =>
  (await db.rows<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)).map(
    (row) => row.table_name,
  );

describe('adopt acme where there is nothing to adopt', () => {
  let empty: TestDatabase;
  let ours: TestDatabase;

  beforeAll(async () => {
    empty = await createTestDatabase({ migrate: false });
    ours = await createTestDatabase({ migrate: true });
  });
  afterAll(async () => {
    await empty?.drop();
    await ours?.drop();
  });

  it('exits 2 with one INVALID_CONFIGURATION line when no database is configured (the embedded one holds no ACME data)', async () => {
    const result = await runCli(['adopt', 'acme'], env);
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines, result.stderr).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ level: 'fatal', exitCode: 2, code: 'INVALID_CONFIGURATION', problems: [expect.stringMatching(/^DATABASE_URL: adopt acme needs/)] });
    expect(result.stdout).toBe('');
  });

  it('exits 2 on a database without the ACME tables, naming them, and creates nothing (dry run or not)', async () => {
    for (const args of [['adopt', 'acme', '--dry-run'], ['adopt', 'acme']]) {
      const result = await runCli(args, { ...env, DATABASE_URL: empty.url });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('no ACME customer tables (customers, customer_preferences, customer_number_sequences)');
    }
    expect(await publicTables(empty)).toEqual([]);
  }, 60_000);

  it("exits 0 on customer-service's own database, saying there is nothing to adopt, and applies nothing", async () => {
    const before = await ours.rows<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    const result = await runCli(['adopt', 'acme'], { ...env, DATABASE_URL: ours.url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("nothing to adopt: this is already customer-service's database (schema_migrations present)\n");
    expect(await ours.rows<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).toEqual(before);
  }, 60_000);
});
