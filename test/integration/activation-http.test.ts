import type { FastifyInstance } from 'fastify';
import { v4 as uuidv4 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Metrics } from '../../src/platform/metrics.js';
import { buildTestApp } from '../support/app.js';
import { userActivated, userRegistered } from '../support/events.js';
import { eventually } from '../support/eventually.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

// Activation (US-0002-06) over POST /api/v1/events, on a real PostgreSQL; lookups read the PostgreSQL read model.
let db: TestDatabase;
let app: FastifyInstance;
let metrics: Metrics;

beforeAll(async () => {
  db = await createTestDatabase();
  ({ app, metrics } = buildTestApp(db));
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

const post = (payload: unknown, contentType = 'application/json') =>
  app.inject({ method: 'POST', url: '/api/v1/events', headers: { 'content-type': contentType }, payload: JSON.stringify(payload) });

async function register() {
  const event = userRegistered();
  const response = await post(event);
  expect(response.statusCode).toBe(201);
  const body = response.json<{ customerId: string; customerNumber: string }>();
  return { event, customerId: body.customerId, customerNumber: body.customerNumber };
}

async function counts() {
  const [row] = await db.rows<{ events: string; inbox: string; outbox: string; active: string }>(
    `SELECT (SELECT count(*) FROM event_store) AS events, (SELECT count(*) FROM inbox) AS inbox,
            (SELECT count(*) FROM outbox) AS outbox, (SELECT count(*) FROM customers WHERE status = 'ACTIVE') AS active`,
  );
  return row;
}

const activatedCount = async (status: string) =>
  (await metrics.customerActivated.get()).values.find((value) => value.labels.status === status)?.value ?? 0;

describe('UserActivated over POST /api/v1/events', () => {
  it('activates: 200 activated, the row, the event (version 2), the inbox, the outbox and the read model in one go', async () => {
    const { event: registration, customerId, customerNumber } = await register();
    const activation = userActivated(registration.payload.userId, { activatedAt: '2026-01-02T11:00:00.250Z' });
    const response = await post(activation);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ customerId, customerNumber, status: 'ACTIVE', outcome: 'activated' });

    const [row] = await db.rows<{ status: string; email_verified: boolean; last_activity_at: Date }>(
      'SELECT status, email_verified, last_activity_at FROM customers WHERE id = $1',
      [customerId],
    );
    expect(row).toEqual({ status: 'ACTIVE', email_verified: true, last_activity_at: new Date('2026-01-02T11:00:00.250Z') });

    const events = await db.rows<{ event_type: string; stream_version: number; payload: unknown; metadata: { correlationId: string; causationId: string } }>(
      'SELECT event_type, stream_version, payload, metadata FROM event_store WHERE stream_id = $1 ORDER BY stream_version',
      [customerId],
    );
    expect(events.map((e) => [e.event_type, e.stream_version])).toEqual([['CustomerRegistered', 1], ['CustomerActivated', 2]]);
    expect(events[1]?.metadata).toMatchObject({ correlationId: activation.correlationId, causationId: activation.eventId });
    expect(await db.rows('SELECT message_type FROM inbox WHERE message_id = $1', [activation.eventId])).toEqual([{ message_type: 'UserActivated' }]);

    const outbox = await db.rows<{ headers: Record<string, string>; payload: Record<string, unknown>; message_key: string }>(
      `SELECT headers, payload, message_key FROM outbox WHERE aggregate_id = $1 ORDER BY id`,
      [customerId],
    );
    expect(outbox.map((m) => (m.payload as { eventType: string }).eventType)).toEqual(['CustomerRegistered', 'CustomerActivated']);
    const published = outbox[1];
    expect(published?.message_key).toBe(customerId);
    expect(published?.payload).toEqual({
      eventId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/) as string,
      eventType: 'CustomerActivated',
      eventVersion: '1.0',
      timestamp: '2026-01-02T11:00:02Z',
      aggregateId: customerId,
      aggregateType: 'Customer',
      correlationId: activation.correlationId,
      causationId: activation.eventId,
      payload: { customerId, userId: registration.payload.userId, customerNumber, status: 'ACTIVE', emailVerified: true, activatedAt: '2026-01-02T11:00:00.250Z' },
    });
    expect(Object.keys(published?.payload ?? {})).toEqual([
      'eventId', 'eventType', 'eventVersion', 'timestamp', 'aggregateId', 'aggregateType', 'correlationId', 'causationId', 'payload',
    ]);
    // The same headers as CustomerRegistered.
    expect(Object.keys(published?.headers ?? {}).sort()).toEqual(Object.keys(outbox[0]?.headers ?? {}).sort());
    expect(published?.headers).toMatchObject({
      eventType: 'CustomerActivated',
      eventId: (published?.payload as { eventId: string }).eventId,
      correlationId: activation.correlationId,
      causationId: activation.eventId,
      'content-type': 'application/json',
    });

    // The read model: ACTIVE, verified, lastActivityAt = activatedAt, at _version 2.
    const document = await eventually(async () => {
      const lookup = await app.inject({ method: 'GET', url: `/api/v1/customers/${customerId}` });
      const body = lookup.json<{ status?: string }>();
      return body.status === 'ACTIVE' ? body : undefined;
    }, 'the active document');
    expect(document).toMatchObject({
      status: 'ACTIVE',
      email: { address: registration.payload.email, verified: true },
      registeredAt: '2026-01-02T10:30:01Z',
      lastActivityAt: '2026-01-02T11:00:00.250Z',
      customerNumber,
    });
    expect(await db.rows('SELECT version FROM customer_documents WHERE customer_id = $1', [customerId])).toEqual([{ version: 2 }]);
  });

  it('answers a redelivery, and another activation of an active customer, with 200 duplicate and writes nothing', async () => {
    const { event: registration, customerId } = await register();
    const activation = userActivated(registration.payload.userId);
    expect((await post(activation)).statusCode).toBe(200);
    const before = await counts();
    const redelivered = await post(activation);
    expect(redelivered.statusCode).toBe(200);
    expect(redelivered.json()).toMatchObject({ customerId, status: 'ACTIVE', outcome: 'duplicate' });
    const again = await post(userActivated(registration.payload.userId, { activatedAt: '2026-01-03T00:00:00Z' }));
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ customerId, outcome: 'duplicate' });
    expect(await counts()).toEqual(before);
    const [row] = await db.rows<{ last_activity_at: Date }>('SELECT last_activity_at FROM customers WHERE id = $1', [customerId]);
    expect(row?.last_activity_at).toEqual(new Date('2026-01-02T11:00:00Z'));
  });

  it('answers 409 CUSTOMER_NOT_FOUND for a user without a customer, writes nothing, and activates once the registration is in', async () => {
    const registration = userRegistered();
    const activation = userActivated(registration.payload.userId);
    const before = await counts();
    const early = await post(activation);
    expect(early.statusCode).toBe(409);
    expect(early.headers['content-type']).toContain('application/problem+json');
    expect(early.json()).toMatchObject({ status: 409, code: 'CUSTOMER_NOT_FOUND' });
    expect(await counts()).toEqual(before);

    expect((await post(registration)).statusCode).toBe(201);
    const late = await post(activation);
    expect(late.statusCode).toBe(200);
    expect(late.json()).toMatchObject({ status: 'ACTIVE', outcome: 'activated' });
  });

  it('takes a CloudEvent of type com.acme.identity.user.activated whose data is the envelope (structured and binary)', async () => {
    const first = await register();
    const structured = await post(
      { specversion: '1.0', id: uuidv4(), source: 'identity-service', type: 'com.acme.identity.user.activated', datacontenttype: 'application/json', data: userActivated(first.event.payload.userId) },
      'application/cloudevents+json',
    );
    expect(structured.statusCode).toBe(200);
    expect(structured.json()).toMatchObject({ customerId: first.customerId, outcome: 'activated' });

    const second = await register();
    const binary = await app.inject({
      method: 'POST',
      url: '/api/v1/events',
      headers: {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': uuidv4(),
        'ce-source': 'identity-service',
        'ce-type': 'com.acme.identity.user.activated',
      },
      payload: JSON.stringify(userActivated(second.event.payload.userId)),
    });
    expect(binary.statusCode).toBe(200);
    expect(binary.json()).toMatchObject({ customerId: second.customerId, outcome: 'activated' });
  });

  it('rejects invalid activations with 400 and the reason codes of registration, writing nothing', async () => {
    const { event: registration } = await register();
    const valid = userActivated(registration.payload.userId);
    const before = await counts();
    const cases: [unknown, string, string][] = [
      [{ ...valid, payload: { userId: valid.payload.userId, activationMethod: 'EMAIL_VERIFICATION' } }, 'MISSING_FIELD', 'payload.activatedAt'],
      [{ ...valid, payload: { ...valid.payload, userId: 'user-1' } }, 'INVALID_UUID', 'payload.userId'],
      [{ ...valid, payload: { ...valid.payload, activatedAt: 'yesterday' } }, 'INVALID_TIMESTAMP', 'payload.activatedAt'],
      [{ ...valid, payload: { ...valid.payload, activationMethod: '' } }, 'FIELD_EMPTY', 'payload.activationMethod'],
      [{ ...valid, eventId: 'evt-1' }, 'INVALID_UUID', 'eventId'],
      [{ ...valid, eventVersion: '2.0' }, 'UNSUPPORTED_EVENT_VERSION', 'eventVersion'],
    ];
    for (const [body, code, field] of cases) {
      const response = await post(body);
      expect(response.statusCode, code).toBe(400);
      expect(response.json()).toMatchObject({ code, errors: expect.arrayContaining([expect.objectContaining({ field, code })]) as unknown });
    }
    expect(await counts()).toEqual(before);
    expect(await activatedCount('rejected')).toBeGreaterThanOrEqual(cases.length);
  });

  it('does not take EmailVerified over HTTP (415: an event type this service does not handle)', async () => {
    const response = await post({ eventId: uuidv4(), eventType: 'EmailVerified', eventVersion: '1.0', timestamp: '2026-01-02T10:59:00Z', payload: {} });
    expect(response.statusCode).toBe(415);
    expect(response.json()).toMatchObject({ code: 'UNSUPPORTED_EVENT_TYPE' });
  });

  it('counts outcomes in customer_activated_total and the lag in event_processing_lag_seconds{event_type="UserActivated"}', async () => {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/customer_activated_total\{status="activated"\} [1-9]/);
    expect(text).toMatch(/customer_activated_total\{status="duplicate"\} [1-9]/);
    expect(text).toMatch(/customer_activated_total\{status="not_found"\} [1-9]/);
    expect(text).toMatch(/event_processing_lag_seconds_count\{event_type="UserActivated"\} [1-9]/);
  });
});
