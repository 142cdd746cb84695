/**
 * Every use case's transaction has the same shape (`platform/postgres/load-decide-persist.ts`), whatever the size of
 * its batch: BEGIN with the advisory locks, one load, one write, COMMIT; four round trips, and three when the decision
 * writes nothing. Counted on the statements a real pool's clients send to a real PostgreSQL.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/platform/postgres/database.js';
import { createPostgresCustomerReadModel } from '../../src/individual-customers/customer-read-model.postgres.js';
import { parseUserActivated } from '../../src/individual-customers/user-activated.schema.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { userActivated, userRegistered } from '../support/events.js';
import { activateCustomersOn, registerCustomersOn, valid } from '../support/service.js';
import { CORPORATE_TABLES, registerCorporateOn, registration, uniqueEvent } from '../support/corporate.js';

let db: TestDatabase;
let pool: Pool;
/** Each statement a client of `pool` sent, in order (its first line). */
let sent: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 4);
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    // Counts what the use case sends; pg's overloaded query signature cannot be restated without a cast.
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const [first] = args;
      sent.push((typeof first === 'string' ? first : (first as { text: string }).text).trim().split('\n')[0] ?? '');
      return query(...args);
    };
  });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});
beforeEach(() => {
  sent = [];
});

const shapeOf = (statements: readonly string[]) =>
  statements.map((text) => {
    if (text.startsWith('BEGIN; SELECT count(pg_advisory_xact_lock')) return 'BEGIN+locks';
    if (text.startsWith('WITH w0 AS')) return 'write';
    if (text === 'COMMIT' || text === 'ROLLBACK') return text;
    return 'load';
  });

describe('the transaction of a use case', () => {
  it('registers a batch of 25 individual customers in 4 round trips: BEGIN with the locks, one load, one write, COMMIT', async () => {
    const results = await registerCustomersOn(pool)(Array.from({ length: 25 }, () => ({ event: valid(userRegistered()) })));
    expect(results.every((result) => result.outcome === 'created')).toBe(true);
    expect(shapeOf(sent)).toEqual(['BEGIN+locks', 'load', 'write', 'COMMIT']);
  });

  it('registers and activates in 4 round trips with the read-model documents too (they join the one write)', async () => {
    const readModel = createPostgresCustomerReadModel(pool).inTransaction;
    const events = Array.from({ length: 10 }, () => valid(userRegistered()));
    const registered = await registerCustomersOn(pool, { readModel })(events.map((event) => ({ event })));
    expect(registered.every((result) => result.outcome === 'created')).toBe(true);
    expect(shapeOf(sent)).toEqual(['BEGIN+locks', 'load', 'write', 'COMMIT']);
    sent = [];
    const activations = events.map((event) => {
      const parsed = parseUserActivated(userActivated(event.payload.userId));
      if (!parsed.ok) throw parsed.error;
      return { event: parsed.value };
    });
    const activated = await activateCustomersOn(pool, { readModel })(activations);
    expect(activated.every((result) => result.outcome === 'activated')).toBe(true);
    expect(shapeOf(sent)).toEqual(['BEGIN+locks', 'load', 'write', 'COMMIT']);
    const documents = await db.rows<{ version: number }>('SELECT version FROM customer_documents WHERE customer_id = ANY($1::uuid[])', [
      registered.flatMap((result) => (result.outcome === 'created' ? [result.customer.customerId] : [])),
    ]);
    expect(documents.map((row) => row.version)).toEqual(Array.from({ length: 10 }, () => 2));
  });

  it('writes nothing for a batch of duplicates: 3 round trips', async () => {
    const events = Array.from({ length: 5 }, () => valid(userRegistered()));
    await registerCustomersOn(pool)(events.map((event) => ({ event })));
    sent = [];
    const again = await registerCustomersOn(pool)(events.map((event) => ({ event })));
    expect(again.every((result) => result.outcome === 'duplicate')).toBe(true);
    expect(shapeOf(sent)).toEqual(['BEGIN+locks', 'load', 'COMMIT']);
  });

  it('activates a batch in 4 round trips', async () => {
    const events = Array.from({ length: 10 }, () => valid(userRegistered()));
    await registerCustomersOn(pool)(events.map((event) => ({ event })));
    sent = [];
    const activations = events.map((event) => {
      const parsed = parseUserActivated(userActivated(event.payload.userId));
      if (!parsed.ok) throw parsed.error;
      return { event: parsed.value };
    });
    const results = await activateCustomersOn(pool)(activations);
    expect(results.every((result) => result.outcome === 'activated')).toBe(true);
    expect(shapeOf(sent)).toEqual(['BEGIN+locks', 'load', 'write', 'COMMIT']);
  });

  it('registers a corporate customer with 5 users in 4 round trips, and a duplicate in 3', async () => {
    await db.pool.query(`TRUNCATE ${CORPORATE_TABLES.join(', ')}`);
    const command = { registration: registration(uniqueEvent({ users: 5 })) };
    expect((await registerCorporateOn(pool)(command)).outcome).toBe('created');
    expect(shapeOf(sent)).toEqual(['BEGIN+locks', 'load', 'write', 'COMMIT']);
    sent = [];
    expect((await registerCorporateOn(pool)(command)).outcome).toBe('duplicate');
    expect(shapeOf(sent)).toEqual(['BEGIN+locks', 'load', 'COMMIT']);
  });
});
