/**
 * The ACME activation acceptance scenarios (US-0002-06), against the service as it runs (`serve`, a real PostgreSQL,
 * the librdkafka mock broker), driven like ACME's own acceptance tests: events on Kafka, then the HTTP read API polled
 * every 500 ms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';
import { userActivated, userRegistered } from '../support/events.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../support/global-setup.js';
import { offsetsOf, plainKafka, produce, readTopic, topicSize } from '../support/kafka.js';
import { startKafkaMock, type KafkaMock } from '../support/kafka-mock.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const INPUT = 'acceptance.identity.user.events';
const OUTPUT = 'acceptance.customer.events';
const GROUP = 'customer-service-acceptance';

let mock: KafkaMock;
let db: TestDatabase;
let kafka: Kafka;
let producer: Producer;
let child: ChildProcess | undefined;
let base: string;

beforeAll(async () => {
  mock = await startKafkaMock({ topics: { [INPUT]: 2, [OUTPUT]: 2 } });
  db = await createTestDatabase();
  kafka = plainKafka(mock.bootstrapServers);
  producer = kafka.producer();
  await producer.connect();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    cwd: ROOT,
    stdio: 'ignore',
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      DATABASE_URL: db.url,
      KAFKA_BROKERS: mock.bootstrapServers.join(','),
      KAFKA_INPUT_TOPIC: INPUT,
      KAFKA_OUTPUT_TOPIC: OUTPUT,
      KAFKA_GROUP_ID: GROUP,
      RETRY_BACKOFF_MS: '100,200',
      LOG_LEVEL: 'warn',
      // Authentication is not what this test is about (test/integration/auth.test.ts is).
      AUTH_MODE: 'none',
    },
  });
  await eventually(async () => (await fetch(`${base}/health/ready`).then((r) => r.status, () => 0)) === 200, {
    what: 'the service to be ready',
    timeoutMs: 60_000,
    intervalMs: 200,
  });
}, 90_000);
afterAll(async () => {
  child?.kill('SIGTERM');
  if (child !== undefined && child.exitCode === null) await new Promise((resolve) => child?.once('exit', resolve));
  await producer?.disconnect();
  await db?.drop();
  await mock?.stop();
});

const send = (event: { eventId: string; eventType: string; payload: { userId: string } }) =>
  produce(producer, INPUT, [
    { key: event.payload.userId, value: JSON.stringify(event), headers: { eventType: event.eventType, eventId: event.eventId, 'content-type': 'application/json' } },
  ]);

interface Document {
  customerId: string;
  status: string;
  email: { address: string; verified: boolean };
  lastActivityAt: string;
}

const lookup = async (path: string): Promise<Document | undefined> => {
  const response = await fetch(`${base}${path}`);
  return response.status === 200 ? ((await response.json()) as Document) : undefined;
};

describe('customer profile activation (US-0002-06), acceptance', () => {
  it('ACTIVE within 5 s of UserActivated; verified; lastActivityAt; CustomerActivated published once with the correlation id; duplicates idempotent', async () => {
    const registration = userRegistered({ timestamp: new Date().toISOString() });
    await send(registration);
    const registered = await eventually(() => lookup(`/api/v1/customers/by-email/${registration.payload.email}`), {
      what: 'the customer',
      intervalMs: 500,
    });
    expect(registered.status).toBe('PENDING_VERIFICATION');

    const activatedAt = new Date().toISOString();
    const activation = userActivated(registration.payload.userId, { timestamp: activatedAt, activatedAt, correlationId: registration.correlationId });
    await send(activation);
    // AC: ACTIVE within 5 s of the event's timestamp, seen through the read API (the read model).
    const active = await eventually(
      async () => {
        const document = await lookup(`/api/v1/customers/by-user/${registration.payload.userId}`);
        return document?.status === 'ACTIVE' ? document : undefined;
      },
      { what: 'the active customer', intervalMs: 50, timeoutMs: 10_000 },
    );
    const visibleAfterMs = Date.now() - Date.parse(activatedAt);
    expect(visibleAfterMs).toBeLessThan(5_000);
    expect(active.email.verified).toBe(true);
    expect(active.lastActivityAt).toBe(activatedAt);
    const byId = await lookup(`/api/v1/customers/${registered.customerId}`);
    expect(byId).toMatchObject({ status: 'ACTIVE', email: { verified: true }, lastActivityAt: activatedAt });

    // Duplicates: the same event again, and another activation of the now active customer.
    await send(activation);
    await send(userActivated(registration.payload.userId));
    await eventually(async () => (await offsetsOf(kafka, GROUP, INPUT)).every((p) => p.committed === p.end || p.end === '0'), {
      what: 'every input consumed',
      timeoutMs: 20_000,
    });
    const published = await readTopic(kafka, OUTPUT, 2);
    expect(await topicSize(kafka, OUTPUT)).toBe(2);
    const events = published
      .sort((a, b) => Number(a.offset) - Number(b.offset))
      .map((message) => ({ key: message.key, headers: message.headers, event: JSON.parse(message.value) as Record<string, unknown> }));
    expect(events.map((item) => item.event.eventType)).toEqual(['CustomerRegistered', 'CustomerActivated']);
    expect(events.every((item) => item.key === registered.customerId)).toBe(true);
    expect(events[1]?.event).toMatchObject({ correlationId: registration.correlationId, causationId: activation.eventId });
    expect(events[1]?.headers).toMatchObject({ correlationId: registration.correlationId, eventType: 'CustomerActivated' });
    expect(await db.rows('SELECT version FROM customer_documents WHERE customer_id = $1', [registered.customerId])).toEqual([{ version: 2 }]);
    expect(await db.rows(`SELECT 1 FROM dead_letters`)).toEqual([]);
  });
});
