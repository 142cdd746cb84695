import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { COMPANY_ID_NAMESPACE } from '../../src/corporate-customers/domain/company.js';
import type { RegisterCorporateCustomer } from '../../src/corporate-customers/register-corporate-customer.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { CORPORATE_TABLES, fixtureEvent, registerCorporateOn, registration, tableCounts, uniqueEvent } from '../support/corporate.js';
import { v5 as uuidv5 } from 'uuid';

let db: TestDatabase;
let register: RegisterCorporateCustomer;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

beforeAll(async () => {
  db = await createTestDatabase({ poolSize: 30 });
  register = registerCorporateOn(db.pool);
});
afterAll(() => db.drop());
beforeEach(async () => {
  await db.pool.query(`TRUNCATE ${CORPORATE_TABLES.join(', ')}`);
});

const nothing = { companies: 0, company_users: 0, event_store: 0, inbox: 0, outbox: 0, dead_letters: 0 };

describe('registering a corporate customer', () => {
  it('writes the company, every user, the event, the inbox row and one outbox row per CloudEvent together', async () => {
    const result = await register({ registration: registration(fixtureEvent()) });
    expect(result.outcome).toBe('created');
    if (result.outcome !== 'created') return;
    expect(result.company.customerId).toBe('550e8400-e29b-41d4-a716-446655440000');
    expect(await tableCounts(db.pool)).toEqual({ companies: 1, company_users: 3, event_store: 1, inbox: 1, outbox: 4, dead_letters: 0 });

    const users = await db.rows<{ name: string; email: string; role: string; position: number }>(
      `SELECT u.name, u.email, r.name AS role, u.position FROM company_users u JOIN user_roles r ON r.id = u.role_id ORDER BY u.position`,
    );
    expect(users.map((user) => [user.name, user.email, user.role])).toEqual([
      ['John Smith', 'john.smith@techcorp.com', 'customer_account_owner'],
      ['Jane Doe', 'jane.doe@techcorp.com', 'admin_user'],
      ['Jim Beam', 'jim.beam@techcorp.com', 'generic_user'],
    ]);

    const outbox = await db.rows<{ destination: string; aggregate_id: string; event_id: string; headers: Record<string, string>; payload: string }>(
      'SELECT destination, aggregate_id, event_id, headers, payload::text AS payload FROM outbox ORDER BY id',
    );
    expect(outbox.map((row) => row.destination)).toEqual(['customer-saved', 'user-saved', 'user-saved', 'user-saved']);
    for (const row of outbox) {
      expect(row.aggregate_id).toBe(result.company.customerId);
      expect(row.headers['content-type']).toBe('application/cloudevents+json');
      expect((JSON.parse(row.payload) as { id: string }).id).toBe(row.event_id);
      expect(row.event_id).toMatch(UUID_V7);
    }
    expect(JSON.parse(outbox[0]?.payload ?? '')).toEqual(result.customerSaved);
    expect(outbox.slice(1).map((row) => JSON.parse(row.payload) as unknown)).toEqual(result.userSaved);

    const [stored] = await db.rows<{ stream_type: string; stream_id: string; event_type: string; payload: Record<string, unknown>; metadata: Record<string, unknown> }>(
      'SELECT stream_type, stream_id, event_type, payload, metadata FROM event_store',
    );
    expect(stored).toMatchObject({
      stream_type: 'CorporateCustomer',
      stream_id: result.company.customerId,
      event_type: 'CorporateCustomerRegistered',
      payload: { ...result.customerSaved.data, registered_at: '2025-10-04T12:00:00Z' },
      metadata: { correlationId: 'evt-customer-20251004120000', causationId: 'evt-customer-20251004120000' },
    });
  });

  it('creates nothing for the same event delivered again', async () => {
    const event = uniqueEvent();
    expect((await register({ registration: registration(event) })).outcome).toBe('created');
    const before = await tableCounts(db.pool);
    const again = await register({ registration: registration(event) });
    expect(again).toMatchObject({ outcome: 'duplicate', reason: 'redelivered' });
    expect(await tableCounts(db.pool)).toEqual(before);
  });

  it('creates nothing for an event re-sent with the same subject and a new id, even with other data', async () => {
    const event = uniqueEvent();
    await register({ registration: registration(event) });
    const before = await tableCounts(db.pool);
    const resent = { ...event, id: `${event.id}-resent`, data: { ...event.data, name: 'Renamed Ltd' } };
    const result = await register({ registration: registration(resent) });
    expect(result).toMatchObject({ outcome: 'duplicate', reason: 'company-already-registered' });
    expect(result.outcome === 'duplicate' && result.company.name).toBe(event.data.name);
    expect(await tableCounts(db.pool)).toEqual(before);
  });

  it('derives a stable UUID v5 company id from source and subject when the subject is not a UUID', async () => {
    const event = { ...uniqueEvent(), subject: 'acme-corp' };
    const first = await register({ registration: registration(event) });
    const resent = await register({ registration: registration({ ...event, id: 'another-id' }) });
    const expected = uuidv5(JSON.stringify(['knapscen.disco', 'subject', 'acme-corp']), COMPANY_ID_NAMESPACE);
    expect(first.outcome === 'created' && first.company.customerId).toBe(expected);
    expect(resent).toMatchObject({ outcome: 'duplicate', company: { customerId: expected } });
  });

  it('creates one company when the same event is registered by many at once', async () => {
    const event = uniqueEvent();
    const results = await Promise.all(Array.from({ length: 12 }, () => register({ registration: registration(event) })));
    expect(results.filter((result) => result.outcome === 'created')).toHaveLength(1);
    expect(results.filter((result) => result.outcome === 'duplicate')).toHaveLength(11);
    expect(await tableCounts(db.pool)).toEqual({ companies: 1, company_users: 3, event_store: 1, inbox: 1, outbox: 4, dead_letters: 0 });
  });

  it('rejects with EMAIL_TAKEN, writing nothing, when another company already has one of the e-mails (any case)', async () => {
    const first = uniqueEvent();
    await register({ registration: registration(first) });
    const before = await tableCounts(db.pool);
    const second = uniqueEvent();
    const taken = String(first.data.users[1]?.email).toUpperCase();
    second.data.users[2] = { name: 'Copy Cat', email: taken, role: 'generic_user' };
    const result = await register({ registration: registration(second) });
    expect(result.outcome).toBe('rejected');
    expect(result.outcome === 'rejected' && result.error.violations).toEqual([
      { code: 'EMAIL_TAKEN', field: 'data.users.2.email', message: 'is already used by a user of another company' },
    ]);
    expect(await tableCounts(db.pool)).toEqual(before);
  });

  it('lets exactly one of two companies racing for the same e-mail have it', async () => {
    const [a, b] = [uniqueEvent(), uniqueEvent()];
    if (a === undefined || b === undefined) throw new Error('no events');
    b.data.users[0] = { name: 'Racer', email: a.data.users[0]?.email, role: 'customer_account_owner' };
    const results = await Promise.all([register({ registration: registration(a) }), register({ registration: registration(b) })]);
    expect(results.map((result) => result.outcome).sort()).toEqual(['created', 'rejected']);
    expect((await tableCounts(db.pool)).companies).toBe(1);
  });

  it('decides registrations that arrive together in one transaction, each against the ones before it in the batch', async () => {
    // Counts the transactions the use case opens (each takes a connection from the pool).
    let transactions = 0;
    const counted = new Proxy(db.pool, {
      get(target, property, receiver) {
        if (property === 'connect') {
          return () => {
            transactions += 1;
            return target.connect();
          };
        }
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const batched = registerCorporateOn(counted);
    const same = uniqueEvent();
    const [a, b, c] = [uniqueEvent(), uniqueEvent(), uniqueEvent()];
    if (a === undefined || b === undefined || c === undefined) throw new Error('no events');
    // b wants a's owner e-mail (other case): a comes first in the batch and keeps it.
    b.data.users[0] = { name: 'Racer', email: String(a.data.users[0]?.email).toUpperCase(), role: 'customer_account_owner' };
    const results = await Promise.all([
      batched({ registration: registration(same) }),
      batched({ registration: registration(a) }),
      batched({ registration: registration(same) }),
      batched({ registration: registration(b) }),
      batched({ registration: registration(c) }),
      batched({ registration: registration({ ...a, id: 'resent-with-a-new-id' }) }),
    ]);
    expect(results.map((result) => (result.outcome === 'duplicate' ? `duplicate ${result.reason}` : result.outcome))).toEqual([
      'created',
      'created',
      'duplicate redelivered',
      'rejected',
      'created',
      'duplicate company-already-registered',
    ]);
    expect(results[3]?.outcome === 'rejected' && results[3].error.violations).toEqual([
      { code: 'EMAIL_TAKEN', field: 'data.users.0.email', message: 'is already used by a user of another company' },
    ]);
    // One transaction for all six: nothing fell back to one transaction per registration.
    expect(transactions).toBe(1);
    expect(await tableCounts(db.pool)).toEqual({ companies: 3, company_users: 9, event_store: 3, inbox: 3, outbox: 12, dead_letters: 0 });
  });

  it('starts from nothing', async () => {
    expect(await tableCounts(db.pool)).toEqual(nothing);
  });
});
