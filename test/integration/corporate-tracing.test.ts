/**
 * Tracing of the corporate flow (SPEC §6): the spans are there, under the trace of the incoming message's W3C
 * `traceparent` header, and the trace context is forwarded on the published events.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCorporateNats, type CorporateNats } from '../../src/corporate-customers/corporate-nats.js';
import { createRegisterCorporateCustomer } from '../../src/corporate-customers/register-corporate-customer.js';
import { createWakeSignal, fanOut } from '../../src/platform/wake-signal.js';
import { messagesOn, natsConfigFor, uniqueEvent } from '../support/corporate.js';
import { eventually } from '../support/eventually.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();

let db: TestDatabase;
let server: NatsServer;
let running: CorporateNats;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startNatsServer();
  const wake = { customerSaved: createWakeSignal(), userSaved: createWakeSignal() };
  const register = createRegisterCorporateCustomer({ pool: db.pool, clock: () => new Date(), newId: () => uuidv7(), onCommitted: fanOut(wake.customerSaved, wake.userSaved) });
  running = await startCorporateNats({ config: natsConfigFor(server.url), pool: db.pool, register, logger: testLogger(), wake });
});
afterAll(async () => {
  await running?.stop();
  await server?.close();
  await db?.drop();
  await provider.shutdown();
});

describe('corporate flow tracing', () => {
  it('records the SPEC §6 spans under the incoming traceparent and forwards it on the published events', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;
    const client = await connect({ servers: server.url });
    let outgoing: string[];
    try {
      const h = natsHeaders();
      h.set('traceparent', traceparent);
      await jetstream(client).publish('customer-registered', JSON.stringify(uniqueEvent()), { headers: h });
      const published = await eventually(async () => {
        const messages = await messagesOn(client, 'user-saved');
        return messages.length === 3 ? messages : undefined;
      }, 'user-saved published');
      outgoing = [...published, ...(await messagesOn(client, 'customer-saved'))].map((message) => message.headers.traceparent ?? '');
    } finally {
      await client.close();
    }
    const spans = await eventually(() => {
      const finished = exporter.getFinishedSpans();
      return Promise.resolve(finished.some((span) => span.name === 'publish_user_saved') ? finished : undefined);
    }, 'publish spans');
    const names = new Set(spans.map((span) => span.name));
    for (const name of ['consume_customer_registered_event', 'register_corporate_customer', 'persist_corporate_customer', 'persist_event', 'publish_customer_saved', 'publish_user_saved']) {
      expect(names).toContain(name);
    }
    const byName = (name: string) => spans.find((span) => span.name === name);
    expect(byName('consume_customer_registered_event')?.spanContext().traceId).toBe(traceId);
    expect(byName('register_corporate_customer')?.spanContext().traceId).toBe(traceId);
    expect(byName('persist_event')?.spanContext().traceId).toBe(traceId);
    // Each published event carries its own publish span as parent: the same trace continues downstream.
    const publishSpans = new Set(
      spans.filter((span) => span.name === 'publish_customer_saved' || span.name === 'publish_user_saved').map((span) => `00-${traceId}-${span.spanContext().spanId}-01`),
    );
    expect(outgoing).toHaveLength(4);
    for (const header of outgoing) expect(publishSpans).toContain(header);
  });
});
