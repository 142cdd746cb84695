import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RegisterCustomers } from '../../src/individual-customers/register-customers.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { userRegistered } from '../support/events.js';
import { registerCustomersOn, valid } from '../support/service.js';

let db: TestDatabase;
let register: RegisterCustomers;

beforeAll(async () => {
  db = await createTestDatabase({ poolSize: 40 });
  register = registerCustomersOn(db.pool);
});
afterAll(() => db.drop());

const TABLES = ['customers', 'customer_preferences', 'customer_number_sequences', 'event_store', 'inbox', 'outbox'];

async function counts(): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const table of TABLES) {
    const [row] = await db.rows<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    result[table] = Number(row?.n);
  }
  return result;
}

async function registerOne(event: ReturnType<typeof userRegistered>) {
  const [result] = await register([{ event: valid(event) }]);
  if (result === undefined) throw new Error('no result');
  return result;
}

beforeEach(async () => {
  await db.pool.query(`TRUNCATE ${TABLES.join(', ')}`);
});

describe('registering a customer', () => {
  it('writes the customer, preferences, number, event, inbox row and outbox row together', async () => {
    const event = userRegistered({ marketingOptIn: true });
    const result = await registerOne(event);
    expect(result.outcome).toBe('created');
    if (result.outcome !== 'created') return;
    expect(result.customer.customerNumber).toBe('ACME-202601-000001');
    expect(result.customer.customerId).not.toBe(event.payload.userId);
    expect(result.customer.customerId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await counts()).toEqual({
      customers: 1, customer_preferences: 1, customer_number_sequences: 1, event_store: 1, inbox: 1, outbox: 1,
    });

    const [stored] = await db.rows<{ stream_id: string; stream_version: number; event_type: string; metadata: Record<string, unknown> }>(
      'SELECT stream_id, stream_version, event_type, metadata FROM event_store',
    );
    expect(stored).toEqual({
      stream_id: result.customer.customerId,
      stream_version: 1,
      event_type: 'CustomerRegistered',
      metadata: { correlationId: event.correlationId, causationId: event.eventId },
    });

    const [outbox] = await db.rows<{ message_key: string; headers: Record<string, string>; payload: unknown; destination: string }>(
      'SELECT message_key, headers, payload::text::jsonb AS payload, destination FROM outbox',
    );
    expect(outbox?.destination).toBe('customer-events');
    expect(outbox?.message_key).toBe(result.customer.customerId);
    expect(outbox?.headers).toEqual({
      eventType: 'CustomerRegistered',
      eventId: result.event.eventId,
      correlationId: event.correlationId,
      causationId: event.eventId,
      'content-type': 'application/json',
    });
    expect(outbox?.payload).toEqual(result.event);
  });

  it('uses the input eventId as correlation id when the input has none', async () => {
    const event: Record<string, unknown> = userRegistered();
    delete event.correlationId;
    const result = await registerOne(event as ReturnType<typeof userRegistered>);
    expect(result.outcome === 'created' && result.event.correlationId).toBe(event.eventId);
  });

  it('keeps the incoming trace context in the event metadata and on the outgoing message', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await register([{ event: valid(userRegistered()), trace: { traceparent } }]);
    const [stored] = await db.rows<{ traceparent: string }>(`SELECT metadata->>'traceparent' AS traceparent FROM event_store`);
    const [outbox] = await db.rows<{ traceparent: string }>(`SELECT headers->>'traceparent' AS traceparent FROM outbox`);
    expect(stored?.traceparent).toBe(traceparent);
    expect(outbox?.traceparent).toBe(traceparent);
  });
});

describe('duplicates', () => {
  it('a redelivered event returns the existing customer and writes nothing', async () => {
    const event = userRegistered();
    const first = await registerOne(event);
    const before = await counts();
    const again = await registerOne(event);
    expect(again).toMatchObject({ outcome: 'duplicate', reason: 'redelivered' });
    expect(again.outcome === 'duplicate' && again.customer).toEqual(first.outcome === 'created' && first.customer);
    expect(await counts()).toEqual(before);
  });

  it('a second event for the same user returns the existing customer and writes nothing', async () => {
    const event = userRegistered();
    const first = await registerOne(event);
    const before = await counts();
    const second = await registerOne(userRegistered({ userId: event.payload.userId }));
    expect(second).toMatchObject({ outcome: 'duplicate', reason: 'user-already-registered' });
    expect(second.outcome === 'duplicate' && second.customer.customerId).toBe(first.outcome === 'created' && first.customer.customerId);
    expect(await counts()).toEqual(before);
  });

  it('duplicates inside one batch create one customer and consume one number', async () => {
    const event = userRegistered();
    const results = await register([valid(event), valid(event), valid(userRegistered({ userId: event.payload.userId }))].map((e) => ({ event: e })));
    expect(results.map((result) => result.outcome)).toEqual(['created', 'duplicate', 'duplicate']);
    expect(await counts()).toMatchObject({ customers: 1, event_store: 1, inbox: 1, outbox: 1 });
    const [sequence] = await db.rows<{ current_value: number }>('SELECT current_value FROM customer_number_sequences');
    expect(sequence?.current_value).toBe(1);
  });

  it('one eventId with two users in one batch registers the first and rejects the second, as two batches would', async () => {
    const first = userRegistered();
    const second = userRegistered({ eventId: first.eventId });
    const together = await register([valid(first), valid(second)].map((event) => ({ event })));
    expect(together.map((result) => result.outcome)).toEqual(['created', 'rejected']);
    expect(together[1]).toMatchObject({ error: { code: 'INVALID_VALUE' } });
    expect(await counts()).toMatchObject({ customers: 1, event_store: 1, inbox: 1, outbox: 1 });

    await db.pool.query(`TRUNCATE ${TABLES.join(', ')}`);
    const apart = [await registerOne(first), await registerOne(second)];
    expect(apart.map((result) => result.outcome)).toEqual(together.map((result) => result.outcome));
  });

  it('the same user registered concurrently from many transactions gets exactly one customer', async () => {
    const userId = userRegistered().payload.userId;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => registerOne(userRegistered({ userId }))),
    );
    expect(results.filter((result) => result.outcome === 'created')).toHaveLength(1);
    expect(await counts()).toMatchObject({ customers: 1, event_store: 1, outbox: 1 });
    const [sequence] = await db.rows<{ current_value: number }>('SELECT current_value FROM customer_number_sequences');
    expect(sequence?.current_value).toBe(1);
  });
});

describe('customer numbers', () => {
  it('three registrations in a month get consecutive numbers, and the next month restarts at 000001', async () => {
    const numbers: string[] = [];
    for (const timestamp of ['2026-01-05T08:00:00Z', '2026-01-20T12:00:00Z', '2026-01-31T23:59:59Z', '2026-02-01T00:00:00Z']) {
      const result = await registerOne(userRegistered({ timestamp }));
      if (result.outcome === 'created') numbers.push(result.customer.customerNumber);
    }
    expect(numbers).toEqual(['ACME-202601-000001', 'ACME-202601-000002', 'ACME-202601-000003', 'ACME-202602-000001']);
  });

  it('200 concurrent registrations get 200 distinct numbers with no gap', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, () => registerOne(userRegistered())));
    expect(results.every((result) => result.outcome === 'created')).toBe(true);
    const rows = await db.rows<{ customer_number: string }>('SELECT customer_number FROM customers ORDER BY customer_number');
    const expected = Array.from({ length: 200 }, (_, index) => `ACME-202601-${String(index + 1).padStart(6, '0')}`);
    expect(rows.map((row) => row.customer_number)).toEqual(expected);
  });

  it('numbers increase in commit order', async () => {
    await Promise.all(Array.from({ length: 50 }, () => registerOne(userRegistered())));
    const rows = await db.rows<{ customer_number: string }>('SELECT c.customer_number FROM event_store e JOIN customers c ON c.id::text = e.stream_id ORDER BY e.global_position');
    const numbers = rows.map((row) => row.customer_number);
    expect(numbers).toEqual([...numbers].sort());
  });

  it('widens past 999999 in a month rather than failing', async () => {
    await db.pool.query(`INSERT INTO customer_number_sequences (year_month, current_value) VALUES ('202601', 999999)`);
    const result = await registerOne(userRegistered());
    expect(result.outcome === 'created' && result.customer.customerNumber).toBe('ACME-202601-1000000');
  });
});

describe('a failure half-way through the transaction', () => {
  it('leaves no trace: no customer, no number consumed, no inbox row, no outbox row', async () => {
    // A real database failure at the event-store insert, after the customer rows and the number were written.
    await db.pool.query(`
      CREATE FUNCTION fail_event_store() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.payload->>'lastName' = 'Failing' THEN RAISE EXCEPTION 'forced event-store failure'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER fail_event_store BEFORE INSERT ON event_store FOR EACH ROW EXECUTE FUNCTION fail_event_store();`);
    try {
      await registerOne(userRegistered());
      const before = await counts();
      await expect(registerOne(userRegistered({ lastName: 'Failing' }))).rejects.toThrow('forced event-store failure');
      expect(await counts()).toEqual(before);
      const next = await registerOne(userRegistered());
      expect(next.outcome === 'created' && next.customer.customerNumber).toBe('ACME-202601-000002');
    } finally {
      await db.pool.query('DROP TRIGGER fail_event_store ON event_store; DROP FUNCTION fail_event_store()');
    }
  });

  it('in a batch, fails only the message that broke and registers its neighbours', async () => {
    await db.pool.query(`
      CREATE FUNCTION fail_event_store() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.payload->>'lastName' = 'Failing' THEN RAISE EXCEPTION 'forced event-store failure'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER fail_event_store BEFORE INSERT ON event_store FOR EACH ROW EXECUTE FUNCTION fail_event_store();`);
    try {
      const events = [userRegistered(), userRegistered({ lastName: 'Failing' }), userRegistered()];
      const results = await register(events.map((event) => ({ event: valid(event) })));
      expect(results.map((result) => result.outcome)).toEqual(['created', 'failed', 'created']);
      expect(results[1]).toMatchObject({ transient: false });
      expect(await counts()).toMatchObject({ customers: 2, event_store: 2, inbox: 2, outbox: 2 });
      const rows = await db.rows<{ customer_number: string }>('SELECT customer_number FROM customers ORDER BY 1');
      expect(rows.map((row) => row.customer_number)).toEqual(['ACME-202601-000001', 'ACME-202601-000002']);
    } finally {
      await db.pool.query('DROP TRIGGER fail_event_store ON event_store; DROP FUNCTION fail_event_store()');
    }
  });
});
