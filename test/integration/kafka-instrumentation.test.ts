/**
 * The Kafka client's instrumentation (src/platform/telemetry/instrumentations.ts) against the run's broker: the relay's
 * publisher and the service's batch consumer show the client's produce and consume spans, and a message keeps the
 * trace context the relay gave it (SPEC §6: the consumer downstream continues the trace that stored the event),
 * although the instrumentation writes its own into every message it sends.
 *
 * The client runs in a process of its own started as the service starts (test/support/kafka-in-span.ts): inside
 * vitest's module runner it escapes the ESM hook that patches it. Swapping the client means swapping its
 * instrumentation in instrumentations.ts and the scope name below.
 */
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { sharedKafka, type TestKafka } from '../support/kafka-test-broker.js';

const SCOPE = '@opentelemetry/instrumentation-kafkajs';
const TOPIC = 'instrumented.customer.events';
// The context the relay gives a message: its publish_customer_registered span, in the trace that stored the event.
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PUBLISH_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PUBLISH_SPAN_ID}-01`;

interface SpanRecord {
  name: string;
  scope: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  links: { traceId: string; spanId: string }[];
}

let kafka: TestKafka;
let result: { spans: SpanRecord[]; headers: Record<string, string> };

beforeAll(async () => {
  kafka = await sharedKafka({ [TOPIC]: 1 });
  const run = await runCli([], { KAFKA_BROKERS: kafka.bootstrapServers.join(','), TOPIC, TRACEPARENT, IDEMPOTENT: String(kafka.real) }, { main: 'test/support/kafka-in-span.ts' });
  expect(run.code, run.stderr).toBe(0);
  result = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') as typeof result;
}, 90_000);
afterAll(async () => {
  await kafka?.stop();
});

describe('Kafka client instrumentation', () => {
  it('produce: a send span per message under the publisher’s batch span', () => {
    const batch = result.spans.find((span) => span.scope === 'customer-service' && span.name === `send ${TOPIC}`);
    expect(batch, 'the publisher’s batch span').toBeDefined();
    const sends = result.spans.filter((span) => span.scope === SCOPE && span.name === `send ${TOPIC}`);
    expect(sends.map((span) => [span.kind, span.traceId, span.parentSpanId])).toEqual([[SpanKind.PRODUCER, batch?.traceId, batch?.spanId]]);
  });

  it('the message keeps the traceparent the relay gave it, not the send span’s', () => {
    expect(result.headers).toMatchObject({ traceparent: TRACEPARENT, eventId: 'e-1' });
  });

  it('consume: a poll span per batch, and a process span per message linked to the message’s trace context', () => {
    const consumed = result.spans.filter((span) => span.scope === SCOPE && span.name !== `send ${TOPIC}`);
    expect(consumed.map((span) => [span.name, span.kind]).sort()).toEqual([
      [`poll ${TOPIC}`, SpanKind.CLIENT],
      [`process ${TOPIC}`, SpanKind.CONSUMER],
    ]);
    const processed = consumed.find((span) => span.name === `process ${TOPIC}`);
    expect(processed?.links).toEqual([{ traceId: TRACE_ID, spanId: PUBLISH_SPAN_ID }]);
  });
});
