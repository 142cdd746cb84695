/**
 * Run as its own process (`node --import tsx test/support/kafka-in-span.ts`), with KAFKA_BROKERS, TOPIC, TRACEPARENT
 * and IDEMPOTENT in the environment: enables the library instrumentations the way `src/main.ts` does, starts tracing
 * into memory, publishes one message through the relay's publisher with TRACEPARENT as its trace context, consumes it
 * with the service's batch consumer, and prints one JSON line: the finished spans and the headers the consumer got.
 * (Inside vitest's module runner the client escapes the ESM hook that patches it, so this runs outside it.)
 */
import { instrumentLibraries } from '../../src/platform/telemetry/instrumentations.js';

await instrumentLibraries();
const { InMemorySpanExporter, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
const { startTracing } = await import('../../src/platform/telemetry/index.js');
const { loadConfig } = await import('../../src/config.js');
const { createLogger } = await import('../../src/platform/logger.js');
const { createKafkaClient } = await import('../../src/platform/kafka/client.js');
const { createKafkaPublisher } = await import('../../src/platform/kafka/producer.js');
const { createBatchConsumer } = await import('../../src/platform/kafka/consumer.js');

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
};
const topic = env('TOPIC');
const exporter = new InMemorySpanExporter();
const tracing = await startTracing({ ...loadConfig({}).tracing, exporter: 'none' }, { spanProcessors: [new SimpleSpanProcessor(exporter)] });
const logger = createLogger({ level: 'silent', personalData: false });
const kafka = () => createKafkaClient({ brokers: env('KAFKA_BROKERS').split(','), clientId: 'kafka-in-span' }, logger);

const publisher = createKafkaPublisher({ kafka: kafka(), topic, logger, spanName: `send ${topic}`, idempotent: env('IDEMPOTENT') === 'true' });
const traceparent = env('TRACEPARENT');
await publisher.publish([{ id: '1', eventId: 'e-1', aggregateId: 'customer-1', key: 'customer-1', payload: '{"n":1}', headers: { traceparent, eventId: 'e-1' } }]);
await publisher.disconnect();

let received: (headers: Record<string, string>) => void = () => undefined;
const arrived = new Promise<Record<string, string>>((resolve) => (received = resolve));
const consumer = createBatchConsumer({
  kafka: kafka(),
  groupId: `kafka-in-span-${Date.now()}`,
  topic,
  logger,
  retryBackoffMs: [100],
  handle: (messages) => {
    if (messages[0] !== undefined) received(messages[0].headers);
    return Promise.resolve();
  },
  onRetriesExhausted: () => Promise.resolve(),
});
consumer.start();
const headers = await arrived;
await consumer.stop();

// Read before shutdown: the in-memory exporter forgets its spans when shut down.
const spans = exporter.getFinishedSpans().map((span) => ({
  name: span.name,
  scope: span.instrumentationScope.name,
  kind: span.kind,
  traceId: span.spanContext().traceId,
  spanId: span.spanContext().spanId,
  parentSpanId: span.parentSpanContext?.spanId,
  links: span.links.map((link) => ({ traceId: link.context.traceId, spanId: link.context.spanId })),
}));
await tracing.shutdown();
process.stdout.write(`${JSON.stringify({ spans, headers })}\n`);
