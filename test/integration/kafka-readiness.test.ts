import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaFlow, type KafkaFlow } from '../../src/individual-customers/kafka-flow.js';
import { loadConfig } from '../../src/config.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { eventually, silentLogger } from '../support/kafka.js';
import { startKafkaMock, type KafkaMock } from '../support/kafka-mock.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { registerCustomersOn } from '../support/service.js';

let mock: KafkaMock;
let db: TestDatabase;
let flow: KafkaFlow | undefined;

beforeAll(async () => {
  mock = await startKafkaMock({ topics: { 'readiness.identity.user.events': 2, 'readiness.customer.events': 2 } });
  db = await createTestDatabase();
});
afterAll(async () => {
  await flow?.stop();
  await db?.drop();
  await mock?.stop();
});

describe('readiness with Kafka configured', () => {
  it('reports the broker unreachable while it is down, and reachable again when it is back', async () => {
    const { kafka } = loadConfig({
      KAFKA_BROKERS: mock.bootstrapServers.join(','),
      KAFKA_INPUT_TOPIC: 'readiness.identity.user.events',
      KAFKA_OUTPUT_TOPIC: 'readiness.customer.events',
      KAFKA_GROUP_ID: 'readiness',
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
    await mock.brokersDown();
    await eventually(reachable, (up) => !up, { what: 'the broker reported unreachable', timeoutMs: 30_000 });
    await mock.brokersUp();
    await eventually(reachable, (up) => up, { what: 'the broker reachable again', timeoutMs: 30_000 });
    expect(await reachable()).toBe(true);
  }, 90_000);
});
