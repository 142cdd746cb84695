import type { Kafka, Producer } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUserEventsHandler, RETRIES_EXHAUSTED } from '../../src/individual-customers/user-events.consumer.js';
import { replayDeadLetters } from '../../src/platform/dead-letter-replay.js';
import { createPool, type Pool } from '../../src/platform/postgres/database.js';
import { userRegistered } from '../support/events.js';
import { eventually, offsetsOf, plainKafka, produce, silentLogger } from '../support/kafka.js';
import { startFlow } from '../support/kafka-flow.js';
import { kafkaDescription, sharedKafka, type TestKafka } from '../support/kafka-test-broker.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { registerCustomersOn } from '../support/service.js';
import { startTcpProxy, throughProxy, type TcpProxy } from '../support/tcp-proxy.js';

let broker: TestKafka;
let db: TestDatabase;
let kafka: Kafka;
let producer: Producer;
const pools: Pool[] = [];
let proxy: TcpProxy;

beforeAll(async () => {
  broker = await sharedKafka({ 'held.user.events': 4, 'parked.user.events': 2 });
  db = await createTestDatabase();
  const url = new URL(db.url);
  proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
  kafka = plainKafka(broker.bootstrapServers);
  producer = kafka.producer();
  await producer.connect();
});
afterAll(async () => {
  await producer?.disconnect();
  for (const pool of pools) await pool.end();
  await proxy?.close();
  await db?.drop();
  await broker?.stop();
});

const customerCount = async () => Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM customers'))[0]?.n);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(`retries of transient failures [${kafkaDescription}]`, () => {
  it('hold back only the affected partition, with heartbeats flowing through a wait longer than the session timeout', async () => {
    const topic = 'held.user.events';
    // lock_timeout turns "another transaction holds this user's lock" into a transient failure (55P03) of that message.
    const pool = createPool(`${db.url}?options=${encodeURIComponent('-c lock_timeout=300')}`, 5);
    pools.push(pool);
    const byPartition = [0, 1, 2, 3].map(() => Array.from({ length: 10 }, () => userRegistered()));
    const blocked = byPartition[0]?.[4] as ReturnType<typeof userRegistered>;
    const messagesOf = (partition: number) =>
      (byPartition[partition] ?? []).map((event) => ({ partition, key: event.payload.userId, value: JSON.stringify(event) }));

    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query(`SELECT pg_advisory_lock(hashtextextended('customer-user:' || $1, 0))`, [blocked.payload.userId.toLowerCase()]);
    const groupId = `held-${Date.now()}`;
    let retried = 0;
    const flow = await startFlow({
      brokers: broker.bootstrapServers,
      pool,
      groupId,
      input: topic,
      sessionTimeoutMs: 6_000,
      // Each wait outlasts the session: a consumer that slept in its handler would be expelled from the group.
      retryBackoffMs: [10_000, 10_000, 10_000],
      onRetryScheduled: () => (retried += 1),
    });
    try {
      await produce(producer, topic, messagesOf(0));
      await eventually(() => retried, (n) => n === 1, { what: 'partition 0 failing' });
      const heldAt = Date.now();
      await produce(producer, topic, [1, 2, 3].flatMap(messagesOf));
      // The other partitions flow while partition 0 waits out its 10 s.
      await eventually(customerCount, (n) => n === 30, { what: 'the 30 customers of partitions 1-3', timeoutMs: 8_000 });
      expect(Date.now() - heldAt).toBeLessThan(10_000);
      const registered = async () => new Set((await db.rows<{ user_id: string }>('SELECT user_id FROM customers')).map((row) => row.user_id));
      expect([...(await registered())].filter((id) => byPartition[0]?.some((event) => event.payload.userId === id))).toEqual([]);

      // After the wait, partition 0 goes one message at a time up to the blocked one, and holds there.
      await eventually(() => retried, (n) => n === 2, { what: 'the blocked message failing on its own', timeoutMs: 20_000 });
      expect(await customerCount()).toBe(34);
      const users = await registered();
      expect(byPartition[0]?.map((event) => users.has(event.payload.userId))).toEqual([true, true, true, true, false, false, false, false, false, false]);
      await eventually(() => offsetsOf(kafka, groupId, topic), (offsets) => offsets[0]?.committed === '4', { what: 'partition 0 committed through offset 3' });

      await locker.query('SELECT pg_advisory_unlock_all()');
      await eventually(customerCount, (n) => n === 40, { what: 'all 40 customers', timeoutMs: 25_000 });
      await eventually(
        () => offsetsOf(kafka, groupId, topic),
        (partitions) => partitions.every((p) => p.committed === p.end),
        { what: 'offsets at the end' },
      );
      expect(await flow.groupJoins(), 'no rebalance').toBe(1);
      expect(await db.rows('SELECT 1 FROM dead_letters')).toHaveLength(0);
    } finally {
      await locker.end();
      await flow.stop();
    }
  }, 60_000);

  it('park the failing message with RETRIES_EXHAUSTED after a longer outage; a replay after recovery registers it, twice harmlessly', async () => {
    const topic = 'parked.user.events';
    const pool = createPool(throughProxy(db.url, proxy), 5);
    pools.push(pool);
    const groupId = `parked-${Date.now()}`;
    const exhausted = new Set<number>();
    const flow = await startFlow({
      brokers: broker.bootstrapServers,
      pool,
      groupId,
      input: topic,
      retryBackoffMs: [100, 200, 400],
      onRetryScheduled: (event) => {
        if (event.delayMs === 0) exhausted.add(event.partition);
      },
    });
    const before = await customerCount();
    const events = Array.from({ length: 20 }, () => userRegistered());
    try {
      await proxy.cut();
      await produce(producer, topic, events.map((event, index) => ({ partition: index % 2, key: event.payload.userId, value: JSON.stringify(event) })));
      await eventually(() => exhausted.size, (n) => n === 2, { what: 'retries exhausted on both partitions' });
      // Still down: parking fails too, so the partitions stay held and nothing is committed.
      await sleep(1_000);
      expect((await offsetsOf(kafka, groupId, topic)).map((p) => p.committed)).toEqual(['-1', '-1']);
      await proxy.restore();

      await eventually(
        () => offsetsOf(kafka, groupId, topic),
        (partitions) => partitions.every((p) => p.committed === p.end),
        { what: 'offsets at the end', timeoutMs: 30_000 },
      );
      const letters = await db.rows<{ id: string; reason_code: string; attempts: number; partition: number; message_offset: string }>(
        `SELECT id, reason_code, attempts, partition, message_offset FROM dead_letters WHERE source = $1 ORDER BY partition`,
        [topic],
      );
      // One message per partition failed through the whole schedule (1 attempt + 3 retries); the rest went on.
      expect(letters.map(({ reason_code, attempts, partition, message_offset }) => ({ reason_code, attempts, partition, message_offset }))).toEqual([
        { reason_code: RETRIES_EXHAUSTED, attempts: 4, partition: 0, message_offset: '0' },
        { reason_code: RETRIES_EXHAUSTED, attempts: 4, partition: 1, message_offset: '0' },
      ]);
      expect(await customerCount()).toBe(before + 18);

      const handler = createUserEventsHandler({ register: registerCustomersOn(db.pool), pool: db.pool, logger: silentLogger, maxMessageBytes: 1024 * 1024 });
      const first = await replayDeadLetters(db.pool, { kafka: handler.replay }, { filter: { reasonCode: RETRIES_EXHAUSTED } });
      expect(first.map((report) => report.outcome)).toEqual(['replayed', 'replayed']);
      expect(await customerCount()).toBe(before + 20);
      const again = await replayDeadLetters(db.pool, { kafka: handler.replay }, { ids: letters.map((letter) => letter.id) });
      expect(again.map((report) => report.outcome)).toEqual(['skipped', 'skipped']);
      expect(await customerCount()).toBe(before + 20);
      expect(await flow.groupJoins(), 'no rebalance').toBe(1);
    } finally {
      await proxy.restore();
      await flow.stop();
    }
  }, 60_000);
});
