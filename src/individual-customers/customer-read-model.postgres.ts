/**
 * The customer read model in PostgreSQL (table `customer_documents`, migration 0002): the document as jsonb, its
 * `_version`, and copies of the looked-up fields as indexed columns. Reads see the active generation in the same
 * statement.
 *
 * Registration and activation write their documents into the active generation in their own transactions
 * (`inTransaction`), so a customer is visible the moment it commits; the projector passes those events by and writes
 * the rest (events of instances that did not write them, a rebuild's generation) in its own transaction, documents
 * and checkpoint together. A rebuild's switch-over carries the writers' documents beyond its checkpoint over.
 */
import { createCoalescer } from '../platform/coalesce.js';
import type { Pool } from '../platform/postgres/database.js';
import { projectionWritersLockKey, readGeneration } from '../platform/postgres/projector.js';
import { jsonColumn, jsonElements, type Statement } from '../platform/postgres/statements.js';
import type { CustomerReadModel, ReadModelInTransaction, VersionedCustomer } from './customer-read-model.js';
import { CUSTOMERS_PROJECTION } from './customer-read-model.js';
import type { CustomerKey } from './customer-store.js';
import type { Customer } from './domain/customer.js';

/** The generation that serves reads, as a query of one column `generation`. */
const ACTIVE_GENERATION = `SELECT generation FROM projection_checkpoints WHERE projection = '${CUSTOMERS_PROJECTION}' AND state = 'active'`;
const ACTIVE = `(${ACTIVE_GENERATION})`;

/** Each lookup's condition on one key `k.key` (text); the e-mail one answers with the earliest registration. */
const LOOKUP_WHERE: Record<CustomerKey['by'], string> = {
  id: 'customer_id = k.key::uuid',
  userId: 'user_id = k.key::uuid',
  number: 'customer_number = k.key',
  email: 'email_lower = lower(k.key) ORDER BY registered_at, customer_number LIMIT 1',
};

/**
 * Lookups of one kind that arrive while one is in flight are answered by one statement (`platform/coalesce.ts`):
 * each key probes the same index as a single lookup would, but the round trip, the socket writes and the statement's
 * planning are paid once for all of them. Under 50 concurrent clients that is most of a lookup's cost (issue 17). Each
 * batch is sent after its requests arrived, so an answer is never older than a single query's would be; a failed
 * batch runs each caller's lookup again alone (a malformed key fails only its own request).
 *
 * The statement is a named (prepared) one: each pooled connection parses and plans it once, not once per batch, which
 * took ~40 % of PostgreSQL's CPU per lookup (issue 17, docs/performance.md). The active generation is still read by
 * every execution (the subquery is part of the plan, run each time), so a rebuild's switch-over shows in the next
 * lookup as before.
 */
function createFinder(pool: Pool, by: CustomerKey['by']): (keys: readonly string[]) => Promise<(Customer | undefined)[]> {
  const statement = {
    name: `customer-lookup-by-${by}`,
    text: `SELECT k.i, d.document
       FROM unnest($1::text[]) WITH ORDINALITY AS k(key, i)
       CROSS JOIN LATERAL (SELECT document FROM customer_documents WHERE generation = ${ACTIVE} AND ${LOOKUP_WHERE[by]}) AS d`,
  };
  const find = async (keys: readonly string[]) => {
    const { rows } = await pool.query<{ i: string; document: Customer }>({ ...statement, values: [keys] });
    const found: (Customer | undefined)[] = keys.map(() => undefined);
    for (const row of rows) found[Number(row.i) - 1] = row.document;
    return found;
  };
  return createCoalescer(find, { maxItems: 256 });
}

/**
 * Upserts `customers` into the generation `generation` selects (a query of one column, `generation`; none: nothing is
 * written; `$1` is the first value of the statement). A document moves only to a higher version: replaying an event,
 * or an older one, changes nothing.
 */
function upsertStatement(customers: readonly VersionedCustomer[], generation: { sql: string; values: readonly unknown[] }): Statement {
  const n = generation.values.length;
  const p = (index: number) => `$${String(n + index)}`;
  return {
    text: `INSERT INTO customer_documents
       (generation, customer_id, user_id, customer_number, email_lower, status, registered_at, version, document)
     SELECT g.generation, d.*
     FROM (${generation.sql}) AS g
     CROSS JOIN unnest(${p(1)}::uuid[], ${p(2)}::uuid[], ${p(3)}::text[], ${p(4)}::text[], ${p(5)}::text[], ${p(6)}::timestamptz[],
                       ${p(7)}::int[], ${jsonElements(p(8), 'jsonb')}) AS d
     ON CONFLICT (generation, customer_id) DO UPDATE
       SET user_id = excluded.user_id, customer_number = excluded.customer_number, email_lower = excluded.email_lower,
           status = excluded.status, registered_at = excluded.registered_at, version = excluded.version,
           document = excluded.document
       WHERE customer_documents.version < excluded.version`,
    values: [
      ...generation.values,
      customers.map((c) => c.document.customerId),
      customers.map((c) => c.document.userId),
      customers.map((c) => c.document.customerNumber),
      customers.map((c) => c.document.email.address.toLowerCase()),
      customers.map((c) => c.document.status),
      customers.map((c) => c.document.registeredAt),
      customers.map((c) => c.version),
      jsonColumn(customers.map((c) => JSON.stringify(c.document))),
    ],
  };
}

/** See `ReadModelInTransaction`: documents written in the use case's own statement, into the active generation. */
export function postgresDocumentsInTransaction(): ReadModelInTransaction {
  return {
    lockKey: projectionWritersLockKey(CUSTOMERS_PROJECTION),
    upsertStatement: (customers) => (customers.length === 0 ? undefined : upsertStatement(customers, { sql: ACTIVE_GENERATION, values: [] })),
    async versions(customerIds, target) {
      if (customerIds.length === 0) return new Map();
      const { rows } = await target.client.query<{ customer_id: string; version: number }>(
        'SELECT customer_id, version FROM customer_documents WHERE generation = $1 AND customer_id = ANY($2::uuid[])',
        [target.generation, customerIds],
      );
      return new Map(rows.map((row) => [row.customer_id, row.version]));
    },
  };
}

/** `inTransaction` (default true): the use cases write the documents and the projector passes their events by. */
export function createPostgresCustomerReadModel(pool: Pool, options: { readonly inTransaction?: boolean } = {}): CustomerReadModel {
  const finders = {
    id: createFinder(pool, 'id'),
    userId: createFinder(pool, 'userId'),
    number: createFinder(pool, 'number'),
    email: createFinder(pool, 'email'),
  };
  return {
    projectionName: CUSTOMERS_PROJECTION,
    ...(options.inTransaction === false ? {} : { inTransaction: postgresDocumentsInTransaction() }),
    async prepare() {},

    async upsert(customers, target) {
      if (customers.length === 0) return;
      const statement = upsertStatement(customers, { sql: 'SELECT $1::int AS generation', values: [target.generation] });
      await target.client.query(statement.text, [...statement.values]);
    },

    async get(customerIds, target) {
      if (customerIds.length === 0) return [];
      const { rows } = await target.client.query<{ document: Customer; version: number }>(
        'SELECT document, version FROM customer_documents WHERE generation = $1 AND customer_id = ANY($2::uuid[])',
        [target.generation, customerIds],
      );
      return rows.map((row): VersionedCustomer => ({ document: row.document, version: row.version }));
    },

    find: (key) => finders[key.by]([key.value]).then(([document]) => document),

    async list(generation) {
      const { rows } = await pool.query<{ document: Customer; version: number }>(
        `SELECT document, version FROM customer_documents
         WHERE generation = ${generation === 'active' ? ACTIVE : '$1'} ORDER BY customer_id`,
        generation === 'active' ? [] : [generation],
      );
      return rows.map((row): VersionedCustomer => ({ document: row.document, version: row.version }));
    },

    async resetGeneration(target) {
      await target.client.query('DELETE FROM customer_documents WHERE generation = $1', [target.generation]);
    },

    // The switch is the projector's flip of the two checkpoint rows: reads pick the active generation per statement.
    // Before it, the documents the use cases wrote into the old generation for events beyond the new one's checkpoint
    // are copied over (each is the projector's own document of its event; no writer is in flight, the switch holds
    // their lock); the projector passes those events by once the new generation is active.
    async activate(next, previous) {
      const checkpoint = await readGeneration(next.client, CUSTOMERS_PROJECTION, next.generation);
      if (checkpoint === undefined) throw new Error(`generation ${String(next.generation)} of ${CUSTOMERS_PROJECTION} vanished`);
      await next.client.query(
        `INSERT INTO customer_documents AS d
           (generation, customer_id, user_id, customer_number, email_lower, status, registered_at, version, document)
         SELECT $1, p.customer_id, p.user_id, p.customer_number, p.email_lower, p.status, p.registered_at, p.version, p.document
         FROM customer_documents p
         WHERE p.generation = $2
           AND p.customer_id = ANY (SELECT DISTINCT e.stream_id::uuid FROM event_store e
                                    WHERE (e.transaction_id, e.global_position) > ($3::xid8, $4::bigint) AND e.stream_type = 'Customer')
         ORDER BY p.customer_id
         ON CONFLICT (generation, customer_id) DO UPDATE
           SET user_id = excluded.user_id, customer_number = excluded.customer_number, email_lower = excluded.email_lower,
               status = excluded.status, registered_at = excluded.registered_at, version = excluded.version,
               document = excluded.document
           WHERE d.version < excluded.version`,
        [next.generation, previous.generation, checkpoint.transaction_id, checkpoint.global_position],
      );
    },

    async dropGeneration(generation) {
      await pool.query('DELETE FROM customer_documents WHERE generation = $1', [generation]);
    },

    async close() {},
  };
}
