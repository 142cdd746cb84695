/**
 * NATS_PUBLISH_EMAILS=false (issue 16): `user-saved` and `customer-saved` are written to the outbox, and so
 * published, without e-mail addresses; the company and its users keep theirs in the database and the lookup.
 */
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCompany } from '../../src/corporate-customers/company-store.js';
import { createRegisterCorporateCustomer } from '../../src/corporate-customers/register-corporate-customer.js';
import { registration, uniqueEvent } from '../support/corporate.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

const outboxOf = async (customerId: string) =>
  db.rows<{ destination: string; payload: { data: Record<string, unknown> } }>('SELECT destination, payload FROM outbox WHERE aggregate_id = $1 OR payload::jsonb -> \'data\' ->> \'customer_id\' = $1 ORDER BY id', [customerId]);

describe('CloudEvents without e-mail addresses', () => {
  it('by default, user-saved carries user_email and customer-saved its users’ email', async () => {
    const register = createRegisterCorporateCustomer({ pool: db.pool, clock: () => new Date(), newId: () => uuidv7() });
    const result = await register({ registration: registration(uniqueEvent()) });
    if (result.outcome !== 'created') throw new Error(result.outcome);
    const rows = await outboxOf(result.company.customerId);
    expect(rows.filter((row) => row.destination === 'user-saved').every((row) => typeof row.payload.data.user_email === 'string')).toBe(true);
    expect(JSON.stringify(rows)).toContain('@example.com');
  });

  it('with publishEmails false, no outbox message holds an e-mail address, but the company keeps them', async () => {
    const register = createRegisterCorporateCustomer({ pool: db.pool, clock: () => new Date(), newId: () => uuidv7(), publishEmails: false });
    const event = uniqueEvent();
    const result = await register({ registration: registration(event) });
    if (result.outcome !== 'created') throw new Error(result.outcome);
    const rows = await outboxOf(result.company.customerId);
    expect(rows.map((row) => row.destination).sort()).toEqual(['customer-saved', 'user-saved', 'user-saved', 'user-saved']);
    expect(JSON.stringify(rows)).not.toContain('@');
    const userSaved = rows.find((row) => row.destination === 'user-saved');
    expect(Object.keys(userSaved?.payload.data ?? {}).sort()).toEqual(['customer_id', 'customer_name', 'email_template', 'user_id', 'user_name', 'user_role']);
    const company = await findCompany(db.pool, result.company.customerId);
    expect(company?.users.map((user) => user.email).sort()).toEqual(event.data.users.map((user) => user.email).sort());
  });
});
