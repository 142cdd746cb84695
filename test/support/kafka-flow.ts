/** The Kafka side of the individual flow, wired in process against a test database and the mock broker. */
import { createUserEventsConsumer, type UserEventsConsumerOptions } from '../../src/individual-customers/user-events.consumer.js';
import type { BatchConsumer } from '../../src/platform/kafka/consumer.js';
import { createKafkaPublisher } from '../../src/platform/kafka/producer.js';
import { createMetrics, type Metrics } from '../../src/platform/metrics.js';
import type { Pool } from '../../src/platform/postgres/database.js';
import { createOutboxRelay, type OutboxRelay } from '../../src/platform/postgres/outbox-relay.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { silentLogger, testKafkaClient } from './kafka.js';
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
    const publisher = createKafkaPublisher({ kafka: client, topic: options.output, logger: silentLogger, spanName: 'publish_customer_registered' });
    relay = createOutboxRelay({ pool: options.pool, destination: 'customer-events', publish: (m) => publisher.publish(m), wake, logger: silentLogger });
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
