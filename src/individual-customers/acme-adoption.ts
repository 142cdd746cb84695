/**
 * Adopting the ACME customer service's database in place (SPEC §5). That service (Kotlin/Spring, Flyway) created the
 * seed's `customers`, `customer_preferences` and `customer_number_sequences`, and later `event_store`, `processed_events`
 * and `outbox` with columns of its own; our migration 0001 would fail on it (`CREATE TABLE customers`), and our
 * `event_store` and `outbox` share its table names.
 *
 * Adoption, in one transaction under the migration lock, before the remaining migrations run:
 * - business rows stay where they are, untouched: `customers` and `customer_preferences` only get the wider columns and
 *   the case-insensitive e-mail index of migration 0001 (widening a VARCHAR rewrites nothing);
 * - ACME's `event_store` and `outbox` are renamed `acme_event_store` and `acme_outbox` (their history is kept), and
 *   ours are created beside them with migration 0001's own statements, which is then recorded as applied;
 * - every customer gets one `CustomerRegistered` in our event store, built from its rows (not published: ACME published
 *   it long ago), so the projector serves it to every lookup; it reuses ACME's event id when ACME stored one;
 * - each month's number sequence is raised to the highest number already given in that month, so numbering continues;
 * - `processed_events` ids go into our inbox, so a redelivered input stays a duplicate;
 * - outbox rows ACME never published are handed to our outbox (destination `customer-events`), published once.
 */
import type { Queryable } from '../platform/postgres/database.js';
import { initial } from '../platform/postgres/migrations/0001-initial.js';
import { SchemaNotRecognisedError, type Columns, type SchemaAdoption } from '../platform/postgres/schema-adoption.js';
import { CUSTOMER_EVENTS } from './outbox.js';
import { INBOX_CONSUMER } from './register-customers.js';

/** The ACME tables and the columns adoption relies on (ACME's own tables may have more). */
const ACME_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  customers: ['id', 'user_id', 'customer_number', 'first_name', 'last_name', 'display_name', 'email', 'email_verified', 'status', 'type',
    'preferred_locale', 'timezone', 'preferred_currency', 'profile_completeness', 'registered_at', 'last_activity_at'],
  customer_preferences: ['customer_id', 'email_notifications', 'sms_notifications', 'push_notifications', 'marketing_communications',
    'share_data_with_partners', 'allow_analytics'],
  customer_number_sequences: ['year_month', 'current_value'],
  event_store: ['event_id', 'event_type', 'event_version', 'timestamp', 'aggregate_id', 'aggregate_type', 'correlation_id', 'causation_id', 'payload', 'created_at'],
  processed_events: ['event_id', 'event_type', 'processed_at'],
  outbox: ['id', 'aggregate_id', 'aggregate_type', 'event_type', 'event_id', 'topic', 'message_key', 'payload', 'created_at', 'published_at', 'retry_count', 'last_error'],
};
const ACME_REQUIRED = ['customers', 'customer_preferences', 'customer_number_sequences'];

/** Statuses the read model can serve; an ACME customer in another is reported, and adoption refused. */
const SERVED_STATUSES = ['PENDING_VERIFICATION', 'ACTIVE'];


/** Whether `columns` hold the ACME customer service's schema: the ACME tables present, or why this is not it. */
export function recogniseAcme(columns: Columns, ours: readonly string[]): { readonly tables: readonly string[] } | { readonly reasons: readonly string[] } {
  const reasons: string[] = [];
  for (const table of ACME_REQUIRED) if (!columns.has(table)) reasons.push(`table ${table} is missing (ACME's schema has it)`);
  for (const table of ours) {
    const expected = ACME_COLUMNS[table];
    if (expected === undefined) {
      reasons.push(`table ${table} exists: the ACME customer service has none of that name`);
      continue;
    }
    const missing = expected.filter((column) => !columns.get(table)?.has(column));
    if (missing.length > 0) reasons.push(`table ${table} lacks the ACME columns ${missing.join(', ')}`);
  }
  const processed = columns.get('processed_events');
  if (processed !== undefined) {
    const missing = (ACME_COLUMNS.processed_events ?? []).filter((column) => !processed.has(column));
    if (missing.length > 0) reasons.push(`table processed_events lacks the ACME columns ${missing.join(', ')}`);
  }
  if (reasons.length > 0) return { reasons };
  return { tables: Object.keys(ACME_COLUMNS).filter((table) => columns.has(table)) };
}

/** What adoption finds and will do; printed by `adopt acme --dry-run`, and by `adopt acme` once done. */
export interface AdoptionPlan {
  readonly tables: readonly string[];
  readonly customers: number;
  readonly preferences: number;
  /** Per month with customers: the sequence ACME recorded, and the highest number actually given. */
  readonly months: readonly { readonly yearMonth: string; readonly sequence: number | null; readonly highest: number }[];
  readonly unparsableNumbers: number;
  readonly acmeEvents: number;
  readonly processedEvents: number;
  readonly unpublishedOutbox: number;
  readonly outboxTopics: readonly string[];
  /** Statuses the read model cannot serve, with their counts: adoption is refused while there are any. */
  readonly unservedStatuses: Readonly<Record<string, number>>;
}

const NUMBER_PATTERN = '^[A-Za-z0-9]+-([0-9]{6})-([0-9]+)$';

export async function planAdoption(client: Queryable, tables: readonly string[]): Promise<AdoptionPlan> {
  const has = (table: string) => tables.includes(table);
  const count = async (sql: string) => Number((await client.query<{ n: string }>(sql)).rows[0]?.n ?? 0);
  const { rows: months } = await client.query<{ year_month: string; sequence: number | null; highest: number }>(
    `SELECT m.year_month, s.current_value AS sequence, m.highest
     FROM (SELECT (regexp_match(customer_number, $1))[1] AS year_month, max(((regexp_match(customer_number, $1))[2])::int) AS highest
           FROM customers WHERE customer_number ~ $1 GROUP BY 1) m
     LEFT JOIN customer_number_sequences s ON s.year_month = m.year_month
     ORDER BY m.year_month`,
    [NUMBER_PATTERN],
  );
  const { rows: statuses } = await client.query<{ status: string; n: string }>(
    'SELECT status, count(*) AS n FROM customers WHERE NOT (status = ANY($1::text[])) GROUP BY status ORDER BY status',
    [SERVED_STATUSES],
  );
  const outboxTopics = has('outbox')
    ? (await client.query<{ topic: string }>('SELECT DISTINCT topic FROM outbox WHERE published_at IS NULL ORDER BY topic')).rows.map((row) => row.topic)
    : [];
  return {
    tables,
    customers: await count('SELECT count(*) AS n FROM customers'),
    preferences: await count('SELECT count(*) AS n FROM customer_preferences'),
    months: months.map((row) => ({ yearMonth: row.year_month, sequence: row.sequence, highest: row.highest })),
    unparsableNumbers: Number(
      (await client.query<{ n: string }>('SELECT count(*) AS n FROM customers WHERE customer_number !~ $1', [NUMBER_PATTERN])).rows[0]?.n ?? 0,
    ),
    acmeEvents: has('event_store') ? await count('SELECT count(*) AS n FROM event_store') : 0,
    processedEvents: has('processed_events') ? await count('SELECT count(*) AS n FROM processed_events') : 0,
    unpublishedOutbox: has('outbox') ? await count('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL') : 0,
    outboxTopics,
    unservedStatuses: Object.fromEntries(statuses.map((row) => [row.status, Number(row.n)])),
  };
}

/** The plan as the lines `adopt acme` prints. */
export function describePlan(plan: AdoptionPlan): string[] {
  const lines = [
    `ACME customer database found (tables: ${plan.tables.join(', ')})`,
    `keep ${plan.customers} customers and ${plan.preferences} preference rows as they are; widen customers.customer_number to 40 and display_name to 101 characters; index e-mails without case`,
    `serve every customer from the read model: append one CustomerRegistered per customer to our event store (not published again)`,
  ];
  for (const month of plan.months) {
    const next = Math.max(month.highest, month.sequence ?? 0) + 1;
    lines.push(`numbering ${month.yearMonth}: highest given ${month.highest}, ACME sequence ${month.sequence ?? 'none'}; the next number is ${String(next).padStart(6, '0')}`);
  }
  if (plan.unparsableNumbers > 0) lines.push(`${plan.unparsableNumbers} customer numbers are not PREFIX-YYYYMM-N: kept, they take part in no sequence`);
  if (plan.tables.includes('event_store')) lines.push(`rename ACME's event_store (${plan.acmeEvents} events) to acme_event_store, kept as history; create ours`);
  if (plan.tables.includes('processed_events')) lines.push(`keep ${plan.processedEvents} processed_events ids as duplicates (copied into the inbox)`);
  if (plan.tables.includes('outbox')) {
    lines.push(
      `rename ACME's outbox to acme_outbox; hand its ${plan.unpublishedOutbox} unpublished rows to ours (Kafka customer events, published once)` +
        (plan.outboxTopics.length > 0 ? `; ACME addressed them to ${plan.outboxTopics.join(', ')}` : ''),
    );
  }
  for (const [status, n] of Object.entries(plan.unservedStatuses)) {
    lines.push(`REFUSED: ${n} customers have status ${status}, which this service's read model does not serve yet`);
  }
  return lines;
}

/** Renames a table with its indexes, constraints and owned sequences, which would collide with the names of ours. */
async function renameTable(client: Queryable, from: string, to: string): Promise<void> {
  const { rows: indexes } = await client.query<{ name: string }>(
    'SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1',
    [from],
  );
  const { rows: sequences } = await client.query<{ name: string }>(
    `SELECT s.relname AS name FROM pg_class s
     JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')
     JOIN pg_class t ON t.oid = d.refobjid
     WHERE s.relkind = 'S' AND t.relname = $1 AND t.relnamespace = to_regnamespace(current_schema())`,
    [from],
  );
  await client.query(`ALTER TABLE ${ident(from)} RENAME TO ${ident(to)}`);
  // Renaming an index that backs a constraint renames the constraint too.
  for (const index of indexes) await client.query(`ALTER INDEX ${ident(index.name)} RENAME TO ${ident(`acme_${index.name}`)}`);
  for (const sequence of sequences) await client.query(`ALTER SEQUENCE ${ident(sequence.name)} RENAME TO ${ident(`acme_${sequence.name}`)}`);
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Migration 0001's statements from the event store on: the tables adoption creates beside ACME's. */
function initialPlatformTables(): string {
  const start = initial.sql.indexOf('-- Append-only log of every domain event.');
  if (start < 0) throw new Error('migration 0001 no longer has the event store where adoption expects it');
  return initial.sql.slice(start);
}

/**
 * Adopts the ACME schema; runs in the caller's transaction. Afterwards the database is exactly as if migration 0001
 * had run (the caller records it), holding ACME's rows.
 */
export async function adoptAcme(client: Queryable, plan: AdoptionPlan): Promise<void> {
  if (Object.keys(plan.unservedStatuses).length > 0) throw new SchemaNotRecognisedError(describePlan(plan).filter((line) => line.startsWith('REFUSED')));
  const has = (table: string) => plan.tables.includes(table);
  if (has('event_store')) await renameTable(client, 'event_store', 'acme_event_store');
  if (has('outbox')) await renameTable(client, 'outbox', 'acme_outbox');

  await client.query(`ALTER TABLE customers ALTER COLUMN customer_number TYPE VARCHAR(40)`);
  await client.query(`ALTER TABLE customers ALTER COLUMN display_name TYPE VARCHAR(101)`);
  // ACME's e-mail index is case-sensitive; lookups here ignore case (0001's index of the same name).
  await client.query('DROP INDEX IF EXISTS idx_customers_email');
  await client.query('CREATE INDEX idx_customers_email ON customers (lower(email))');
  await client.query('CREATE INDEX IF NOT EXISTS idx_customers_status ON customers (status)');
  await client.query(initialPlatformTables());

  const acmeEventId = has('event_store')
    ? `(SELECT e.event_id::text FROM acme_event_store e
        WHERE e.aggregate_id::text = c.id::text AND e.event_type = 'CustomerRegistered' ORDER BY e.timestamp LIMIT 1)`
    : 'NULL';
  await client.query(
    `INSERT INTO event_store (stream_type, stream_id, stream_version, event_id, event_type, event_version, payload, metadata, occurred_at)
     SELECT 'Customer', c.id::text, 1, coalesce(${acmeEventId}, md5('acme-adoption:' || c.id::text))::uuid,
            'CustomerRegistered', '1.0',
            jsonb_build_object(
              'customerId', c.id, 'userId', c.user_id, 'customerNumber', c.customer_number, 'email', c.email,
              'firstName', c.first_name, 'lastName', c.last_name, 'status', c.status, 'type', c.type,
              'registeredAt', replace(to_char(c.registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), '.000Z', 'Z'),
              'marketingOptIn', coalesce(p.marketing_communications, false)),
            jsonb_build_object('source', jsonb_build_object('adoptedFrom', 'acme-customer-service')),
            c.registered_at
     FROM customers c LEFT JOIN customer_preferences p ON p.customer_id = c.id
     ORDER BY c.registered_at, c.id`,
  );
  await client.query(
    `INSERT INTO customer_number_sequences AS s (year_month, current_value)
     SELECT (regexp_match(customer_number, $1))[1], max(((regexp_match(customer_number, $1))[2])::int)
     FROM customers WHERE customer_number ~ $1 GROUP BY 1
     ON CONFLICT (year_month) DO UPDATE SET current_value = greatest(s.current_value, excluded.current_value)`,
    [NUMBER_PATTERN],
  );
  if (has('processed_events')) {
    await client.query(
      `INSERT INTO inbox (consumer, message_id, message_type, processed_at)
       SELECT $1, lower(event_id::text), event_type, processed_at FROM processed_events
       ON CONFLICT DO NOTHING`,
      [INBOX_CONSUMER],
    );
  }
  if (has('outbox')) {
    // ACME's payload column holds the whole serialized event: exactly what its relay would have sent.
    await client.query(
      `INSERT INTO outbox (event_id, destination, aggregate_id, message_key, headers, payload, created_at)
       SELECT o.event_id::uuid, $1, o.aggregate_id::text, coalesce(o.message_key, o.aggregate_id::text),
              jsonb_strip_nulls(jsonb_build_object(
                'eventType', o.event_type, 'eventId', o.event_id::text,
                'correlationId', o.payload->>'correlationId', 'causationId', o.payload->>'causationId',
                'content-type', 'application/json')),
              o.payload::text::json, o.created_at
       FROM acme_outbox o WHERE o.published_at IS NULL
       ORDER BY o.created_at, o.id
       ON CONFLICT DO NOTHING`,
      [CUSTOMER_EVENTS.destination],
    );
  }
}

/** The ACME customer service's database, adopted by `migrate` (and `adopt acme`): this flow's `adoption`. */
export const acmeAdoption: SchemaAdoption<AdoptionPlan> = {
  name: 'the ACME customer service',
  adoptedAs: initial,
  recognise: recogniseAcme,
  plan: planAdoption,
  adopt: adoptAcme,
};
