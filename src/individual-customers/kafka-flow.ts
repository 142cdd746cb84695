/**
 * The individual flow on Kafka, as the service runs it: the consumer of `identity.user.events` and the relay of the
 * `customer-events` outbox to `customer.events`. Started by `service.ts` when `KAFKA_BROKERS` is set.
 */
import type { KafkaConfig } from '../config.js';
import { createSchemaRegistry } from '../platform/avro/schema-registry.js';
import { createKafkaClient } from '../platform/kafka/client.js';
import { createKafkaPublisher } from '../platform/kafka/producer.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { Pool } from '../platform/postgres/database.js';
import { createOutboxRelay } from '../platform/postgres/outbox-relay.js';
import type { WakeSignal } from '../platform/wake-signal.js';
import type { ActivateCustomers } from './activate-customers.js';
import type { RegisterCustomers } from './register-customers.js';
import { startAvroSchemas } from './avro-schemas.js';
import { createUserEventsConsumer } from './user-events.consumer.js';
import { CUSTOMER_EVENTS } from './outbox.js';

export interface KafkaFlowDeps {
  readonly config: KafkaConfig;
  readonly pool: Pool;
  readonly register: RegisterCustomers;
  /** The activation use case (the service's, which wakes the relay and the projector); a default one otherwise. */
  readonly activate?: ActivateCustomers;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Notified by the use case after each commit that created customers. */
  readonly relayWake: WakeSignal;
  /** Called after each published batch (e.g. to refresh the backlog gauge). */
  readonly onPublished?: () => void;
  readonly relayMaxBackoffMs?: number;
}

export interface KafkaFlow {
  /** Readiness: true when a broker answers a metadata request. */
  isReachable(): Promise<boolean>;
  stop(): Promise<void>;
}

export function startKafkaFlow(deps: KafkaFlowDeps): KafkaFlow {
  const kafka = createKafkaClient(deps.config, deps.logger);
  // Avro: consumed messages are decoded per message through the registry; the schemas are set up in the background
  // (a registry outage must not hold up JSON), and the relay produces Avro only when KAFKA_VALUE_FORMAT=avro.
  const registryConfig = deps.config.schemaRegistry;
  const schemaRegistry = registryConfig === undefined ? undefined : createSchemaRegistry(registryConfig);
  const avroSchemas =
    schemaRegistry === undefined || registryConfig === undefined
      ? undefined
      : startAvroSchemas({
          registry: schemaRegistry,
          inputTopic: deps.config.inputTopic,
          outputTopic: deps.config.outputTopic,
          autoRegister: registryConfig.autoRegister,
          logger: deps.logger,
        });
  const avroOut = deps.config.valueFormat === 'avro' ? avroSchemas : undefined;
  const consumer = createUserEventsConsumer({
    kafka,
    register: deps.register,
    ...(deps.activate === undefined ? {} : { activate: deps.activate }),
    pool: deps.pool,
    logger: deps.logger,
    metrics: deps.metrics,
    maxMessageBytes: deps.config.maxMessageBytes,
    groupId: deps.config.groupId,
    topic: deps.config.inputTopic,
    retryBackoffMs: deps.config.retryBackoffMs,
    batchSize: deps.config.batchSize,
    partitionsConsumedConcurrently: deps.config.partitionsConsumedConcurrently,
    fetchMaxBytes: deps.config.fetchMaxBytes,
    sessionTimeoutMs: deps.config.sessionTimeoutMs,
    ...(schemaRegistry === undefined ? {} : { schemaRegistry }),
  });
  const publisher = createKafkaPublisher({
    kafka,
    topic: deps.config.outputTopic,
    logger: deps.logger,
    spanName: `send ${deps.config.outputTopic}`,
    idempotent: deps.config.idempotentProducer,
  });
  const relay = createOutboxRelay({
    pool: deps.pool,
    ...CUSTOMER_EVENTS,
    publish: async (messages) =>
      publisher.publish(
        avroOut === undefined
          ? messages
          : await Promise.all(
              messages.map(async (message) => ({
                ...message,
                payload: await avroOut.encode(message.payload),
                headers: { ...message.headers, 'content-type': 'avro/binary' },
              })),
            ),
      ),
    wake: deps.relayWake,
    logger: deps.logger,
    ...(deps.relayMaxBackoffMs === undefined ? {} : { maxBackoffMs: deps.relayMaxBackoffMs }),
    // A message the broker refuses is retried along the same schedule as input, then parked (issue 13).
    refusalRetryBackoffMs: deps.config.retryBackoffMs,
    onPublished: (messages) => {
      deps.metrics.outboxPublished.inc({ destination: CUSTOMER_EVENTS.destination }, messages.length);
      deps.onPublished?.();
    },
  });
  relay.start();
  consumer.start();
  // One admin connection for readiness probes; kafkajs reconnects it when a broker comes back.
  const admin = kafka.admin();
  let adminConnected: Promise<void> | undefined;
  return {
    async isReachable() {
      try {
        adminConnected ??= admin.connect();
        await adminConnected;
        const cluster = await admin.describeCluster();
        return cluster.brokers.length > 0;
      } catch {
        adminConnected = undefined;
        await admin.disconnect().catch(() => undefined);
        return false;
      }
    },
    async stop() {
      await admin.disconnect().catch(() => undefined);
      avroSchemas?.stop();
      // Input first (finishes the batch in progress), then the relay gets what that batch committed.
      await consumer.stop();
      await relay.stop();
      await publisher.disconnect();
    },
  };
}
