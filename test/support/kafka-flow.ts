/** The Kafka side of the individual flow, wired in process against a test database and the test broker. */
import { createUserEventsConsumer, type UserEventsConsumerOptions } from '../../src/individual-customers/user-events.consumer.js';
import type { BatchConsumer } from '../../src/platform/kafka/consumer.js';
import { createKafkaPublisher } from '../../src/platform/kafka/producer.js';
import { createMetrics, type Metrics } from '../../src/platform/metrics.js';
import type { Pool } from '../../src/platform/postgres/database.js';
import { createOutboxRelay, type OutboxRelay } from '../../src/platform/postgres/outbox-relay.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import type { Kafka } from 'kafkajs';
import { eventually, offsetsOf, readTopic, silentLogger, testKafkaClient, topicSize } from './kafka.js';
import { kafkaIsReal } from './kafka-test-broker.js';
import type { TestDatabase } from './postgres.js';
import { registerCustomersOn } from './service.js';

export interface FlowOptions {
  readonly brokers: readonly string[];
  readonly pool: Pool;
  readonly groupId: string;
  readonly input: string;
  /** Publish customer.events to this topic; no relay when absent. */
  readonly output?: string;
  readonly retryBackoffMs?: readonly number[];
  readonly sessionTimeoutMs?: number;
  readonly maxMessageBytes?: number;
  readonly onRetryScheduled?: UserEventsConsumerOptions['onRetryScheduled'];
  /** Longest wait of the relay between attempts. Default 30 s, as in the service. */
  readonly relayMaxBackoffMs?: number;
  /** Idempotent relay producer: default on a real broker (the mock fallback cannot). */
  readonly idempotent?: boolean;
}

export interface RunningFlow {
  readonly consumer: BatchConsumer;
  readonly relay?: OutboxRelay;
  readonly metrics: Metrics;
  /** Joins of the consumer group so far (1 = no rebalance). */
  groupJoins(): Promise<number>;
  stop(): Promise<void>;
}

export async function startFlow(options: FlowOptions): Promise<RunningFlow> {
  const metrics = createMetrics({ defaultMetrics: false });
  const wake = createWakeSignal();
  const client = testKafkaClient(options.brokers);
  const register = registerCustomersOn(options.pool, { metrics, onCommitted: () => wake.notify() });
  const consumer = createUserEventsConsumer({
    kafka: client,
    register,
    pool: options.pool,
    logger: silentLogger,
    metrics,
    maxMessageBytes: options.maxMessageBytes ?? 1024 * 1024,
    groupId: options.groupId,
    topic: options.input,
    retryBackoffMs: options.retryBackoffMs ?? [100, 200],
    batchSize: 500,
    partitionsConsumedConcurrently: 2,
    sessionTimeoutMs: options.sessionTimeoutMs ?? 30_000,
    ...(options.onRetryScheduled === undefined ? {} : { onRetryScheduled: options.onRetryScheduled }),
  });
  let relay: OutboxRelay | undefined;
  let stopPublisher = (): Promise<void> => Promise.resolve();
  if (options.output !== undefined) {
    const publisher = createKafkaPublisher({
      kafka: client,
      topic: options.output,
      logger: silentLogger,
      spanName: 'publish_customer_registered',
      idempotent: options.idempotent ?? kafkaIsReal,
    });
    relay = createOutboxRelay({
      pool: options.pool,
      destination: 'customer-events',
      publish: (m) => publisher.publish(m),
      wake,
      logger: silentLogger,
      ...(options.relayMaxBackoffMs === undefined ? {} : { maxBackoffMs: options.relayMaxBackoffMs }),
    });
    relay.start();
    stopPublisher = () => publisher.disconnect();
  }
  consumer.start();
  await consumer.joined();
  return {
    consumer,
    ...(relay === undefined ? {} : { relay }),
    metrics,
    groupJoins: async () => (await metrics.kafkaGroupJoins.get()).values[0]?.value ?? 0,
    stop: async () => {
      await consumer.stop();
      await relay?.stop();
      await stopPublisher();
    },
  };
}

export interface FlowOutcome {
  readonly customers: number;
  readonly distinctUsers: number;
  readonly events: number;
  readonly unpublished: number;
  readonly deadLetters: number;
  /** Customers without a `CustomerRegistered` (by key) in the output topic. */
  readonly customersWithoutEvent: number;
  /** Messages in the output topic, and how many distinct event ids they carry. */
  readonly published: number;
  readonly publishedDistinct: number;
}

/**
 * Waits until the group's offsets are at the end of `input` and the outbox is drained, then reports what the flow
 * produced: customers, distinct users, stored events, dead letters, and the `CustomerRegistered` in `output`.
 */
export async function settledOutcome(options: {
  readonly kafka: Kafka;
  readonly db: TestDatabase;
  readonly groupId: string;
  readonly input: string;
  readonly output: string;
  readonly timeoutMs?: number;
}): Promise<FlowOutcome> {
  const { kafka, db } = options;
  const count = async (sql: string) => Number((await db.rows<{ n: string }>(sql))[0]?.n);
  await eventually(
    () => offsetsOf(kafka, options.groupId, options.input),
    (partitions) => partitions.every((p) => p.committed === p.end),
    { what: `offsets of ${options.groupId} at the end of ${options.input}`, timeoutMs: options.timeoutMs ?? 90_000, intervalMs: 500 },
  );
  await eventually(() => count('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL'), (n) => n === 0, {
    what: 'the outbox drained',
    timeoutMs: options.timeoutMs ?? 90_000,
    intervalMs: 250,
  });
  const published = await topicSize(kafka, options.output);
  const messages = await readTopic(kafka, options.output, published, 60_000);
  const keys = new Set(messages.map((message) => message.key));
  const customers = (await db.rows<{ id: string }>('SELECT id FROM customers')).map((row) => row.id);
  return {
    customers: customers.length,
    distinctUsers: await count('SELECT count(DISTINCT user_id) AS n FROM customers'),
    events: await count('SELECT count(*) AS n FROM event_store'),
    unpublished: await count('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL'),
    deadLetters: await count('SELECT count(*) AS n FROM dead_letters'),
    customersWithoutEvent: customers.filter((id) => !keys.has(id)).length,
    published,
    publishedDistinct: new Set(messages.map((message) => message.headers.eventId)).size,
  };
}
