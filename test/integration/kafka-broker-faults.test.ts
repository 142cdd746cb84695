/**
 * What only a real broker can show about the Kafka flow: a lost produce response retried by the relay's idempotent
 * producer, the broker process killed and restarted mid-stream, and topics that do not exist when the service starts.
 * The broker is this file's own, behind a proxy, with Kafka's default `auto.create.topics.enable=true`.
 */
import type { Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaFlow, type KafkaFlow } from '../../src/individual-customers/kafka-flow.js';
import { loadConfig } from '../../src/config.js';
import { createKafkaPublisher } from '../../src/platform/kafka/producer.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { createOutboxRelay } from '../../src/platform/postgres/outbox-relay.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { userRegistered } from '../support/events.js';
import { eventually, plainKafka, produce, readTopic, silentLogger, testKafkaClient, topicSize } from '../support/kafka.js';
import type { KafkaBroker } from '../support/kafka-broker.js';
import { settledOutcome, startFlow } from '../support/kafka-flow.js';
import { kafkaDescription, realKafka } from '../support/kafka-test-broker.js';
import { createTestDatabase } from '../support/postgres.js';
import { registerCustomersOn, valid } from '../support/service.js';

let broker: KafkaBroker;
let kafka: Kafka;
let producer: Producer;

beforeAll(async () => {
  broker = await realKafka({ proxied: true, properties: { 'auto.create.topics.enable': 'true' } });
  kafka = plainKafka(broker.bootstrapServers);
  producer = kafka.producer({ retry: { retries: 10, initialRetryTime: 300 } });
  await producer.connect();
}, 180_000);
afterAll(async () => {
  await producer?.disconnect();
  await broker?.stop();
});

const messagesOf = (events: ReturnType<typeof userRegistered>[]) => events.map((event) => ({ key: event.payload.userId, value: JSON.stringify(event) }));
const listTopics = async () => {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
};

describe(`the Kafka flow on a real broker [${kafkaDescription}]`, () => {
  it('writes each outbox message once although the broker acted on a produce whose response was lost (idempotent producer)', async () => {
    const output = 'faults.lost-response.customer.events';
    await broker.createTopic(output, 2);
    const db = await createTestDatabase();
    const wake = createWakeSignal();
    const register = registerCustomersOn(db.pool, { onCommitted: () => wake.notify() });
    const publisher = createKafkaPublisher({ kafka: testKafkaClient(broker.bootstrapServers), topic: output, logger: silentLogger, spanName: `send ${output}` });
    const relay = createOutboxRelay({ pool: db.pool, destination: 'customer-events', publish: (m) => publisher.publish(m), wake, logger: silentLogger, maxBackoffMs: 500 });
    const unpublished = async () => Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL'))[0]?.n);
    relay.start();
    try {
      await register(Array.from({ length: 20 }, () => ({ event: valid(userRegistered()) })));
      await eventually(unpublished, (n) => n === 0, { what: 'the first 20 published' });

      // The next send reaches the broker, which appends it; its acknowledgement never arrives, the connection drops,
      // and the client sends the same batch again.
      const losing = broker.loseResponses(1_500);
      await register(Array.from({ length: 20 }, () => ({ event: valid(userRegistered()) })));
      const lost = await losing;
      expect(lost, 'a produce response was lost').toBeGreaterThan(0);
      await eventually(unpublished, (n) => n === 0, { what: 'the next 20 published', timeoutMs: 30_000 });

      const published = await topicSize(kafka, output);
      const messages = await readTopic(kafka, output, published);
      expect(new Set(messages.map((message) => message.headers.eventId)).size).toBe(40);
      expect(published, 'no message written twice').toBe(40);
    } finally {
      await relay.stop();
      await publisher.disconnect();
      await db.drop();
    }
  }, 90_000);

  it('loses and duplicates nothing when the broker process is killed and restarted mid-stream', async () => {
    const input = 'faults.restart.identity.user.events';
    const output = 'faults.restart.customer.events';
    await broker.createTopic(input, 4);
    await broker.createTopic(output, 4);
    const db = await createTestDatabase();
    const groupId = `faults-restart-${Date.now()}`;
    const flow = await startFlow({ brokers: broker.bootstrapServers, pool: db.pool, groupId, input, output, retryBackoffMs: [200, 400, 800, 1600], relayMaxBackoffMs: 1_000 });
    const customers = async () => Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM customers'))[0]?.n);
    try {
      await produce(producer, input, messagesOf(Array.from({ length: 1_000 }, () => userRegistered())));
      await eventually(customers, (n) => n >= 100, { what: 'consumption under way', intervalMs: 20 });
      await broker.stopNode(1, 'SIGKILL');
      const atKill = await customers();
      expect(atKill, 'killed mid-stream').toBeLessThan(1_000);
      // Registrations from elsewhere (HTTP) while the broker is away: the relay tries, fails, and keeps them.
      await registerCustomersOn(db.pool)(Array.from({ length: 100 }, () => ({ event: valid(userRegistered()) })));
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await broker.startNode(1);
      await produce(producer, input, messagesOf(Array.from({ length: 1_000 }, () => userRegistered())));

      const outcome = await settledOutcome({ kafka, db, groupId, input, output });
      expect(outcome).toMatchObject({ customers: 2_100, distinctUsers: 2_100, events: 2_100, unpublished: 0, deadLetters: 0, customersWithoutEvent: 0, publishedDistinct: 2_100 });
      console.info(`broker killed at ${atKill} customers; ${outcome.published} CustomerRegistered published for 2100 customers`);
    } finally {
      await flow.stop();
      await db.drop();
    }
  }, 240_000);

  it('does not create missing topics: it waits for the input topic and keeps the output in the outbox until they exist', async () => {
    const input = 'faults.missing.identity.user.events';
    const output = 'faults.missing.customer.events';
    const db = await createTestDatabase();
    const { kafka: config } = loadConfig({
      KAFKA_BROKERS: broker.bootstrapServers.join(','),
      KAFKA_INPUT_TOPIC: input,
      KAFKA_OUTPUT_TOPIC: output,
      KAFKA_GROUP_ID: `faults-missing-${Date.now()}`,
      RETRY_BACKOFF_MS: '200,400',
    });
    const wake = createWakeSignal();
    let flow: KafkaFlow | undefined;
    try {
      flow = startKafkaFlow({
        config,
        pool: db.pool,
        register: registerCustomersOn(db.pool, { onCommitted: () => wake.notify() }),
        logger: silentLogger,
        metrics: createMetrics({ defaultMetrics: false }),
        relayWake: wake,
        relayMaxBackoffMs: 1_000,
      });
      // Registrations from elsewhere (HTTP) wait in the outbox for the output topic.
      await registerCustomersOn(db.pool, { onCommitted: () => wake.notify() })(Array.from({ length: 10 }, () => ({ event: valid(userRegistered()) })));
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      const topics = await listTopics();
      expect(topics, 'the service created no topic, although the broker would auto-create them').not.toContain(input);
      expect(topics).not.toContain(output);
      expect(Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL'))[0]?.n)).toBe(10);

      await broker.createTopic(input, 3);
      const events = Array.from({ length: 100 }, () => userRegistered());
      await produce(producer, input, messagesOf(events));
      await eventually(async () => Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM customers'))[0]?.n), (n) => n === 110, {
        what: 'the input consumed from its beginning once the topic exists',
        timeoutMs: 60_000,
        intervalMs: 250,
      });
      await broker.createTopic(output, 3);
      const outcome = await settledOutcome({ kafka, db, groupId: config.groupId, input, output });
      expect(outcome).toMatchObject({ customers: 110, distinctUsers: 110, unpublished: 0, deadLetters: 0, customersWithoutEvent: 0, publishedDistinct: 110 });
    } finally {
      await flow?.stop();
      await db.drop();
    }
  }, 180_000);
});
