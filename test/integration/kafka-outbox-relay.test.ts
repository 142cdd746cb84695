import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaPublisher } from '../../src/platform/kafka/producer.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { pendingCounts } from '../../src/platform/postgres/outbox.js';
import { parkedCounts } from '../../src/platform/postgres/dead-letters.js';
import { createOutboxRelay } from '../../src/platform/postgres/outbox-relay.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { userRegistered } from '../support/events.js';
import { eventually, plainKafka, readTopic, silentLogger, testKafkaClient } from '../support/kafka.js';
import { kafkaDescription, ownKafka, type TestKafka } from '../support/kafka-test-broker.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { registerCustomersOn, valid } from '../support/service.js';

const OUTPUT = 'relay.customer.events';

let broker: TestKafka;
let db: TestDatabase;
let kafka: Kafka;

beforeAll(async () => {
  broker = await ownKafka({ [OUTPUT]: 4 });
  db = await createTestDatabase();
  kafka = plainKafka(broker.bootstrapServers);
});
afterAll(async () => {
  await db?.drop();
  await broker?.stop();
});

describe(`outbox relay to Kafka customer.events [${kafkaDescription}]`, () => {
  it('keeps the backlog while the broker is down (the gauge shows it), then drains it completely, in outbox order per partition', async () => {
    // The gauge is read from the database at each scrape, as the service's /metrics does.
    const metrics = createMetrics({
      defaultMetrics: false,
      database: { outboxBacklog: () => pendingCounts(db.pool), parkedDeadLetters: () => parkedCounts(db.pool) },
    });
    const wake = createWakeSignal();
    const register = registerCustomersOn(db.pool, { onCommitted: () => wake.notify() });
    const publisher = createKafkaPublisher({
      kafka: testKafkaClient(broker.bootstrapServers),
      topic: OUTPUT,
      logger: silentLogger,
      spanName: `send ${OUTPUT}`,
      idempotent: broker.real,
    });
    const relay = createOutboxRelay({ pool: db.pool, destination: 'customer-events', publish: (m) => publisher.publish(m), wake, logger: silentLogger, maxBackoffMs: 1_000 });
    const gauge = async () => (await metrics.outboxBacklog.get()).values.find((v) => v.labels.destination === 'customer-events')?.value;
    const unpublished = async () => Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL'))[0]?.n);
    relay.start();
    try {
      await register(Array.from({ length: 100 }, () => ({ event: valid(userRegistered()) })));
      // Woken by the commit, not by a poll timer.
      await eventually(unpublished, (n) => n === 0, { what: 'the first 100 published' });

      await broker.brokersDown();
      for (let batch = 0; batch < 4; batch += 1) {
        await register(Array.from({ length: 50 }, () => ({ event: valid(userRegistered()) })));
      }
      await eventually(gauge, (value) => value === 200, { what: 'the backlog gauge at 200', timeoutMs: 10_000 });
      expect(await unpublished()).toBe(200);

      await broker.brokersUp();
      await eventually(unpublished, (n) => n === 0, { what: 'the backlog drained', timeoutMs: 30_000 });
      await eventually(gauge, (value) => value === 0, { what: 'the backlog gauge at 0' });

      const published = await readTopic(kafka, OUTPUT, 300);
      const outbox = await db.rows<{ id: string; event_id: string; message_key: string }>('SELECT id, event_id, message_key FROM outbox ORDER BY id');
      const outboxOrder = new Map(outbox.map((row, index) => [row.event_id, index]));
      expect(new Set(published.map((message) => message.headers.eventId))).toEqual(new Set(outbox.map((row) => row.event_id)));
      for (let partition = 0; partition < 4; partition += 1) {
        const order = published
          .filter((message) => message.partition === partition)
          .sort((a, b) => Number(a.offset) - Number(b.offset))
          .map((message) => outboxOrder.get(message.headers.eventId ?? '') ?? -1);
        expect(order, `partition ${partition} in outbox order`).toEqual([...order].sort((a, b) => a - b));
      }
      for (const message of published) expect(message.key).toBe(outbox.find((row) => row.event_id === message.headers.eventId)?.message_key);
    } finally {
      await relay.stop();
      await publisher.disconnect();
    }
  }, 60_000);
});
