/**
 * Taking over, in place, the database of a service this one replaces (SPEC §5). A database that holds tables our
 * migrations create, but not our bookkeeping (`schema_migrations`), is either one a flow knows how to adopt (its
 * `SchemaAdoption` recognises it) or refused untouched: migrations must never run over somebody else's tables.
 */
import type { Queryable } from './database.js';
import type { Migration } from './migrations/migration.js';

/** What a database looks like before any migration of ours ran. */
export type SchemaLayout =
  | { readonly kind: 'ours' }
  | { readonly kind: 'empty' }
  | { readonly kind: 'adoptable'; readonly adoption: SchemaAdoption; readonly tables: readonly string[] }
  | { readonly kind: 'unrecognised'; readonly reasons: readonly string[] };

/** Table name → its column names, as `information_schema` lists them. */
export type Columns = ReadonlyMap<string, ReadonlySet<string>>;

/** How a flow adopts the database of the service it replaces (`Flow.adoption`). */
export interface SchemaAdoption<P = unknown> {
  /** Who created such databases, for messages (e.g. "the ACME customer service"). */
  readonly name: string;
  /** The migration an adopted database counts as having applied (recorded as applied by `migrate`). */
  readonly adoptedAs: Migration;
  /**
   * Whether this is that service's database: the tables to adopt, or why not. `ours` are the tables of our
   * migrations the database already has (never empty here).
   */
  recognise(columns: Columns, ours: readonly string[]): { readonly tables: readonly string[] } | { readonly reasons: readonly string[] };
  /** What adoption finds and will do (counts, numbering…), read in the adoption's transaction. */
  plan(client: Queryable, tables: readonly string[]): Promise<P>;
  /** Adopts, in the caller's transaction: afterwards the database is as if `adoptedAs` had run. */
  adopt(client: Queryable, plan: P): Promise<void>;
}

export class SchemaNotRecognisedError extends Error {
  override readonly name = 'SchemaNotRecognisedError';
  constructor(readonly reasons: readonly string[]) {
    super(
      `The database holds tables this service would create, but neither its own migrations (schema_migrations) nor the ` +
        `layout of a service it replaces:\n${reasons.map((reason) => `  - ${reason}`).join('\n')}\n` +
        'Nothing was changed. Point DATABASE_URL at an empty database, one it can adopt, or one of ours.',
    );
  }
}

/** The tables `migrations` create (their `CREATE TABLE` statements). */
export function tablesCreatedBy(migrations: readonly Migration[]): string[] {
  const names = migrations.flatMap((migration) => [...migration.sql.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?([a-z_][a-z0-9_]*)/gi)].map((match) => match[1] as string));
  return [...new Set(names)];
}

/** Ours, empty, adoptable by one of `adoptions`, or unrecognised (with every adoption's reasons). */
export async function inspectSchema(client: Queryable, migrations: readonly Migration[], adoptions: readonly SchemaAdoption[]): Promise<SchemaLayout> {
  const { rows } = await client.query<{ table_name: string; columns: string[] }>(
    `SELECT table_name, array_agg(column_name::text) AS columns FROM information_schema.columns
     WHERE table_schema = current_schema() GROUP BY table_name`,
  );
  const columns: Columns = new Map(rows.map((row) => [row.table_name, new Set(row.columns)]));
  if (columns.has('schema_migrations')) return { kind: 'ours' };
  const ours = tablesCreatedBy(migrations).filter((table) => columns.has(table));
  if (ours.length === 0) return { kind: 'empty' };
  const reasons: string[] = [];
  for (const adoption of adoptions) {
    const recognised = adoption.recognise(columns, ours);
    if ('tables' in recognised) return { kind: 'adoptable', adoption, tables: recognised.tables };
    reasons.push(...recognised.reasons);
  }
  if (adoptions.length === 0) reasons.push(`tables ${ours.join(', ')} exist without schema_migrations, and no flow adopts another service's database here`);
  return { kind: 'unrecognised', reasons };
}
