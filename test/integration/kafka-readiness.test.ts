import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaFlow, type KafkaFlow } from '../../src/individual-customers/kafka-flow.js';
import { loadConfig } from '../../src/config.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { eventually, silentLogger } from '../support/kafka.js';
import { kafkaDescription, kafkaIsReal, ownKafka, type TestKafka } from '../support/kafka-test-broker.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { registerCustomersOn } from '../support/service.js';

let broker: TestKafka;
let db: TestDatabase;
let flow: KafkaFlow | undefined;

beforeAll(async () => {
  broker = await ownKafka({ 'readiness.identity.user.events': 2, 'readiness.customer.events': 2 });
  db = await createTestDatabase();
});
afterAll(async () => {
  await flow?.stop();
  await db?.drop();
  await broker?.stop();
});

describe(`readiness with Kafka configured [${kafkaDescription}]`, () => {
  it('reports the broker unreachable while it is down, and reachable again when it is back', async () => {
    const { kafka } = loadConfig({
      KAFKA_BROKERS: broker.bootstrapServers.join(','),
      KAFKA_INPUT_TOPIC: 'readiness.identity.user.events',
      KAFKA_OUTPUT_TOPIC: 'readiness.customer.events',
      KAFKA_GROUP_ID: 'readiness',
      KAFKA_IDEMPOTENT_PRODUCER: String(kafkaIsReal),
    });
    flow = startKafkaFlow({
      config: kafka,
      pool: db.pool,
      register: registerCustomersOn(db.pool),
      logger: silentLogger,
      metrics: createMetrics({ defaultMetrics: false }),
      relayWake: createWakeSignal(),
    });
    const reachable = () => (flow as KafkaFlow).isReachable();
    await eventually(reachable, (up) => up, { what: 'the broker reachable', timeoutMs: 20_000 });
    await broker.brokersDown();
    await eventually(reachable, (up) => !up, { what: 'the broker reported unreachable', timeoutMs: 30_000 });
    await broker.brokersUp();
    await eventually(reachable, (up) => up, { what: 'the broker reachable again', timeoutMs: 30_000 });
    expect(await reachable()).toBe(true);
  }, 90_000);
});
