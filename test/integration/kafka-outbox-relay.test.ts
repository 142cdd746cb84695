import { randomUUID } from 'node:crypto';
import { ConfigResourceTypes, type Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxReplayHandler, replayDeadLetters } from '../../src/platform/dead-letter-replay.js';
import { createKafkaPublisher } from '../../src/platform/kafka/producer.js';
import { outboxDestinations } from '../../src/flows.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { createPool } from '../../src/platform/postgres/database.js';
import { enqueue, pendingCounts } from '../../src/platform/postgres/outbox.js';
import { listDeadLetters, parkedCounts } from '../../src/platform/postgres/dead-letters.js';
import { createOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from '../../src/platform/postgres/outbox-relay.js';
import { createWakeSignal, type WakeSignal } from '../../src/platform/wake-signal.js';
import { userRegistered } from '../support/events.js';
import { eventually, plainKafka, readTopic, silentLogger, testKafkaClient, topicSize } from '../support/kafka.js';
import { createTopics } from '../support/kafka-broker.js';
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

/**
 * A relay of the `customer-events` outbox to `topic` on this file's broker, refusals retried after 100 and 200 ms
 * (then parked); `close()` stops the relay and disconnects its producer.
 */
function relayTo(topic: string, wake: WakeSignal, extra: Partial<OutboxRelayOptions> = {}): OutboxRelay & { close(): Promise<void> } {
  const publisher = createKafkaPublisher({ kafka: testKafkaClient(broker.bootstrapServers), topic, logger: silentLogger, spanName: `send ${topic}`, idempotent: broker.real });
  const relay = createOutboxRelay({
    pool: db.pool,
    destination: 'customer-events',
    publish: (m) => publisher.publish(m),
    wake,
    logger: silentLogger,
    maxBackoffMs: 1_000,
    refusalRetryBackoffMs: [100, 200],
    ...extra,
  });
  return { ...relay, close: async () => (await relay.stop(), await publisher.disconnect()) };
}

describe(`outbox relay to Kafka customer.events [${kafkaDescription}]`, () => {
  it('keeps the backlog while the broker is down (the gauge shows it), then drains it completely, in outbox order per partition', async () => {
    // The gauge is read from the database at each scrape, as the service's /metrics does.
    const metrics = createMetrics({
      defaultMetrics: false,
      database: { outboxBacklog: () => pendingCounts(db.pool), parkedDeadLetters: () => parkedCounts(db.pool), outboxDestinations },
    });
    const wake = createWakeSignal();
    const register = registerCustomersOn(db.pool, { onCommitted: () => wake.notify() });
    // A refusal schedule far shorter than the outage: an outage must never count as a refusal (nothing is parked).
    const relay = relayTo(OUTPUT, wake);
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
      // Down for more attempts than the refusal schedule allows (3): the relay keeps retrying and parks nothing.
      await eventually(
        async () => Number((await db.rows<{ n: string | null }>('SELECT max(attempts) AS n FROM outbox WHERE published_at IS NULL'))[0]?.n ?? 0),
        (attempts) => attempts >= 5,
        { what: 'five failed attempts during the outage', timeoutMs: 40_000, intervalMs: 250 },
      );
      expect(await unpublished()).toBe(200);
      expect(await listDeadLetters(db.pool), 'an outage parks nothing').toEqual([]);

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
      expect(await listDeadLetters(db.pool), 'an outage parks nothing').toEqual([]);
    } finally {
      await relay.close();
    }
  }, 60_000);

  it('parks a message the broker refuses (too large) after the retry schedule, publishes the rest in order, and publishes it again after replay', async () => {
    if (!broker.real) throw new Error(`needs a real broker (topic-level max.message.bytes), the run has ${kafkaDescription}`);
    const topic = 'relay.small.customer.events';
    await createTopics(broker.bootstrapServers, { [topic]: 2 }, { 'max.message.bytes': '100000' });
    const metrics = createMetrics({ defaultMetrics: false, database: { outboxBacklog: () => pendingCounts(db.pool), parkedDeadLetters: () => parkedCounts(db.pool), outboxDestinations } });
    const wake = createWakeSignal();
    const register = registerCustomersOn(db.pool, { onCommitted: () => wake.notify() });
    const parked: string[] = [];
    const relay = relayTo(topic, wake, { onParked: (message, error) => parked.push(`${message.eventId} ${error.reasonCode}`) });
    const bigEventId = randomUUID();
    const rowsBefore = Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM outbox'))[0]?.n);
    await register(Array.from({ length: 20 }, () => ({ event: valid(userRegistered()) })));
    // 150 kB: over the topic's 100 kB limit (the relay's batches of ordinary messages stay below it).
    await enqueue(db.pool, [
      {
        eventId: bigEventId,
        destination: 'customer-events',
        aggregateId: 'big-aggregate',
        key: 'big-aggregate',
        headers: { eventId: bigEventId, eventType: 'CustomerRegistered' },
        payload: JSON.stringify({ eventId: bigEventId, note: 'x'.repeat(150_000) }),
      },
    ]);
    await register(Array.from({ length: 20 }, () => ({ event: valid(userRegistered()) })));
    relay.start();
    try {
      // Without parking, the refused message blocks the relay and the 20 written after it never go out.
      await eventually(() => db.rows<{ id: string }>('SELECT id FROM outbox WHERE published_at IS NULL AND parked_at IS NULL'), (rows) => rows.length === 0, {
        what: 'every other message published past the refused one',
        timeoutMs: 30_000,
      });
      const [letter, ...others] = await listDeadLetters(db.pool, { transport: 'outbox' });
      expect(others).toEqual([]);
      expect(letter).toMatchObject({ status: 'parked', source: 'customer-events', messageId: bigEventId, reasonCode: 'MESSAGE_TOO_LARGE', attempts: 3 });
      expect(letter?.errorMessage).toContain(topic);
      expect(parked).toEqual([`${bigEventId} MESSAGE_TOO_LARGE`]);
      const [row] = await db.rows<{ id: string; parked_at: Date | null; published_at: Date | null }>('SELECT id, parked_at, published_at FROM outbox WHERE event_id = $1', [bigEventId]);
      expect(row?.published_at).toBeNull();
      expect(row?.parked_at).not.toBeNull();
      expect(letter?.offset).toBe(row?.id);
      // Visible: the parked gauge by reason; the backlog gauge leaves it out (it is not waiting for the broker).
      expect((await metrics.deadLettersParked.get()).values.find((v) => v.labels.reason === 'MESSAGE_TOO_LARGE')?.value).toBe(1);
      expect((await metrics.outboxBacklog.get()).values.find((v) => v.labels.destination === 'customer-events')?.value).toBe(0);
      const first = await readTopic(kafka, topic, await topicSize(kafka, topic));
      expect(first.map((message) => message.headers.eventId)).not.toContain(bigEventId);
      const outboxOrder = new Map((await db.rows<{ event_id: string }>('SELECT event_id FROM outbox ORDER BY id')).map((r, index) => [r.event_id, index]));
      // The refused batch's other partition was written before the relay isolated the refusal; those messages went
      // out again one by one (at least once, same eventId, as after any failed send): their first copies are in order.
      for (const partition of [0, 1]) {
        const order = [
          ...new Set(first.filter((m) => m.partition === partition).sort((a, b) => Number(a.offset) - Number(b.offset)).map((m) => outboxOrder.get(m.headers.eventId ?? '') ?? -1)),
        ];
        expect(order, `partition ${partition} in outbox order`).toEqual([...order].sort((a, b) => a - b));
      }
      expect(new Set(first.map((m) => m.headers.eventId)).size, 'all 40 ordinary messages published').toBe(40);
      expect(Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM outbox'))[0]?.n)).toBe(rowsBefore + 41);

      // The operator raises the topic's limit and replays the letter: the relay publishes the message.
      const admin = kafka.admin();
      await admin.connect();
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'max.message.bytes', value: '1000000' }] }] });
      await admin.disconnect();
      const reports = await replayDeadLetters(db.pool, { outbox: outboxReplayHandler(db.pool) }, { ids: [letter?.id ?? ''] });
      expect(reports).toMatchObject([{ outcome: 'replayed' }]);
      wake.notify();
      await eventually(() => db.rows('SELECT 1 FROM outbox WHERE event_id = $1 AND published_at IS NOT NULL', [bigEventId]), (rows) => rows.length === 1, {
        what: 'the replayed message published',
        timeoutMs: 30_000,
      });
      const all = await readTopic(kafka, topic, await topicSize(kafka, topic));
      expect(all.filter((message) => message.headers.eventId === bigEventId)).toHaveLength(1);
      expect(await listDeadLetters(db.pool, { transport: 'outbox', status: 'parked' })).toEqual([]);
    } finally {
      await relay.close();
    }
  }, 90_000);

  it('marks what it published without leaving its pooled connection at asynchronous commit (registrations wait for the flush)', async () => {
    // One connection: whatever the relay leaves on its session, the next registration would inherit.
    const pool = createPool(db.url, 1);
    const register = registerCustomersOn(db.pool);
    await register(Array.from({ length: 20 }, () => ({ event: valid(userRegistered()) })));
    const publisher = createKafkaPublisher({ kafka: testKafkaClient(broker.bootstrapServers), topic: OUTPUT, logger: silentLogger, spanName: `send ${OUTPUT}`, idempotent: broker.real });
    const relay = createOutboxRelay({ pool, destination: 'customer-events', publish: (m) => publisher.publish(m), wake: createWakeSignal(), logger: silentLogger });
    try {
      expect(await relay.drain()).toBeGreaterThanOrEqual(20);
      expect((await pool.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]?.synchronous_commit).toBe('on');
      expect(Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL AND parked_at IS NULL'))[0]?.n)).toBe(0);
    } finally {
      await publisher.disconnect();
      await pool.end();
    }
  });

  it('parks what it cannot publish because its topic was deleted, while a topic missing since start is waited for', async () => {
    if (!broker.real) throw new Error(`needs a real broker (DeleteTopics), the run has ${kafkaDescription}`);
    const topic = 'relay.deleted.customer.events';
    const wake = createWakeSignal();
    const register = registerCustomersOn(db.pool, { onCommitted: () => wake.notify() });
    const relay = relayTo(topic, wake, { maxBackoffMs: 500 });
    const pending = async () => Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL AND parked_at IS NULL'))[0]?.n);
    const parkedLetters = async () => listDeadLetters(db.pool, { transport: 'outbox', status: 'parked', reasonCode: 'UNKNOWN_TOPIC' });
    relay.start();
    try {
      // Missing since start: waited for, well past the refusal schedule, and published once it exists.
      await register(Array.from({ length: 5 }, () => ({ event: valid(userRegistered()) })));
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(await pending()).toBe(5);
      expect(await parkedLetters()).toEqual([]);
      await createTopics(broker.bootstrapServers, { [topic]: 2 });
      await eventually(pending, (n) => n === 0, { what: 'the 5 published once the topic exists', timeoutMs: 30_000 });

      // Deleted after it was seen: the broker's "unknown topic" is a refusal; each message parks after the schedule.
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic] });
      await eventually(() => admin.listTopics(), (topics) => !topics.includes(topic), { what: `${topic} deleted` });
      await admin.disconnect();
      await register(Array.from({ length: 3 }, () => ({ event: valid(userRegistered()) })));
      await eventually(parkedLetters, (letters) => letters.length === 3, { what: 'the 3 messages parked as UNKNOWN_TOPIC', timeoutMs: 60_000 });
      expect(await pending()).toBe(0);
    } finally {
      await relay.close();
    }
  }, 120_000);
});
