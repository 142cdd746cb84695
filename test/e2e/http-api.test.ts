import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../support/app.js';
import { userRegistered, userRegisteredFixture } from '../support/events.js';
import { eventually } from '../support/eventually.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
let app: FastifyInstance;

beforeAll(async () => {
  db = await createTestDatabase();
  ({ app } = buildTestApp(db, { bodyLimitBytes: 16 * 1024 }));
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

const postEvent = (payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/events',
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });

/** Lookups read the read model: a registration shows there once projected, moments after its commit. */
const untilVisible = (url: string) =>
  eventually(
    async () => {
      const response = await app.inject({ method: 'GET', url });
      return response.statusCode === 200 ? response : undefined;
    },
    { what: `${url} to answer 200` },
  );

async function tableCounts() {
  const [row] = await db.rows<{ customers: string; events: string; inbox: string; outbox: string }>(
    `SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM event_store) AS events,
            (SELECT count(*) FROM inbox) AS inbox, (SELECT count(*) FROM outbox) AS outbox`,
  );
  return row;
}

describe('POST /api/v1/events, then the four lookups', () => {
  it('registers the fixture and serves the seed’s profile document, field by field, from every lookup', async () => {
    const created = await postEvent(userRegisteredFixture);
    expect(created.statusCode).toBe(201);
    const body = created.json<{ customerId: string; customerNumber: string; outcome: string }>();
    expect(body).toMatchObject({ customerNumber: 'ACME-202601-000001', outcome: 'created' });

    const expected = {
      customerId: body.customerId,
      userId: '01941234-5678-7abc-def0-123456789abc',
      customerNumber: 'ACME-202601-000001',
      name: { firstName: 'Jane', lastName: 'Doe', displayName: 'Jane Doe' },
      email: { address: 'customer@example.com', verified: false },
      phone: null,
      status: 'PENDING_VERIFICATION',
      type: 'INDIVIDUAL',
      profile: { dateOfBirth: null, gender: null, preferredLocale: 'en-US', timezone: 'UTC', preferredCurrency: 'USD' },
      preferences: {
        communication: { email: true, sms: false, push: false, marketing: false },
        privacy: { shareDataWithPartners: false, allowAnalytics: true },
      },
      addresses: [],
      segments: [],
      registeredAt: '2026-01-02T10:30:01Z',
      lastActivityAt: '2026-01-02T10:30:01Z',
      profileCompleteness: 25,
    };
    await untilVisible(`/api/v1/customers/${body.customerId}`);
    for (const url of [
      `/api/v1/customers/${body.customerId}`,
      '/api/v1/customers/by-user/01941234-5678-7abc-def0-123456789abc',
      '/api/v1/customers/by-number/ACME-202601-000001',
      '/api/v1/customers/by-email/customer@example.com',
      '/api/v1/customers/by-email/Customer@Example.com',
    ]) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      expect(response.json(), url).toStrictEqual(expected);
    }
  });

  it('answers 200 with the same customer for a duplicate, and writes nothing', async () => {
    const event = userRegistered();
    const first = (await postEvent(event)).json<{ customerId: string }>();
    const before = await tableCounts();
    const again = await postEvent(event);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ customerId: first.customerId, outcome: 'duplicate' });
    const sameUser = await postEvent(userRegistered({ userId: event.payload.userId }));
    expect(sameUser.statusCode).toBe(200);
    expect(sameUser.json()).toMatchObject({ customerId: first.customerId, outcome: 'duplicate' });
    expect(await tableCounts()).toEqual(before);
  });

  it('accepts the event as a structured CloudEvent', async () => {
    const event = userRegistered();
    const response = await postEvent(
      { specversion: '1.0', id: event.eventId, source: 'identity-service', type: 'com.acme.identity.user.registered', data: event },
      { 'content-type': 'application/cloudevents+json; charset=utf-8' },
    );
    expect(response.statusCode).toBe(201);
    const lookup = await untilVisible(`/api/v1/customers/by-user/${event.payload.userId}`);
    expect(lookup.json()).toMatchObject({ userId: event.payload.userId, email: { address: event.payload.email } });
  });

  it('accepts the event as a binary-mode CloudEvent, taking traceparent from the ce- attributes', async () => {
    const event = userRegistered();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const response = await postEvent(event, {
      'ce-specversion': '1.0',
      'ce-id': event.eventId,
      'ce-source': 'identity-service',
      'ce-type': 'com.acme.identity.user.registered',
      'ce-traceparent': traceparent,
    });
    expect(response.statusCode).toBe(201);
    const [row] = await db.rows<{ traceparent: string }>(
      `SELECT metadata->>'traceparent' AS traceparent FROM event_store WHERE metadata->>'causationId' = $1`,
      [event.eventId],
    );
    expect(row?.traceparent).toBe(traceparent);
  });
});

describe('what bad input gets', () => {
  const cases: [string, () => ReturnType<typeof postEvent>, number, string, string?][] = [
    ['malformed JSON', () => postEvent('{"eventId": '), 400, 'MALFORMED_JSON'],
    ['an empty body', () => postEvent(''), 400, 'MALFORMED_JSON'],
    ['a JSON array', () => postEvent([1, 2]), 400, 'INVALID_TYPE'],
    ['no eventType', () => postEvent({ ...userRegistered(), eventType: undefined }), 400, 'MISSING_FIELD', 'eventType'],
    ['a missing field', () => postEvent({ ...userRegistered(), payload: { ...userRegistered().payload, firstName: undefined } }), 400, 'MISSING_FIELD', 'payload.firstName'],
    ['a wrong type', () => postEvent({ ...userRegistered(), payload: { ...userRegistered().payload, marketingOptIn: 'no' } }), 400, 'INVALID_TYPE', 'payload.marketingOptIn'],
    ['an invalid email', () => postEvent(userRegistered({ email: 'jane@' })), 400, 'INVALID_EMAIL', 'payload.email'],
    ['an invalid UUID', () => postEvent(userRegistered({ eventId: 'evt-1' })), 400, 'INVALID_UUID', 'eventId'],
    ['an unparseable timestamp', () => postEvent(userRegistered({ timestamp: '2026-13-45T99:00:00Z' })), 400, 'INVALID_TIMESTAMP', 'timestamp'],
    ['an unknown event type', () => postEvent({ ...userRegistered(), eventType: 'EmailVerified' }), 415, 'UNSUPPORTED_EVENT_TYPE'],
    ['an unsupported content type', () => app.inject({ method: 'POST', url: '/api/v1/events', headers: { 'content-type': 'text/plain' }, payload: 'hello' }), 415, 'UNSUPPORTED_CONTENT_TYPE'],
    ['an oversized body', () => postEvent({ ...userRegistered(), padding: 'x'.repeat(20 * 1024) }), 413, 'PAYLOAD_TOO_LARGE'],
    ['a CloudEvent without id', () => postEvent({ specversion: '1.0', source: 's', type: 'com.acme.identity.user.registered', data: userRegistered() }, { 'content-type': 'application/cloudevents+json' }), 400, 'INVALID_CLOUDEVENT', 'id'],
    ['a CloudEvent of an unknown type', () => postEvent({ specversion: '1.0', id: '1', source: 's', type: 'com.example.other', data: {} }, { 'content-type': 'application/cloudevents+json' }), 415, 'UNSUPPORTED_EVENT_TYPE'],
    ['a CloudEvent whose data is invalid', () => postEvent({ specversion: '1.0', id: '1', source: 's', type: 'com.acme.identity.user.registered', data: userRegistered({ email: 'x' }) }, { 'content-type': 'application/cloudevents+json' }), 400, 'INVALID_EMAIL', 'data.payload.email'],
  ];

  it.each(cases)('%s: a problem+json with its reason code, and nothing written', async (_name, send, status, code, field) => {
    const before = await tableCounts();
    const response = await send();
    expect(response.statusCode).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = response.json<Record<string, unknown>>();
    expect(problem).toMatchObject({ status, code, path: '/api/v1/events' });
    for (const member of ['error', 'message', 'timestamp', 'title', 'detail']) expect(typeof problem[member]).toBe('string');
    expect(JSON.stringify(problem)).not.toMatch(/at .*\.ts:\d+/);
    if (field !== undefined) expect(problem.errors).toContainEqual(expect.objectContaining({ field, code }));
    expect(await tableCounts()).toEqual(before);
  });
});

describe('lookups', () => {
  it.each([
    ['/api/v1/customers/not-a-uuid', 'INVALID_UUID'],
    ['/api/v1/customers/by-user/123', 'INVALID_UUID'],
    ['/api/v1/customers/by-number/ACME-2026-1', 'INVALID_VALUE'],
    ['/api/v1/customers/by-email/not-an-email', 'INVALID_EMAIL'],
  ])('%s is a 400 with code %s', async (url, code) => {
    const response = await app.inject({ method: 'GET', url });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code });
  });

  it.each([
    '/api/v1/customers/01941234-5678-7abc-8ef0-000000000000',
    '/api/v1/customers/by-user/01941234-5678-7abc-8ef0-000000000000',
    '/api/v1/customers/by-number/ACME-209912-000001',
    '/api/v1/customers/by-email/nobody@example.com',
  ])('%s is a 404 when absent', async (url) => {
    const response = await app.inject({ method: 'GET', url });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'CUSTOMER_NOT_FOUND', status: 404 });
  });
});

describe('health', () => {
  it.each(['/health/live', '/health/ready', '/actuator/health'])('%s is UP', async (url) => {
    const response = await app.inject({ method: 'GET', url });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ status: 'UP' });
  });
});

describe('API description', () => {
  it('serves an OpenAPI document listing every endpoint, and a docs page', async () => {
    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    const document = response.json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(document.openapi).toMatch(/^3\./);
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/customers/{customerId}',
        '/api/v1/customers/by-user/{userId}',
        '/api/v1/customers/by-number/{customerNumber}',
        '/api/v1/customers/by-email/{email}',
        '/api/v1/events',
        '/health/ready',
        '/metrics',
      ]),
    );
    const docs = await app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/text\/html/);
  });
});
