import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/global-setup.js';
import { userRegistered } from '../support/events.js';
import { eventually, offsetsOf, plainKafka, readTopic, topicSize } from '../support/kafka.js';
import { kafkaDescription, kafkaIsReal, sharedKafka, type TestKafka } from '../support/kafka-test-broker.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { runCli } from '../support/cli.js';
import { kafkaServiceEnv, spawnKafkaService } from '../support/kafka-service.js';

const INPUT = 'e2e.identity.user.events';
const OUTPUT = 'e2e.customer.events';
const GROUP = 'customer-service-e2e';

let broker: TestKafka;
let db: TestDatabase;
let kafka: Kafka;
let env: Record<string, string>;
let dir: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  // 5,000 events of ~600 bytes, and up to twice as many CustomerRegistered, over 8 partitions: well under the mock fallback's 5 MiB each.
  broker = await sharedKafka({ [INPUT]: 8, [OUTPUT]: 8 });
  db = await createTestDatabase();
  kafka = plainKafka(broker.bootstrapServers);
  dir = await mkdtemp(path.join(tmpdir(), 'customer-service-kafka-e2e-'));
  env = kafkaServiceEnv({
    databaseUrl: db.url,
    brokers: broker.bootstrapServers,
    input: INPUT,
    output: OUTPUT,
    groupId: GROUP,
    extra: {
      // A killed member never says goodbye: the group waits out its session before handing its partitions on.
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      KAFKA_IDEMPOTENT_PRODUCER: String(kafkaIsReal),
      RETRY_BACKOFF_MS: '100,200,400',
    },
  });
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await db?.drop();
  await broker?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const cli = (args: string[], extraEnv: Record<string, string> = {}) => runCli(args, { ...env, ...extraEnv });

// Readiness does not wait for the broker (a broker outage must not take reads down); this test wants it connected.
const startService = (port: number) => spawnKafkaService(env, port, { children, timeoutMs: 30_000, kafkaConnected: true });

const count = async (sql: string) => Number((await db.rows<{ n: string }>(sql))[0]?.n);

describe(`the service on Kafka, end to end [${kafkaDescription}]`, () => {
  it('killed with SIGKILL mid-stream and restarted: one customer per user, each with its CustomerRegistered', async () => {
    const port = await freePort();
    const first = await startService(port);
    const published = await cli(['publish', 'user-registered', '--count', '5000', '--to', 'kafka']);
    expect(published.code, published.stderr).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({ sent: 5000, topic: INPUT, to: 'kafka' });

    await eventually(() => count('SELECT count(*) AS n FROM customers'), (n) => n >= 300, { what: 'consumption under way', intervalMs: 20 });
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const atKill = await count('SELECT count(*) AS n FROM customers');
    expect(atKill, 'killed mid-stream').toBeLessThan(5000);

    const second = await startService(port);
    try {
      await eventually(
        () => offsetsOf(kafka, GROUP, INPUT),
        (partitions) => partitions.every((p) => p.committed === p.end),
        { what: 'every offset committed after the restart', timeoutMs: 60_000, intervalMs: 500 },
      );
      await eventually(() => count('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL'), (n) => n === 0, { what: 'the outbox drained' });
      expect(await count('SELECT count(*) AS n FROM customers')).toBe(5000);
      expect(await count('SELECT count(DISTINCT user_id) AS n FROM customers')).toBe(5000);
      expect(await count('SELECT count(*) AS n FROM event_store')).toBe(5000);

      const total = await topicSize(kafka, OUTPUT);
      expect(total).toBeGreaterThanOrEqual(5000);
      const events = await readTopic(kafka, OUTPUT, total, 60_000);
      const customersWithEvent = new Set(events.map((message) => message.key));
      const customers = (await db.rows<{ id: string }>('SELECT id FROM customers')).map((row) => row.id);
      expect(customers.filter((id) => !customersWithEvent.has(id)), 'customers without a CustomerRegistered').toEqual([]);
      expect(customersWithEvent.size).toBe(5000);
      console.info(`killed at ${atKill} customers; ${total} CustomerRegistered for 5000 customers after the restart`);
    } finally {
      second.kill('SIGTERM');
      await new Promise((resolve) => second.once('exit', resolve));
    }
  }, 120_000);

  it('parks a bad message sent with publish --file, and lists, shows, replays and discards it from the command line', async () => {
    const port = await freePort();
    const service = await startService(port);
    try {
      const good = userRegistered();
      const bad = { ...userRegistered(), payload: { ...userRegistered().payload, firstName: '' } };
      const file = path.join(dir, 'events.ndjson');
      await writeFile(file, `${JSON.stringify(good)}\n${JSON.stringify(bad)}\nnot json at all\n`);
      const sent = await cli(['publish', 'user-registered', '--file', file]);
      expect(sent.code, sent.stderr).toBe(0);
      await eventually(() => count(`SELECT count(*) AS n FROM dead_letters WHERE source = '${INPUT}' AND status = 'parked'`), (n) => n === 2, { what: 'two dead letters' });

      const listed = await cli(['dead-letters', 'list', '--json']);
      expect(listed.code, listed.stderr).toBe(0);
      const letters = listed.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: string; reasonCode: string; offset: string });
      expect(letters.map((letter) => letter.reasonCode).sort()).toEqual(['FIELD_EMPTY', 'MALFORMED_JSON']);
      const malformed = letters.find((letter) => letter.reasonCode === 'MALFORMED_JSON') as (typeof letters)[number];
      const empty = letters.find((letter) => letter.reasonCode === 'FIELD_EMPTY') as (typeof letters)[number];

      const shown = await cli(['dead-letters', 'show', malformed.id]);
      expect(shown.code).toBe(0);
      expect(JSON.parse(shown.stdout)).toMatchObject({ id: malformed.id, payload: 'not json at all', source: INPUT, status: 'parked' });

      const replayed = await cli(['dead-letters', 'replay', empty.id]);
      expect(replayed.code, 'still invalid: exit 2').toBe(2);
      expect(replayed.stdout).toContain('rejected\tFIELD_EMPTY');

      const discarded = await cli(['dead-letters', 'discard', malformed.id, empty.id, '--note', 'test data']);
      expect(discarded.code).toBe(0);
      const after = await cli(['dead-letters', 'list', '--json']);
      expect(after.stdout.trim()).toBe('');
      const all = await cli(['dead-letters', 'replay', '--all']);
      expect(all.code).toBe(0);
      expect(all.stderr).toMatch(/^dead-letters replay: (\d+)\/\1 letters \(100%\), .*, done$/m);
      expect((await cli(['dead-letters', 'show', '999999'])).code).toBe(2);

      const overHttp = await cli(['publish', 'user-registered', '--count', '3', '--to', 'http', '--url', `http://127.0.0.1:${port}/api/v1/events`]);
      expect(overHttp.code, overHttp.stderr).toBe(0);
      expect(JSON.parse(overHttp.stdout)).toMatchObject({ sent: 3, statuses: { 201: 3 } });
    } finally {
      service.kill('SIGTERM');
      await new Promise((resolve) => service.once('exit', resolve));
    }
  }, 90_000);
});
