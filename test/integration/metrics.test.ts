/** SPEC §6 metrics at /metrics: the seed's four series, outbox backlog, dead letters, HTTP durations, process metrics. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/platform/postgres/database.js';
import { park, resolveDeadLetter } from '../../src/platform/postgres/dead-letters.js';
import { createOutboxRelay } from '../../src/platform/postgres/outbox-relay.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { buildTestApp } from '../support/app.js';
import { freePort } from '../support/global-setup.js';
import { userRegistered } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { labelValues, sampleValue } from '../support/prometheus.js';
import { testLogger } from '../support/run-logs.js';

let db: TestDatabase;
let app: FastifyInstance;

beforeAll(async () => {
  db = await createTestDatabase();
  ({ app } = buildTestApp(db, { defaultMetrics: true }));
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

const post = (event: unknown) =>
  app.inject({ method: 'POST', url: '/api/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(event) });
const scrape = async () => {
  const response = await app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toContain('text/plain');
  return response.body;
};

const N = 7;

describe('/metrics', () => {
  it(`after ${N} registrations reports exactly ${N} created, and ${N} lag samples measured from each event's own timestamp`, async () => {
    const twentySecondsAgo = new Date(Date.now() - 20_000).toISOString();
    const events = Array.from({ length: N }, () => userRegistered({ timestamp: twentySecondsAgo }));
    for (const event of events) expect((await post(event)).statusCode).toBe(201);
    // A redelivery and a second event for the same user are duplicates: counted as such, and not as lag samples.
    expect((await post(events[0])).statusCode).toBe(200);
    expect((await post(userRegistered({ userId: events[1]?.payload.userId, timestamp: twentySecondsAgo }))).statusCode).toBe(200);

    const text = await scrape();
    expect(sampleValue(text, 'customer_created_total', { status: 'created' })).toBe(N);
    expect(sampleValue(text, 'customer_created_total', { status: 'duplicate' })).toBe(2);
    expect(sampleValue(text, 'customer_creation_duration_seconds_count')).toBe(N);
    const lag = { event_type: 'UserRegistered' };
    expect(sampleValue(text, 'event_processing_lag_seconds_count', lag)).toBe(N);
    // Every sample is at least the 20 s since the event's timestamp, not the few ms the request took.
    expect(sampleValue(text, 'event_processing_lag_seconds_bucket', { ...lag, le: '10' })).toBe(0);
    expect(sampleValue(text, 'event_processing_lag_seconds_sum', lag)).toBeGreaterThanOrEqual(20 * N);
  });

  it('reports the outbox backlog from the database, and its drop once the relay has published', async () => {
    const pending = Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL'))[0]?.n);
    expect(pending).toBeGreaterThan(0);
    expect(sampleValue(await scrape(), 'outbox_backlog_messages', { destination: 'customer-events' })).toBe(pending);

    const relay = createOutboxRelay({
      pool: db.pool,
      destination: 'customer-events',
      wake: createWakeSignal(),
      logger: testLogger(),
      publish: () => Promise.resolve(),
    });
    expect(await relay.drain()).toBe(pending);
    const text = await scrape();
    expect(sampleValue(text, 'outbox_backlog_messages', { destination: 'customer-events' })).toBe(0);
    expect(sampleValue(text, 'outbox_backlog_messages', { destination: 'user-saved' })).toBe(0);
  });

  it('reports parked dead letters by reason, from the database', async () => {
    const letter = (reasonCode: string) => ({ transport: 'kafka', source: 'identity.user.events', payload: Buffer.from('{}'), reasonCode, errorMessage: 'x' });
    const [first] = await park(db.pool, [letter('INVALID_EMAIL'), letter('INVALID_EMAIL'), letter('MALFORMED_JSON')]);
    let text = await scrape();
    expect(sampleValue(text, 'dead_letters_parked', { reason: 'INVALID_EMAIL' })).toBe(2);
    expect(sampleValue(text, 'dead_letters_parked', { reason: 'MALFORMED_JSON' })).toBe(1);
    await resolveDeadLetter(db.pool, first as string, 'discarded', 'test');
    text = await scrape();
    expect(sampleValue(text, 'dead_letters_parked', { reason: 'INVALID_EMAIL' })).toBe(1);
  });

  it('times HTTP requests by route pattern, never by raw URL', async () => {
    const ids = ['0190f3c2-0000-7000-8000-000000000001', '0190f3c2-0000-7000-8000-000000000002'];
    for (const id of ids) expect((await app.inject({ method: 'GET', url: `/api/v1/customers/${id}` })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/no/such/route/123' })).statusCode).toBe(404);
    const text = await scrape();
    const routes = labelValues(text, 'http_request_duration_seconds_count', 'route');
    expect(routes).toContain('/api/v1/customers/:customerId');
    expect(routes).toContain('unmatched');
    expect(routes.join(' ')).not.toMatch(/0190f3c2|\/no\/such/);
    expect(
      sampleValue(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/customers/:customerId', status_code: '404' }),
    ).toBe(2);
  });

  it('includes the default process metrics', async () => {
    const text = await scrape();
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(sampleValue(text, name), name).toBeGreaterThanOrEqual(0);
    }
  });

  it('still answers when the database is unreachable, with the last readings', async () => {
    // A real pool pointed at a port nobody listens on: its queries fail as they do while PostgreSQL is down.
    const pool = createPool(`postgres://nobody@127.0.0.1:${await freePort()}/none`, 1);
    const { app: cut } = buildTestApp({ ...db, pool });
    try {
      const response = await cut.inject({ method: 'GET', url: '/metrics' });
      expect(response.statusCode).toBe(200);
      expect(response.body).toContain('customer_created_total');
      expect(response.body).toContain('outbox_backlog_messages');
    } finally {
      await cut.close();
      await pool.end();
    }
  });
});
