import type { Kafka, Producer } from 'kafkajs';
import { v4 as uuidv4 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userRegistered } from '../support/events.js';
import { eventually, offsetsOf, plainKafka, produce, readTopic, type OutgoingMessage } from '../support/kafka.js';
import { startFlow } from '../support/kafka-flow.js';
import { kafkaDescription, sharedKafka, type TestKafka } from '../support/kafka-test-broker.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const INPUT = 'identity.user.events';
const OUTPUT = 'customer.events';
const MAX_MESSAGE_BYTES = 4096;

let broker: TestKafka;
let db: TestDatabase;
let kafka: Kafka;
let producer: Producer;

beforeAll(async () => {
  // 1,000 messages of ~600 bytes over 8 partitions: far below the mock fallback's ~5 MiB per partition.
  broker = await sharedKafka({ [INPUT]: 8, [OUTPUT]: 8, 'other.identity.events': 2, 'other.customer.events': 2 });
  db = await createTestDatabase();
  kafka = plainKafka(broker.bootstrapServers);
  producer = kafka.producer();
  await producer.connect();
});
afterAll(async () => {
  await producer?.disconnect();
  await db?.drop();
  await broker?.stop();
});

const flowOf = (input: string, output: string, groupId: string) =>
  startFlow({ brokers: broker.bootstrapServers, pool: db.pool, groupId, input, output, maxMessageBytes: MAX_MESSAGE_BYTES });

const message = (event: ReturnType<typeof userRegistered>): OutgoingMessage => ({
  key: event.payload.userId,
  value: JSON.stringify(event),
  headers: { eventType: 'UserRegistered', eventId: event.eventId, 'content-type': 'application/json' },
});

/** Ten messages that cannot be registered, each with the reason code it must be parked with. */
function invalidMessages(): { message: OutgoingMessage; reason: string }[] {
  const bad = (mutate: (event: Record<string, unknown> & { payload: Record<string, unknown> }) => void) => {
    const event = userRegistered() as unknown as Record<string, unknown> & { payload: Record<string, unknown> };
    mutate(event);
    return { key: uuidv4(), value: JSON.stringify(event) };
  };
  return [
    { reason: 'MALFORMED_JSON', message: { key: uuidv4(), value: '{"eventType": "UserRegistered", oops' } },
    { reason: 'INVALID_TYPE', message: { key: uuidv4(), value: '[1, 2, 3]' } },
    { reason: 'MISSING_FIELD', message: bad((event) => delete event.eventType) },
    { reason: 'INVALID_TYPE', message: bad((event) => (event.eventType = 42)) },
    { reason: 'INVALID_EMAIL', message: bad((event) => (event.payload.email = 'not-an-email')) },
    { reason: 'INVALID_UUID', message: bad((event) => (event.payload.userId = 'user-1')) },
    { reason: 'INVALID_TIMESTAMP', message: bad((event) => (event.timestamp = 'yesterday')) },
    { reason: 'FIELD_EMPTY', message: bad((event) => (event.payload.firstName = '')) },
    { reason: 'UNSUPPORTED_EVENT_VERSION', message: bad((event) => (event.eventVersion = '2.0')) },
    { reason: 'PAYLOAD_TOO_LARGE', message: bad((event) => (event.padding = 'x'.repeat(MAX_MESSAGE_BYTES))) },
  ];
}

describe(`Kafka consumer of identity.user.events, with the relay to customer.events [${kafkaDescription}]`, () => {
  it('turns 1,000 messages (940 new, 50 redelivered, 10 invalid) into 940 customers, 10 dead letters and 940 CustomerRegistered', async () => {
    const groupId = `customer-service-${Date.now()}`;
    const events = Array.from({ length: 940 }, () => userRegistered());
    const invalid = invalidMessages();
    const messages: OutgoingMessage[] = events.map(message);
    // Redeliveries of earlier events (same bytes, same key), and the invalid ones, spread through the stream.
    for (let index = 0; index < 50; index += 1) messages.splice(20 + index * 18, 0, message(events[index * 15] as (typeof events)[number]));
    invalid.forEach((item, index) => messages.splice(50 + index * 90, 0, item.message));
    expect(messages).toHaveLength(1000);

    const started = Date.now();
    await produce(producer, INPUT, messages);
    const flow = await flowOf(INPUT, OUTPUT, groupId);
    try {
      const offsets = await eventually(
        () => offsetsOf(kafka, groupId, INPUT),
        (partitions) => partitions.every((p) => p.committed === p.end),
        { what: 'committed offsets at the end of every partition', timeoutMs: 60_000 },
      );
      const seconds = (Date.now() - started) / 1000;
      expect(offsets.reduce((sum, p) => sum + Number(p.end), 0)).toBe(1000);
      console.info(`1,000 messages consumed in ${seconds.toFixed(2)} s (incl. ~3 s group join)`);
      // The consumer-lag gauge has seen every partition and ends at 0 for each.
      const lag = (await flow.metrics.kafkaConsumerLag.get()).values;
      expect(new Set(lag.map((sample) => sample.labels.partition)).size).toBe(offsets.length);
      expect(lag.every((sample) => sample.value === 0)).toBe(true);

      const [counts] = await db.rows<{ customers: string; events: string; letters: string }>(
        `SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM event_store) AS events,
                (SELECT count(*) FROM dead_letters) AS letters`,
      );
      expect(counts).toEqual({ customers: '940', events: '940', letters: '10' });

      const letters = await db.rows<{ reason_code: string; source: string; partition: number; message_offset: string; payload: Buffer; message_key: Buffer; headers: object }>(
        'SELECT reason_code, source, partition, message_offset, payload, message_key, headers FROM dead_letters ORDER BY id',
      );
      expect(letters.map((letter) => letter.reason_code).sort()).toEqual(invalid.map((item) => item.reason).sort());
      for (const letter of letters) {
        const original = invalid.find((item) => Buffer.from(item.message.value as string).equals(letter.payload));
        expect(original, 'a dead letter keeps the original bytes').toBeDefined();
        expect(letter.message_key.toString()).toBe(original?.message.key);
        expect(letter.source).toBe(INPUT);
        expect(letter.partition).toBeGreaterThanOrEqual(0);
        expect(Number(letter.message_offset)).toBeGreaterThanOrEqual(0);
      }

      await eventually(() => db.rows('SELECT 1 FROM outbox WHERE published_at IS NULL'), (rows) => rows.length === 0, { what: 'an empty outbox' });
      const published = await readTopic(kafka, OUTPUT, 940);
      const byUser = new Map(events.map((event) => [event.payload.userId, event]));
      const customers = new Map(
        (await db.rows<{ id: string; user_id: string }>('SELECT id, user_id FROM customers')).map((row) => [row.id, row.user_id]),
      );
      const seen = new Set<string>();
      for (const out of published) {
        const body = JSON.parse(out.value) as { eventId: string; eventType: string; aggregateId: string; causationId: string; correlationId: string; payload: { customerId: string; userId: string } };
        const input = byUser.get(body.payload.userId);
        expect(input, 'every CustomerRegistered belongs to one of the 940 users').toBeDefined();
        expect(customers.get(body.payload.customerId)).toBe(body.payload.userId);
        expect(out.key).toBe(body.payload.customerId);
        expect(body.aggregateId).toBe(body.payload.customerId);
        expect(body.causationId).toBe(input?.eventId);
        expect(body.correlationId).toBe(input?.correlationId);
        expect(out.headers).toMatchObject({
          eventType: 'CustomerRegistered',
          eventId: body.eventId,
          causationId: input?.eventId,
          correlationId: input?.correlationId,
          'content-type': 'application/json',
        });
        seen.add(body.payload.userId);
      }
      expect(published).toHaveLength(940);
      expect(seen.size).toBe(940);
      expect(await flow.groupJoins(), 'no rebalance').toBe(1);
    } finally {
      await flow.stop();
    }
  }, 120_000);

  it('ignores and counts other identity events, parks an empty message, and carries the traceparent into the published event', async () => {
    const groupId = `customer-service-other-${Date.now()}`;
    const event = userRegistered();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await produce(producer, 'other.identity.events', [
      { key: uuidv4(), value: JSON.stringify({ eventId: uuidv4(), eventType: 'EmailVerified', payload: {} }) },
      { key: uuidv4(), value: JSON.stringify({ eventId: uuidv4(), eventType: 'PasswordChanged', payload: {} }) },
      { key: uuidv4(), value: null },
      { ...message(event), headers: { eventType: 'UserRegistered', traceparent } },
    ]);
    const before = (await db.rows<{ n: string }>('SELECT count(*) AS n FROM dead_letters'))[0]?.n;
    const flow = await flowOf('other.identity.events', 'other.customer.events', groupId);
    try {
      await eventually(
        () => offsetsOf(kafka, groupId, 'other.identity.events'),
        // Four messages over two partitions: one may stay empty, and an empty one has nothing to commit (-1).
        (partitions) => partitions.every((p) => p.committed === p.end || p.end === '0'),
        { what: 'all offsets committed' },
      );
      const ignored = await flow.metrics.ignoredEvents.get();
      expect(ignored.values.map((v) => [v.labels.event_type, v.value]).sort()).toEqual([
        ['EmailVerified', 1],
        ['PasswordChanged', 1],
      ]);
      const letters = await db.rows<{ reason_code: string }>('SELECT reason_code FROM dead_letters ORDER BY id OFFSET $1', [before]);
      expect(letters).toEqual([{ reason_code: 'MALFORMED_JSON' }]);
      const [out] = await readTopic(kafka, 'other.customer.events', 1);
      expect(out?.headers.traceparent).toBe(traceparent);
      expect(JSON.parse(out?.value ?? '{}')).toMatchObject({ causationId: event.eventId });
    } finally {
      await flow.stop();
    }
  }, 60_000);
});
