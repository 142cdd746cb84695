/** SPEC §6 tracing of an activation: one chain from the incoming traceparent to projection and publication. */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutboxRelay } from '../../src/platform/postgres/outbox-relay.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { buildTestApp } from '../support/app.js';
import { userActivated, userRegistered } from '../support/events.js';
import { eventually } from '../support/eventually.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { expectSpanTree, parseTraceparent, startTestTracing, type TestTracing } from '../support/tracing.js';
import { CUSTOMER_EVENTS } from '../../src/individual-customers/outbox.js';
import { testLogger } from '../support/run-logs.js';

let db: TestDatabase;
let app: FastifyInstance;
let tracing: TestTracing;

beforeAll(async () => {
  tracing = await startTestTracing();
  db = await createTestDatabase();
  ({ app } = buildTestApp(db));
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await db.drop();
  await tracing.tracing.shutdown();
});

const post = (event: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/api/v1/events', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(event) });

describe('tracing of an activation', () => {
  it('is consume_user_activated_event > activate_customer_profile > persist_event, project_read_model and publish_customer_activated', async () => {
    const registration = userRegistered();
    expect((await post(registration)).statusCode).toBe(201);
    const incoming = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    const response = await post(userActivated(registration.payload.userId), { traceparent: incoming });
    expect(response.statusCode).toBe(200);
    const published: string[] = [];
    const relay = createOutboxRelay({
      pool: db.pool,
      ...CUSTOMER_EVENTS,
      wake: createWakeSignal(),
      logger: testLogger(),
      publish: (messages) => {
        published.push(...messages.map((message) => message.headers.eventType ?? ''));
        return Promise.resolve();
      },
    });
    await relay.drain();
    expect(published).toEqual(['CustomerRegistered', 'CustomerActivated']);
    const { traceId } = parseTraceparent(incoming);
    await eventually(
      () => Promise.resolve(tracing.spans().some((span) => span.name === 'project_read_model' && span.spanContext().traceId === traceId)),
      'the project_read_model span of the activation',
    );
    const spans = expectSpanTree(tracing.spans(), parseTraceparent(incoming), {
      consume_user_activated_event: {
        activate_customer_profile: { persist_event: {}, project_read_model: {}, publish_customer_activated: {} },
      },
    });
    expect(spans.activate_customer_profile?.attributes['customer_service.outcome']).toBe('activated');
  });
});
