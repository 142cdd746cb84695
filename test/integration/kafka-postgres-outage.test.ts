import type { Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/platform/postgres/database.js';
import { userRegistered } from '../support/events.js';
import { eventually, offsetsOf, plainKafka, produce } from '../support/kafka.js';
import { startFlow } from '../support/kafka-flow.js';
import { kafkaDescription, sharedKafka, type TestKafka } from '../support/kafka-test-broker.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startTcpProxy, throughProxy, type TcpProxy } from '../support/tcp-proxy.js';

const INPUT = 'outage.identity.user.events';

let broker: TestKafka;
let db: TestDatabase;
let proxy: TcpProxy;
let proxiedPool: Pool;
let kafka: Kafka;
let producer: Producer;

beforeAll(async () => {
  broker = await sharedKafka({ [INPUT]: 4 });
  db = await createTestDatabase();
  const url = new URL(db.url);
  proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
  proxiedPool = createPool(throughProxy(db.url, proxy), 5);
  kafka = plainKafka(broker.bootstrapServers);
  producer = kafka.producer();
  await producer.connect();
});
afterAll(async () => {
  await producer?.disconnect();
  await proxiedPool?.end();
  await proxy?.close();
  await db?.drop();
  await broker?.stop();
});

const messagesOf = (events: ReturnType<typeof userRegistered>[]) =>
  events.map((event) => ({ key: event.payload.userId, value: JSON.stringify(event) }));

describe(`PostgreSQL unavailable for 20 s in the middle of consumption [${kafkaDescription}]`, () => {
  it('loses nothing, duplicates nothing, never rebalances, and retries at 1, 2, 4, 8, 16 s', async () => {
    const groupId = `outage-${Date.now()}`;
    const retries: { partition: number; attempt: number; delayMs: number; at: number }[] = [];
    const flow = await startFlow({
      brokers: broker.bootstrapServers,
      pool: proxiedPool,
      groupId,
      input: INPUT,
      retryBackoffMs: [1000, 2000, 4000, 8000, 16000],
      onRetryScheduled: (event) => retries.push({ partition: event.partition, attempt: event.attempt, delayMs: event.delayMs, at: Date.now() }),
    });
    try {
      const before = Array.from({ length: 200 }, () => userRegistered());
      const during = Array.from({ length: 200 }, () => userRegistered());
      await produce(producer, INPUT, messagesOf(before));
      await eventually(() => db.rows('SELECT 1 FROM customers'), (rows) => rows.length === 200, { what: 'the first 200 customers' });

      await proxy.cut();
      const cutAt = Date.now();
      await produce(producer, INPUT, messagesOf(during));
      // Every partition got messages during the outage, so each one fails and starts its schedule.
      await eventually(() => new Set(retries.map((retry) => retry.partition)).size, (n) => n === 4, { what: 'retries on all 4 partitions' });
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 20_000 - (Date.now() - cutAt))));
      await proxy.restore();

      await eventually(
        () => offsetsOf(kafka, groupId, INPUT),
        (partitions) => partitions.every((p) => p.committed === p.end),
        { what: 'offsets committed to the end', timeoutMs: 40_000, intervalMs: 250 },
      );
      const [counts] = await db.rows<{ customers: string; distinct_users: string; events: string; outbox: string; letters: string }>(
        `SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(DISTINCT user_id) FROM customers) AS distinct_users,
                (SELECT count(*) FROM event_store) AS events, (SELECT count(*) FROM outbox) AS outbox,
                (SELECT count(*) FROM dead_letters) AS letters`,
      );
      expect(counts).toEqual({ customers: '400', distinct_users: '400', events: '400', outbox: '400', letters: '0' });
      expect(await flow.groupJoins(), 'no rebalance').toBe(1);

      // The schedule as configured: 1, 2, 4, 8, 16 s, each wait honoured before the next attempt.
      for (let partition = 0; partition < 4; partition += 1) {
        const own = retries.filter((retry) => retry.partition === partition);
        expect(own.map((retry) => retry.delayMs), `partition ${partition}`).toEqual([1000, 2000, 4000, 8000, 16000]);
        for (let index = 1; index < own.length; index += 1) {
          const waited = (own[index]?.at ?? 0) - (own[index - 1]?.at ?? 0);
          expect(waited).toBeGreaterThanOrEqual((own[index - 1]?.delayMs ?? 0) - 50);
        }
      }
    } finally {
      await flow.stop();
    }
  }, 90_000);
});
