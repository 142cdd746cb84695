/**
 * SPEC §6 tracing, with an in-memory exporter: one registration is one trace whose parent is the caller's
 * `traceparent`, the trace context stored with the event is the span that did the work, and publication continues it.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createOutboxRelay, type PendingMessage } from '../../src/platform/postgres/outbox-relay.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { buildTestApp } from '../support/app.js';
import { userRegistered } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { expectSpanTree, parseTraceparent, startTestTracing, traceparentOf, type SpanTree, type TestTracing } from '../support/tracing.js';
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
beforeEach(() => tracing.exporter.reset());

const INCOMING = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** The individual flow's chain up to the commit; project_read_model and publish_customer_registered join under create_customer_profile after it. */
const REGISTRATION: SpanTree = {
  consume_user_registered_event: {
    create_customer_profile: { generate_customer_number: {}, persist_customer: {}, persist_event: {} },
  },
};

const post = (event: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/api/v1/events', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(event) });

async function storedTrace(customerId: string) {
  const [row] = await db.rows<{ metadata: { traceparent?: string }; headers: { traceparent?: string } }>(
    `SELECT e.metadata, o.headers FROM event_store e JOIN outbox o ON o.event_id = e.event_id WHERE e.stream_id = $1`,
    [customerId],
  );
  return { metadata: row?.metadata.traceparent, outbox: row?.headers.traceparent };
}

describe('tracing of an individual registration', () => {
  it('makes one registration one chain of spans whose parent is the incoming traceparent', async () => {
    const response = await post(userRegistered(), { traceparent: INCOMING, tracestate: 'vendor=abc' });
    expect(response.statusCode).toBe(201);
    const spans = expectSpanTree(tracing.spans(), parseTraceparent(INCOMING), REGISTRATION);
    expect(spans.create_customer_profile?.attributes['customer_service.outcome']).toBe('created');
    expect(spans.create_customer_profile?.attributes['customer.id']).toBe(response.json<{ customerId: string }>().customerId);
  });

  it('stores, and queues for publication, the traceparent of the create_customer_profile span', async () => {
    const response = await post(userRegistered(), { traceparent: INCOMING });
    const profile = tracing.spans().find((span) => span.name === 'create_customer_profile');
    expect(profile).toBeDefined();
    const stored = await storedTrace(response.json<{ customerId: string }>().customerId);
    expect(stored).toEqual({ metadata: traceparentOf(profile!), outbox: traceparentOf(profile!) });
    expect(stored.metadata).not.toBe(INCOMING);
  });

  it('takes the trace context of a CloudEvent over the HTTP hop’s', async () => {
    const carried = '00-11111111111111111111111111111111-2222222222222222-01';
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/events',
      headers: { 'content-type': 'application/cloudevents+json', traceparent: INCOMING },
      payload: JSON.stringify({
        specversion: '1.0',
        id: 'ce-1',
        source: 'identity',
        type: 'com.acme.identity.user.registered',
        traceparent: carried,
        data: userRegistered(),
      }),
    });
    expect(response.statusCode).toBe(201);
    expectSpanTree(tracing.spans(), parseTraceparent(carried), REGISTRATION);
  });

  it.each([
    ['malformed', 'not-a-traceparent'],
    ['an all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['an unknown version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
  ])('ignores an invalid traceparent (%s): the request succeeds and a new trace starts', async (_label, traceparent) => {
    const response = await post(userRegistered(), { traceparent });
    expect(response.statusCode).toBe(201);
    const consume = tracing.spans().find((span) => span.name === 'consume_user_registered_event');
    expect(consume?.parentSpanContext).toBeUndefined();
    expect(consume?.spanContext().traceId).not.toBe(parseTraceparent(INCOMING).traceId);
    expectSpanTree(tracing.spans(), { traceId: consume!.spanContext().traceId, spanId: undefined }, REGISTRATION);
  });

  it('starts a new trace when no traceparent comes in', async () => {
    expect((await post(userRegistered())).statusCode).toBe(201);
    const consume = tracing.spans().find((span) => span.name === 'consume_user_registered_event');
    expectSpanTree(tracing.spans(), { traceId: consume!.spanContext().traceId, spanId: undefined }, REGISTRATION);
  });

  it('marks the chain of a duplicate, writing no step spans', async () => {
    const event = userRegistered();
    await post(event, { traceparent: INCOMING });
    tracing.exporter.reset();
    expect((await post(event, { traceparent: INCOMING })).statusCode).toBe(200);
    const spans = expectSpanTree(tracing.spans(), parseTraceparent(INCOMING), { consume_user_registered_event: { create_customer_profile: {} } });
    expect(spans.create_customer_profile?.attributes['customer_service.outcome']).toBe('duplicate');
    expect(tracing.spans().map((span) => span.name)).not.toContain('persist_customer');
  });
});

describe('tracing of projection and publication', () => {
  it('makes one registration the seven spans of SPEC §6 in one chain, projection and publication included', async () => {
    const incoming = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    expect((await post(userRegistered(), { traceparent: incoming })).statusCode).toBe(201);
    const relay = createOutboxRelay({
      pool: db.pool,
      ...CUSTOMER_EVENTS,
      wake: createWakeSignal(),
      logger: testLogger(),
      publish: () => Promise.resolve(),
    });
    await relay.drain();
    // The test app writes the document in the registration's transaction (as the service does): its span joins the same trace.
    const { traceId } = parseTraceparent(incoming);
    const deadline = Date.now() + 10_000;
    while (!tracing.spans().some((span) => span.name === 'project_read_model' && span.spanContext().traceId === traceId)) {
      if (Date.now() > deadline) throw new Error('no project_read_model span in the registration trace');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expectSpanTree(tracing.spans(), parseTraceparent(incoming), {
      consume_user_registered_event: {
        create_customer_profile: {
          generate_customer_number: {},
          persist_customer: {},
          persist_event: {},
          project_read_model: {},
          publish_customer_registered: {},
        },
      },
    });
  });

  it('publishes each message in a publish span that continues the stored trace, and sends that span as traceparent', async () => {
    // Earlier tests left messages of other traces in the outbox: this one gets a trace of its own.
    const incoming = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    const response = await post(userRegistered(), { traceparent: incoming });
    const customerId = response.json<{ customerId: string }>().customerId;
    const published: PendingMessage[] = [];
    const relay = createOutboxRelay({
      pool: db.pool,
      ...CUSTOMER_EVENTS,
      wake: createWakeSignal(),
      logger: testLogger(),
      publish: (messages) => {
        published.push(...messages);
        return Promise.resolve();
      },
    });
    await relay.drain();

    const spans = expectSpanTree(tracing.spans(), parseTraceparent(incoming), {
      consume_user_registered_event: { create_customer_profile: { generate_customer_number: {}, persist_customer: {}, persist_event: {}, publish_customer_registered: {} } },
    });
    const message = published.find((candidate) => candidate.aggregateId === customerId);
    expect(message?.headers.traceparent).toBe(traceparentOf(spans.publish_customer_registered!));
    expect(spans.publish_customer_registered?.attributes['messaging.message.id']).toBe(message?.eventId);
  });
});
