/**
 * Several service processes in one consumer group on a real broker: partitions move when an instance joins and when
 * one is killed, and every message is still registered exactly once.
 */
import type { ChildProcess } from 'node:child_process';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/global-setup.js';
import { userRegistered } from '../support/events.js';
import { eventually, plainKafka, produce } from '../support/kafka.js';
import { settledOutcome } from '../support/kafka-flow.js';
import { kafkaDescription, sharedRealKafka } from '../support/kafka-test-broker.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { kafkaServiceEnv, spawnKafkaService } from '../support/kafka-service.js';

const INPUT = 'group.identity.user.events';
const OUTPUT = 'group.customer.events';
const GROUP = 'customer-service-group';
const EVENTS = 6_000;

let db: TestDatabase;
let kafka: Kafka;
let env: Record<string, string>;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  const broker = await sharedRealKafka({ [INPUT]: 12, [OUTPUT]: 12 });
  db = await createTestDatabase();
  kafka = plainKafka(broker.bootstrapServers);
  env = kafkaServiceEnv({
    databaseUrl: db.url,
    brokers: broker.bootstrapServers,
    input: INPUT,
    output: OUTPUT,
    groupId: GROUP,
    // A killed member never says goodbye: the group waits out its session before handing its partitions on.
    extra: { KAFKA_SESSION_TIMEOUT_MS: '6000', RETRY_BACKOFF_MS: '100,200,400' },
  });
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await db?.drop();
});

interface Instance {
  readonly child: ChildProcess;
  readonly port: number;
}

async function startInstance(): Promise<Instance> {
  const port = await freePort();
  const child = await spawnKafkaService(env, port, { children });
  return { child, port };
}

/** Customers this instance created (its `customer_created_total`), read from its /metrics. */
async function createdBy(instance: Instance): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${instance.port}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('customer_created_total'))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

const customers = async () => Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM customers'))[0]?.n);

describe(`service instances in one consumer group [${kafkaDescription}]`, () => {
  it('three instances, a fourth added and one SIGKILLed mid-stream: every user registered once, every event published, offsets at the end', async () => {
    const instances = await Promise.all([startInstance(), startInstance(), startInstance()]);
    // First half paced (100 events every 500 ms, ~15 s), so the fourth instance joins while it flows; the second half
    // at once, and one instance is killed while the group works through it (batches in flight).
    const producer = kafka.producer();
    await producer.connect();
    const eventsOf = (count: number) => Array.from({ length: count }, () => userRegistered()).map((event) => ({ key: event.payload.userId, value: JSON.stringify(event) }));
    const paced = (async () => {
      for (let sent = 0; sent < EVENTS / 2; sent += 100) {
        await produce(producer, INPUT, eventsOf(100));
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
    await eventually(customers, (n) => n >= EVENTS / 6, { what: 'consumption under way', intervalMs: 20, timeoutMs: 60_000 });
    const added = await startInstance();
    const atJoin = await customers();
    await paced;
    await eventually(customers, (n) => n >= EVENTS / 2, { what: 'the paced half consumed', intervalMs: 50, timeoutMs: 60_000 });

    await produce(producer, INPUT, eventsOf(EVENTS / 2));
    await producer.disconnect();
    await eventually(customers, (n) => n >= EVENTS / 2 + 300, { what: 'the second half under way', intervalMs: 5, timeoutMs: 60_000 });
    // Not right after a commit was seen (the next transaction has not begun then), but into the next cycle: batches
    // in flight, their transaction open.
    await new Promise((resolve) => setTimeout(resolve, 250));
    const [victim] = instances;
    victim.child.kill('SIGKILL');
    await new Promise((resolve) => victim.child.once('exit', resolve));
    const atKill = await customers();
    expect(atKill, 'killed mid-stream').toBeLessThan(EVENTS);

    try {
      const outcome = await settledOutcome({ kafka, db, groupId: GROUP, input: INPUT, output: OUTPUT, timeoutMs: 120_000 });
      expect(outcome).toMatchObject({
        customers: EVENTS,
        distinctUsers: EVENTS,
        events: EVENTS,
        unpublished: 0,
        deadLetters: 0,
        customersWithoutEvent: 0,
        publishedDistinct: EVENTS,
      });
      const survivors = [...instances.slice(1), added];
      const shares = await Promise.all(survivors.map(createdBy));
      expect(shares[2], 'the added instance took partitions over').toBeGreaterThan(0);
      console.info(
        `joined at ${atJoin}, killed at ${atKill} customers; customers created by the surviving instances: ${shares.join(', ')}; ` +
          `${outcome.published} CustomerRegistered for ${EVENTS} customers`,
      );
    } finally {
      for (const instance of [...instances.slice(1), added]) instance.child.kill('SIGTERM');
      await Promise.all([...children].map((child) => new Promise((resolve) => child.once('exit', resolve))));
    }
  }, 300_000);
});
