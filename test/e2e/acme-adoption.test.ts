/**
 * Adopting the ACME customer service's database: a database laid out as that service leaves it (the seed's DDL plus its
 * Flyway V4–V6 tables, see shared/BACKGROUND.md) with 1,000 customers, their events, processed_events and 10 outbox rows
 * its relay never published; then `adopt acme`, and the real service (`serve`, Kafka-protocol test broker) on top.
 */
import type { ChildProcess } from 'node:child_process';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/global-setup.js';
import { userRegistered } from '../support/events.js';
import { eventually, plainKafka, readTopic, topicSize } from '../support/kafka.js';
import { sharedKafka, type TestKafka } from '../support/kafka-test-broker.js';
import { kafkaServiceEnv, spawnKafkaService } from '../support/kafka-service.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { runCli } from '../support/cli.js';

const INPUT = 'acme.identity.user.events';
const OUTPUT = 'acme.customer.events';

/** The seed's DDL (003_…, "Database Schema (PostgreSQL)"), verbatim. */
const SEED_DDL = /* sql */ `
CREATE TABLE customers (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL UNIQUE,
    customer_number VARCHAR(20) NOT NULL UNIQUE,
    first_name VARCHAR(50) NOT NULL,
    last_name VARCHAR(50) NOT NULL,
    display_name VARCHAR(100) NOT NULL,
    email VARCHAR(255) NOT NULL,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    phone_country_code VARCHAR(5),
    phone_number VARCHAR(20),
    phone_verified BOOLEAN DEFAULT FALSE,
    status VARCHAR(50) NOT NULL DEFAULT 'PENDING_VERIFICATION',
    type VARCHAR(50) NOT NULL DEFAULT 'INDIVIDUAL',
    date_of_birth DATE,
    gender VARCHAR(20),
    preferred_locale VARCHAR(10) NOT NULL DEFAULT 'en-US',
    timezone VARCHAR(50) NOT NULL DEFAULT 'UTC',
    preferred_currency VARCHAR(3) NOT NULL DEFAULT 'USD',
    profile_completeness INTEGER NOT NULL DEFAULT 25,
    registered_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_activity_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE TABLE customer_preferences (
    customer_id UUID PRIMARY KEY REFERENCES customers(id),
    email_notifications BOOLEAN NOT NULL DEFAULT TRUE,
    sms_notifications BOOLEAN NOT NULL DEFAULT FALSE,
    push_notifications BOOLEAN NOT NULL DEFAULT FALSE,
    marketing_communications BOOLEAN NOT NULL DEFAULT FALSE,
    share_data_with_partners BOOLEAN NOT NULL DEFAULT FALSE,
    allow_analytics BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE TABLE customer_number_sequences (
    year_month VARCHAR(6) PRIMARY KEY,  -- YYYYMM format
    current_value INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX idx_customers_user_id ON customers(user_id);
CREATE INDEX idx_customers_email ON customers(email);
CREATE INDEX idx_customers_customer_number ON customers(customer_number);
CREATE INDEX idx_customers_status ON customers(status);
`;

/** ACME's Flyway V4–V6 as BACKGROUND.md describes them (column types as a Spring/Flyway service would write them). */
const ACME_V4_V6 = /* sql */ `
CREATE TABLE flyway_schema_history (installed_rank INT PRIMARY KEY, version VARCHAR(50), description VARCHAR(200) NOT NULL,
    type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INT, installed_by VARCHAR(100) NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT now(), execution_time INT NOT NULL, success BOOLEAN NOT NULL);
CREATE TABLE event_store (
    event_id UUID PRIMARY KEY,
    event_type VARCHAR(100) NOT NULL,
    event_version VARCHAR(10) NOT NULL,
    timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    aggregate_id UUID NOT NULL,
    aggregate_type VARCHAR(100) NOT NULL,
    correlation_id UUID NOT NULL,
    causation_id UUID,
    payload JSONB NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_event_store_aggregate ON event_store (aggregate_id, timestamp);
CREATE TABLE processed_events (
    event_id UUID PRIMARY KEY,
    event_type VARCHAR(100) NOT NULL,
    processed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    aggregate_id UUID NOT NULL,
    aggregate_type VARCHAR(100) NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    event_id UUID NOT NULL UNIQUE,
    topic VARCHAR(255) NOT NULL,
    message_key VARCHAR(255),
    payload JSONB NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    published_at TIMESTAMP WITH TIME ZONE,
    retry_count INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX idx_outbox_unpublished ON outbox (created_at) WHERE published_at IS NULL;
CREATE INDEX idx_outbox_retry ON outbox (retry_count) WHERE published_at IS NULL;
`;

/**
 * 1,000 customers over three months (400, 350, 250; 300 of them active), each with its UserRegistered in
 * processed_events, its CustomerRegistered in event_store and in outbox; the last 10 outbox rows unpublished. ACME keys
 * its sequences by processing month, so they need not match the numbers given: 202603's is behind here.
 */
const ACME_DATA = /* sql */ `
CREATE TEMP TABLE seed AS
SELECT n, gen_random_uuid() AS id, gen_random_uuid() AS user_id, gen_random_uuid() AS input_event_id, gen_random_uuid() AS event_id,
       gen_random_uuid() AS correlation_id,
       CASE WHEN n <= 400 THEN '202601' WHEN n <= 750 THEN '202602' ELSE '202603' END AS ym,
       CASE WHEN n <= 400 THEN n WHEN n <= 750 THEN n - 400 ELSE n - 750 END AS seq,
       timestamptz '2026-01-01T00:00:00Z' + (n * interval '2 hours') + interval '0.123456 seconds' AS at
FROM generate_series(1, 1000) AS n;
INSERT INTO customers (id, user_id, customer_number, first_name, last_name, display_name, email, email_verified, status,
                       registered_at, last_activity_at)
SELECT id, user_id, 'ACME-' || ym || '-' || lpad(seq::text, 6, '0'), 'First' || n, 'Last' || n, 'First' || n || ' Last' || n,
       'Customer.' || n || '@Example.com', n % 10 < 3, CASE WHEN n % 10 < 3 THEN 'ACTIVE' ELSE 'PENDING_VERIFICATION' END, at, at
FROM seed;
INSERT INTO customer_preferences (customer_id, marketing_communications) SELECT id, n % 2 = 0 FROM seed;
INSERT INTO customer_number_sequences VALUES ('202601', 400), ('202602', 350), ('202603', 240);
INSERT INTO processed_events (event_id, event_type, processed_at) SELECT input_event_id, 'UserRegistered', at FROM seed;
INSERT INTO event_store (event_id, event_type, event_version, timestamp, aggregate_id, aggregate_type, correlation_id, causation_id, payload, created_at)
SELECT event_id, 'CustomerRegistered', '1.0', at, id, 'Customer', correlation_id, input_event_id,
       jsonb_build_object('eventId', event_id, 'eventType', 'CustomerRegistered', 'eventVersion', '1.0', 'timestamp', at,
         'aggregateId', id, 'aggregateType', 'Customer', 'correlationId', correlation_id, 'causationId', input_event_id,
         'payload', jsonb_build_object('customerId', id, 'userId', user_id, 'customerNumber', 'ACME-' || ym || '-' || lpad(seq::text, 6, '0'),
           'email', 'Customer.' || n || '@Example.com', 'firstName', 'First' || n, 'lastName', 'Last' || n,
           'status', 'PENDING_VERIFICATION', 'type', 'INDIVIDUAL', 'registeredAt', at)), at
FROM seed;
INSERT INTO outbox (aggregate_id, aggregate_type, event_type, event_id, topic, message_key, payload, created_at, published_at, retry_count, last_error)
SELECT e.aggregate_id, 'Customer', e.event_type, e.event_id, 'customer.events', e.aggregate_id::text, e.payload, e.created_at,
       CASE WHEN s.n <= 990 THEN e.created_at + interval '1 second' END,
       CASE WHEN s.n <= 990 THEN 0 ELSE 5 END,
       CASE WHEN s.n <= 990 THEN NULL ELSE 'org.apache.kafka.common.errors.TimeoutException' END
FROM event_store e JOIN seed s ON s.event_id = e.event_id ORDER BY s.n;
`;

/** Every business row of a table, in one digest: any lost, added or rewritten row changes it. */
const digest = (table: string, key: string) => `SELECT count(*) AS n, md5(string_agg(t::text, '|' ORDER BY t.${key})) AS digest FROM ${table} t`;
const BUSINESS_TABLES: [string, string][] = [
  ['customers', 'id'],
  ['customer_preferences', 'customer_id'],
  ['processed_events', 'event_id'],
];

let broker: TestKafka;
let kafka: Kafka;
let db: TestDatabase;
let env: Record<string, string>;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  broker = await sharedKafka({ [INPUT]: 2, [OUTPUT]: 4 });
  kafka = plainKafka(broker.bootstrapServers);
  db = await createTestDatabase({ migrate: false });
  await db.pool.query(SEED_DDL);
  await db.pool.query(ACME_V4_V6);
  await db.pool.query(ACME_DATA);
  env = kafkaServiceEnv({
    databaseUrl: db.url,
    brokers: broker.bootstrapServers,
    input: INPUT,
    output: OUTPUT,
    groupId: 'acme-adoption',
    // 4,000 lookups from one client in a few seconds: the per-client rate limits are off for this test.
    extra: { RATE_LIMIT_LOOKUPS: '0', RATE_LIMIT_EVENTS: '0' },
  });
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await db?.drop();
  await broker?.stop();
});

const startService = (port: number) => spawnKafkaService(env, port, { children });

async function stopService(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const businessDigests = async () => Promise.all(BUSINESS_TABLES.map(async ([table, key]) => (await db.rows(digest(table, key)))[0]));
const count = async (sql: string) => Number((await db.rows<{ n: string }>(sql))[0]?.n);

describe('adopting an ACME customer database', () => {
  let before: Awaited<ReturnType<typeof businessDigests>>;
  let acmeUnpublished: string[];

  it('--dry-run reports what it finds and would do, and changes nothing', async () => {
    before = await businessDigests();
    acmeUnpublished = (await db.rows<{ event_id: string }>('SELECT event_id FROM outbox WHERE published_at IS NULL ORDER BY id')).map((row) => row.event_id);
    expect(acmeUnpublished).toHaveLength(10);
    const result = await runCli(['adopt', 'acme', '--dry-run'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('keep 1000 customers and 1000 preference rows');
    expect(result.stdout).toContain('numbering 202601: highest given 400, ACME sequence 400; the next number is 000401');
    expect(result.stdout).toContain('numbering 202603: highest given 250, ACME sequence 240; the next number is 000251');
    expect(result.stdout).toContain("rename ACME's event_store (1000 events) to acme_event_store");
    expect(result.stdout).toContain('keep 1000 processed_events ids as duplicates');
    expect(result.stdout).toContain('hand its 10 unpublished rows to ours');
    expect(result.stdout).toContain('dry run: nothing was changed');
    expect(await count(`SELECT count(*) AS n FROM information_schema.tables WHERE table_name IN ('schema_migrations', 'acme_event_store', 'inbox')`)).toBe(0);
    expect(await businessDigests()).toEqual(before);
  }, 60_000);

  it('adopt acme takes it over without losing or rewriting a business row', async () => {
    const result = await runCli(['adopt', 'acme'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/adopted: 1000 customers; migrations applied: 2-read-model, /);
    expect(await businessDigests()).toEqual(before);
    // ACME's own history is kept under another name.
    expect(await count('SELECT count(*) AS n FROM acme_event_store')).toBe(1000);
    expect(await count('SELECT count(*) AS n FROM acme_outbox WHERE published_at IS NULL')).toBe(10);
    // Running it again, or migrate, finds our database.
    const again = await runCli(['adopt', 'acme'], env);
    expect([again.code, again.stdout.trim()]).toEqual([0, "nothing to adopt: this is already customer-service's database (schema_migrations present)"]);
    expect((await runCli(['migrate'], env)).code).toBe(0);
    expect(await businessDigests()).toEqual(before);
  }, 120_000);

  it('serves every existing customer by id, user id, number and e-mail; numbering continues; old events stay duplicates; the 10 rows are published once', async () => {
    const port = await freePort();
    let service = await startService(port);
    const base = `http://127.0.0.1:${port}/api/v1/customers`;
    const customers = await db.rows<{ id: string; user_id: string; customer_number: string; email: string; status: string; marketing: boolean }>(
      `SELECT c.id, c.user_id, c.customer_number, c.email, c.status, p.marketing_communications AS marketing
       FROM customers c JOIN customer_preferences p ON p.customer_id = c.id ORDER BY c.customer_number`,
    );
    expect(customers).toHaveLength(1000);
    // The projector serves them shortly after start.
    const last = customers.at(-1);
    await eventually(() => fetch(`${base}/${last?.id}`).then((response) => response.status), (status) => status === 200, { what: 'the adopted customers projected', timeoutMs: 30_000 });
    for (const customer of customers) {
      const paths = [customer.id, `by-user/${customer.user_id}`, `by-number/${customer.customer_number}`, `by-email/${encodeURIComponent(customer.email.toLowerCase())}`];
      for (const path of paths) {
        const response = await fetch(`${base}/${path}`);
        expect(response.status, path).toBe(200);
        const body = (await response.json()) as { customerId: string; customerNumber: string; status: string; preferences: { communication: { marketing: boolean } } };
        expect(body).toMatchObject({ customerId: customer.id, customerNumber: customer.customer_number, status: customer.status });
        expect(body.preferences.communication.marketing).toBe(customer.marketing);
      }
    }

    const post = (event: unknown) => fetch(`http://127.0.0.1:${port}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
    const january = await post(userRegistered({ timestamp: '2026-01-20T08:00:00Z' }));
    expect(january.status).toBe(201);
    expect(((await january.json()) as { customerNumber: string }).customerNumber).toBe('ACME-202601-000401');
    const march = await post(userRegistered({ timestamp: '2026-03-20T08:00:00Z' }));
    expect(((await march.json()) as { customerNumber: string }).customerNumber).toBe('ACME-202603-000251');

    // An old UserRegistered redelivered (its id is in processed_events): a duplicate, nothing written.
    const [old] = await db.rows<{ event_id: string; user_id: string }>(
      `SELECT p.event_id, c.user_id FROM processed_events p JOIN acme_event_store e ON e.causation_id = p.event_id JOIN customers c ON c.id = e.aggregate_id LIMIT 1`,
    );
    const customersBefore = await count('SELECT count(*) AS n FROM customers');
    const redelivered = await post(userRegistered({ eventId: old?.event_id, userId: old?.user_id }));
    expect(redelivered.status).toBe(200);
    // Even with another user in it, that id was processed: recognised, and no customer is created for it.
    const reused = await post(userRegistered({ eventId: old?.event_id }));
    expect(reused.status).toBe(409);
    expect(await count('SELECT count(*) AS n FROM customers')).toBe(customersBefore);

    // ACME's 10 unpublished rows and our 2 registrations, once each; a restart publishes nothing again.
    await eventually(() => count('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL'), (n) => n === 0, { what: 'the outbox drained', timeoutMs: 30_000 });
    expect(await topicSize(kafka, OUTPUT)).toBe(12);
    await stopService(service);
    service = await startService(port);
    const messages = await readTopic(kafka, OUTPUT, 12);
    const eventIds = messages.map((message) => message.headers.eventId);
    for (const id of acmeUnpublished) expect(eventIds.filter((eventId) => eventId === id)).toHaveLength(1);
    const acmeMessage = messages.find((message) => message.headers.eventId === acmeUnpublished[0]);
    expect(JSON.parse(acmeMessage?.value ?? '{}')).toMatchObject({ eventId: acmeUnpublished[0], eventType: 'CustomerRegistered', payload: { customerNumber: expect.stringMatching(/^ACME-2026\d\d-\d{6}$/) as unknown } });
    expect(await topicSize(kafka, OUTPUT)).toBe(12);
    await stopService(service);
    expect(await count('SELECT count(*) AS n FROM customers')).toBe(1002);
    expect(await count('SELECT count(*) AS n FROM processed_events')).toBe(1000);
  }, 240_000);
});

describe('a database it does not recognise', () => {
  it('is refused with exit 2 and the reasons by migrate and by adopt acme, and left untouched', async () => {
    const other = await createTestDatabase({ migrate: false });
    try {
      await other.pool.query('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE outbox (id INTEGER PRIMARY KEY, body TEXT)');
      const otherEnv = { ...env, DATABASE_URL: other.url };
      for (const args of [['migrate'], ['adopt', 'acme'], ['adopt', 'acme', '--dry-run']]) {
        const result = await runCli(args, otherEnv);
        expect(result.code, args.join(' ')).toBe(2);
        expect(result.stderr).toContain('table customers lacks the ACME columns user_id, customer_number');
        expect(result.stderr).toContain('table outbox lacks the ACME columns');
        expect(result.stderr).toContain('Nothing was changed');
      }
      const tables = await other.rows<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
      expect(tables.map((row) => row.table_name)).toEqual(['customers', 'outbox']);
    } finally {
      await other.drop();
    }
  }, 120_000);
});
