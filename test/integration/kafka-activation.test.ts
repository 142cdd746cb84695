import type { Kafka, Producer } from 'kafkajs';
import { v4 as uuidv4 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUserEventsHandler } from '../../src/individual-customers/user-events.consumer.js';
import { replayDeadLetters } from '../../src/platform/dead-letter-replay.js';
import { listDeadLetters } from '../../src/platform/postgres/dead-letters.js';
import { userActivated, userRegistered } from '../support/events.js';
import { eventually } from '../support/eventually.js';
import { plainKafka, produce, readTopic, silentLogger, type OutgoingMessage } from '../support/kafka.js';
import { startFlow, type RunningFlow } from '../support/kafka-flow.js';
import { startKafkaMock, type KafkaMock } from '../support/kafka-mock.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { registerCustomersOn } from '../support/service.js';

// Activation (US-0002-06) over Kafka, against the librdkafka mock broker and a real PostgreSQL.
let mock: KafkaMock;
let db: TestDatabase;
let kafka: Kafka;
let producer: Producer;

beforeAll(async () => {
  mock = await startKafkaMock({ topics: { 'in.a': 2, 'out.a': 2, 'in.b': 1, 'in.c': 1 } });
  db = await createTestDatabase();
  kafka = plainKafka(mock.bootstrapServers);
  producer = kafka.producer();
  await producer.connect();
});
afterAll(async () => {
  await producer?.disconnect();
  await db?.drop();
  await mock?.stop();
});

const message = (event: { eventId: string; eventType: string; payload: { userId: string } }): OutgoingMessage => ({
  key: event.payload.userId,
  value: JSON.stringify(event),
  headers: { eventType: event.eventType, eventId: event.eventId, 'content-type': 'application/json' },
});

const statusOf = async (userId: string) =>
  (await db.rows<{ status: string }>('SELECT status FROM customers WHERE user_id = $1', [userId]))[0]?.status;

describe('UserActivated on identity.user.events', () => {
  it('activates, publishes CustomerActivated once after CustomerRegistered on the same key, ignores and counts EmailVerified', async () => {
    const users = Array.from({ length: 20 }, () => userRegistered());
    const activations = users.map((user) => userActivated(user.payload.userId, { correlationId: user.correlationId }));
    const emailVerified = users.slice(0, 5).map((user) => ({
      eventId: uuidv4(),
      eventType: 'EmailVerified',
      eventVersion: '1.0',
      timestamp: '2026-01-02T10:59:00Z',
      payload: { userId: user.payload.userId, email: user.payload.email, verifiedAt: '2026-01-02T10:59:00Z' },
    }));
    // Per user, as the identity service sends them: registered, e-mail verified, activated; plus redeliveries.
    const stream: OutgoingMessage[] = users.flatMap((user, index) => [
      message(user),
      ...(index < 5 ? [message(emailVerified[index] as (typeof emailVerified)[number])] : []),
      message(activations[index] as (typeof activations)[number]),
    ]);
    stream.push(...activations.slice(0, 5).map(message));
    await produce(producer, 'in.a', stream);
    const flow = await startFlow({ brokers: mock.bootstrapServers, pool: db.pool, groupId: `g-${uuidv4()}`, input: 'in.a', output: 'out.a' });
    try {
      const published = await readTopic(kafka, 'out.a', 40);
      for (const user of users) expect(await statusOf(user.payload.userId)).toBe('ACTIVE');
      const byKey = new Map<string, { eventType: string; correlationId: string; causationId: string; payload: Record<string, unknown> }[]>();
      for (const item of [...published].sort((a, b) => Number(a.offset) - Number(b.offset))) {
        const event = JSON.parse(item.value) as { eventType: string; correlationId: string; causationId: string; payload: Record<string, unknown> };
        expect(item.headers.eventType).toBe(event.eventType);
        byKey.set(item.key ?? '', [...(byKey.get(item.key ?? '') ?? []), event]);
      }
      expect(byKey.size).toBe(20);
      users.forEach((user, index) => {
        const [customerId, events] = [...byKey].find(([, list]) => list[0]?.payload.userId === user.payload.userId) ?? [];
        // Exactly one of each, registration first, the correlation id kept and the activation caused by UserActivated.
        expect(events?.map((event) => event.eventType)).toEqual(['CustomerRegistered', 'CustomerActivated']);
        expect(events?.[1]).toMatchObject({
          correlationId: user.correlationId,
          causationId: activations[index]?.eventId,
          payload: { customerId, userId: user.payload.userId, status: 'ACTIVE', emailVerified: true, activatedAt: '2026-01-02T11:00:00Z' },
        });
      });
      const ignored = (await flow.metrics.ignoredEvents.get()).values.find((value) => value.labels.event_type === 'EmailVerified');
      expect(ignored?.value).toBe(5);
      const outcomes: Record<string, number> = Object.fromEntries((await flow.metrics.customerActivated.get()).values.map((value) => [String(value.labels.status), value.value]));
      expect(outcomes).toMatchObject({ activated: 20, duplicate: 5 });
      expect(await db.rows(`SELECT 1 FROM dead_letters`)).toEqual([]);
    } finally {
      await flow.stop();
    }
  });

  it('retries an activation that arrives before its registration, and applies it once the registration lands', async () => {
    const user = userRegistered();
    const activation = userActivated(user.payload.userId);
    const scheduled: number[] = [];
    let flow: RunningFlow | undefined;
    try {
      flow = await startFlow({
        brokers: mock.bootstrapServers,
        pool: db.pool,
        groupId: `g-${uuidv4()}`,
        input: 'in.b',
        retryBackoffMs: [500, 1000, 2000, 4000],
        onRetryScheduled: (event) => scheduled.push(event.delayMs),
      });
      await produce(producer, 'in.b', [message(activation)]);
      await eventually(() => Promise.resolve(scheduled.length >= 1), 'the first retry');
      expect(await statusOf(user.payload.userId)).toBeUndefined();
      // The registration lands by another way (HTTP, another partition) while the activation waits.
      await registerCustomersOn(db.pool)([{ event: user as never }]);
      await eventually(async () => (await statusOf(user.payload.userId)) === 'ACTIVE', 'the activation', 15_000);
      expect(await db.rows(`SELECT 1 FROM dead_letters WHERE message_id = $1`, [activation.eventId])).toEqual([]);
    } finally {
      await flow?.stop();
    }
  });

  it('parks it as CUSTOMER_NOT_FOUND when the schedule runs out; a replay after the registration applies it', async () => {
    const user = userRegistered();
    const activation = userActivated(user.payload.userId);
    const flow = await startFlow({ brokers: mock.bootstrapServers, pool: db.pool, groupId: `g-${uuidv4()}`, input: 'in.c', retryBackoffMs: [100, 200] });
    let parkedId: string;
    try {
      await produce(producer, 'in.c', [message(activation)]);
      const [letter] = await eventually(async () => {
        const letters = await listDeadLetters(db.pool, { status: 'parked' });
        const mine = letters.filter((item) => item.messageId === activation.eventId);
        return mine.length > 0 ? mine : undefined;
      }, 'the dead letter');
      expect(letter).toMatchObject({ reasonCode: 'CUSTOMER_NOT_FOUND', attempts: 3, source: 'in.c' });
      parkedId = letter?.id ?? '';
    } finally {
      await flow.stop();
    }
    const handler = createUserEventsHandler({ register: registerCustomersOn(db.pool), pool: db.pool, logger: silentLogger, maxMessageBytes: 1 << 20 });
    // Still no customer: the replay leaves it parked.
    expect(await replayDeadLetters(db.pool, { kafka: handler.replay }, { ids: [parkedId] })).toEqual([
      expect.objectContaining({ outcome: 'rejected', detail: expect.stringContaining('CUSTOMER_NOT_FOUND') as unknown }) as unknown,
    ]);
    await registerCustomersOn(db.pool)([{ event: user as never }]);
    const [report] = await replayDeadLetters(db.pool, { kafka: handler.replay }, { ids: [parkedId] });
    expect(report).toMatchObject({ outcome: 'replayed' });
    expect(await statusOf(user.payload.userId)).toBe('ACTIVE');
  });
});
