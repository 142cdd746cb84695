/**
 * The customer read model in PostgreSQL (table `customer_documents`, migration 0002): the document as jsonb, its
 * `_version`, and copies of the looked-up fields as indexed columns. Writes go through the projector's transaction,
 * so documents and checkpoint commit together; reads see the active generation in the same statement.
 */
import type { Pool } from '../platform/postgres/database.js';
import type { CustomerReadModel, VersionedCustomer } from './customer-read-model.js';
import { CUSTOMERS_PROJECTION } from './customer-read-model.js';
import type { Customer } from './domain/customer.js';

const ACTIVE = `(SELECT generation FROM projection_checkpoints WHERE projection = '${CUSTOMERS_PROJECTION}' AND state = 'active')`;

export function createPostgresCustomerReadModel(pool: Pool): CustomerReadModel {
  return {
    projectionName: CUSTOMERS_PROJECTION,
    async prepare() {},

    async upsert(customers, target) {
      if (customers.length === 0) return;
      // A document moves only to a higher version: replaying an event, or an older one, changes nothing.
      await target.client.query(
        `INSERT INTO customer_documents
           (generation, customer_id, user_id, customer_number, email_lower, status, registered_at, version, document)
         SELECT $1, * FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::int[],
                                  $9::jsonb[])
         ON CONFLICT (generation, customer_id) DO UPDATE
           SET user_id = excluded.user_id, customer_number = excluded.customer_number, email_lower = excluded.email_lower,
               status = excluded.status, registered_at = excluded.registered_at, version = excluded.version,
               document = excluded.document
           WHERE customer_documents.version < excluded.version`,
        [
          target.generation,
          customers.map((c) => c.document.customerId),
          customers.map((c) => c.document.userId),
          customers.map((c) => c.document.customerNumber),
          customers.map((c) => c.document.email.address.toLowerCase()),
          customers.map((c) => c.document.status),
          customers.map((c) => c.document.registeredAt),
          customers.map((c) => c.version),
          customers.map((c) => JSON.stringify(c.document)),
        ],
      );
    },

    async get(customerIds, target) {
      if (customerIds.length === 0) return [];
      const { rows } = await target.client.query<{ document: Customer; version: number }>(
        'SELECT document, version FROM customer_documents WHERE generation = $1 AND customer_id = ANY($2::uuid[])',
        [target.generation, customerIds],
      );
      return rows.map((row): VersionedCustomer => ({ document: row.document, version: row.version }));
    },

    async find(key) {
      const where = {
        id: 'customer_id = $1',
        userId: 'user_id = $1',
        number: 'customer_number = $1',
        email: 'email_lower = lower($1) ORDER BY registered_at, customer_number LIMIT 1',
      }[key.by];
      const { rows } = await pool.query<{ document: Customer }>(
        `SELECT document FROM customer_documents WHERE generation = ${ACTIVE} AND ${where}`,
        [key.value],
      );
      return rows[0]?.document;
    },

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
    async activate() {},

    async dropGeneration(generation) {
      await pool.query('DELETE FROM customer_documents WHERE generation = $1', [generation]);
    },

    async close() {},
  };
}
