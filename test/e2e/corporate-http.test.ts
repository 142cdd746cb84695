/** HTTP for the corporate flow: the knapscen CloudEvent through POST /api/v1/events, and the company lookup. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { individualCustomersHttp } from '../../src/individual-customers/customers.http.js';
import { openAccess } from '../../src/platform/auth/authenticator.js';
import { findCompany } from '../../src/corporate-customers/company-store.js';
import { corporateCustomersHttp } from '../../src/corporate-customers/corporate-customers.http.js';
import { createPostgresCustomerReadModel } from '../../src/individual-customers/customer-read-model.postgres.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { CORPORATE_TABLES, customerRegisteredFixtureText, registerCorporateOn, tableCounts, uniqueEvent } from '../support/corporate.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { registerCustomersOn } from '../support/service.js';
import { testLogger } from '../support/run-logs.js';

let db: TestDatabase;
let app: FastifyInstance;

beforeAll(async () => {
  db = await createTestDatabase();
  const register = registerCorporateOn(db.pool);
  app = buildApp({
    logger: testLogger(),
    bodyLimitBytes: 1024 * 1024,
    flows: [
      individualCustomersHttp({ register: registerCustomersOn(db.pool), findCustomer: (key) => createPostgresCustomerReadModel(db.pool).find(key) }),
      corporateCustomersHttp({ register: register, findCompany: (id) => findCompany(db.pool, id) }),
    ],
    metrics: createMetrics({ defaultMetrics: false }),
    healthChecks: {},
    security: { authenticator: openAccess() },
  });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
});
beforeEach(async () => {
  await db.pool.query(`TRUNCATE ${CORPORATE_TABLES.join(', ')}`);
});

const post = (payload: string, headers: Record<string, string> = { 'content-type': 'application/cloudevents+json' }) =>
  app.inject({ method: 'POST', url: '/api/v1/events', headers, payload });

describe('POST /api/v1/events with disco.knapscen.customer.registered', () => {
  it('answers 201 with the company id, then 200 for the same event again', async () => {
    const created = await post(customerRegisteredFixtureText);
    expect(created.statusCode).toBe(201);
    expect(created.json()).toEqual({ customerId: '550e8400-e29b-41d4-a716-446655440000', outcome: 'created' });
    const again = await post(customerRegisteredFixtureText);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ customerId: '550e8400-e29b-41d4-a716-446655440000', outcome: 'duplicate' });
    expect(await tableCounts(db.pool)).toMatchObject({ companies: 1, company_users: 3, outbox: 4 });
  });

  it('registers two companies for two events with one id and different subjects; the same (source, id, subject) again is a duplicate', async () => {
    // knapscen's ids have one-second resolution: two companies sent in the same second share "evt-customer-<YYYYMMDDHHMMSS>".
    const first = uniqueEvent();
    const second = { ...uniqueEvent(), id: first.id };
    const answers = [await post(JSON.stringify(first)), await post(JSON.stringify(second))];
    expect(answers.map((answer) => [answer.statusCode, answer.json<unknown>()])).toEqual([
      [201, { customerId: first.subject, outcome: 'created' }],
      [201, { customerId: second.subject, outcome: 'created' }],
    ]);
    const again = await post(JSON.stringify(second));
    expect([again.statusCode, again.json()]).toEqual([200, { customerId: second.subject, outcome: 'duplicate' }]);
    expect(await tableCounts(db.pool)).toMatchObject({ companies: 2, company_users: 6, inbox: 2, outbox: 8 });
  });

  it('accepts binary mode (ce-* headers)', async () => {
    const event = uniqueEvent();
    const response = await post(JSON.stringify(event.data), {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-type': event.type,
      'ce-source': event.source,
      'ce-id': event.id,
      'ce-subject': event.subject ?? '',
    });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ customerId: event.subject });
  });

  it('answers 400 with the reason code for invalid data, writing nothing', async () => {
    const event = uniqueEvent();
    event.data.subscription_tier = 'platinum';
    const response = await post(JSON.stringify(event));
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.json()).toMatchObject({ code: 'UNKNOWN_TIER', errors: [{ field: 'data.subscription_tier', code: 'UNKNOWN_TIER' }] });
    expect((await tableCounts(db.pool)).companies).toBe(0);
  });

  it('answers 409 EMAIL_TAKEN when another company has one of the e-mails', async () => {
    const first = uniqueEvent();
    await post(JSON.stringify(first));
    const second = uniqueEvent();
    second.data.users[1] = { name: 'Copy', email: first.data.users[1]?.email, role: 'admin_user' };
    const response = await post(JSON.stringify(second));
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ code: 'EMAIL_TAKEN' });
  });
});

describe('GET /api/v1/corporate-customers/{id}', () => {
  it('answers the company with its users in registration order', async () => {
    await post(customerRegisteredFixtureText);
    const response = await app.inject({ url: '/api/v1/corporate-customers/550E8400-E29B-41D4-A716-446655440000' });
    expect(response.statusCode).toBe(200);
    const body = response.json<{ users: { user_id: string }[] }>();
    expect(body).toEqual({
      customer_id: '550e8400-e29b-41d4-a716-446655440000',
      name: 'TechCorp Solutions',
      subscription_tier: 'far-out',
      registered_at: '2025-10-04T12:00:00Z',
      users: [
        { user_id: body.users[0]?.user_id, name: 'John Smith', email: 'john.smith@techcorp.com', role: 'customer_account_owner' },
        { user_id: body.users[1]?.user_id, name: 'Jane Doe', email: 'jane.doe@techcorp.com', role: 'admin_user' },
        { user_id: body.users[2]?.user_id, name: 'Jim Beam', email: 'jim.beam@techcorp.com', role: 'generic_user' },
      ],
    });
  });

  it('answers 404 CUSTOMER_NOT_FOUND for an unknown id and 400 INVALID_UUID for a malformed one', async () => {
    const missing = await app.inject({ url: '/api/v1/corporate-customers/00000000-0000-4000-8000-000000000000' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'CUSTOMER_NOT_FOUND' });
    const malformed = await app.inject({ url: '/api/v1/corporate-customers/not-a-uuid' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toMatchObject({ code: 'INVALID_UUID' });
  });
});

describe('OpenAPI description', () => {
  it('documents the corporate lookup and the CloudEvent type on POST /api/v1/events', async () => {
    const document = (await app.inject({ url: '/openapi.json' })).json<{ paths: Record<string, { post?: { description?: string } }> }>();
    expect(Object.keys(document.paths)).toContain('/api/v1/corporate-customers/{id}');
    expect(document.paths['/api/v1/events']?.post?.description).toContain('disco.knapscen.customer.registered');
  });
});
