/**
 * Issue #11 item 5: a hung or locked database must not hang clients for as long as it lasts. A lock wait ends at
 * lock_timeout, and a database that stops answering altogether is cut off by the request deadline; either way HTTP
 * answers 503 with Retry-After at once, writes nothing, and serves again as soon as the database does.
 */
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/platform/postgres/database.js';
import { buildTestApp } from '../support/app.js';
import { userRegistered } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
let pool: Pool;
let app: FastifyInstance;
let admin: pg.Client;
let stopped: number[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 4, undefined, { statementMs: 2_000, lockMs: 300 });
  ({ app } = buildTestApp({ pool }, { requestTimeoutMs: 1_500 }));
  await app.ready();
  admin = new pg.Client({ connectionString: db.url });
  admin.on('error', () => undefined);
  await admin.connect();
});
afterEach(() => {
  for (const pid of stopped) process.kill(pid, 'SIGCONT');
  stopped = [];
});
afterAll(async () => {
  await app?.close();
  await admin?.end();
  await pool?.end();
  await db?.drop();
});

const post = (event: unknown) =>
  app.inject({ method: 'POST', url: '/api/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(event) });

async function customers(userId: string): Promise<number> {
  const [row] = await db.rows<{ n: string }>('SELECT count(*) AS n FROM customers WHERE user_id = $1', [userId]);
  return Number(row?.n);
}

describe('a database that holds a lock', () => {
  it('answers 503 with Retry-After after lock_timeout, not when the lock goes', async () => {
    await admin.query('BEGIN');
    await admin.query('LOCK TABLE customer_number_sequences IN ACCESS EXCLUSIVE MODE');
    const event = userRegistered();
    const started = Date.now();
    const release = setTimeout(() => void admin.query('ROLLBACK'), 8_000);
    try {
      const response = await post(event);
      const elapsedMs = Date.now() - started;
      expect(response.statusCode, response.body).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
      expect(response.json()).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(elapsedMs).toBeLessThan(3_000);
    } finally {
      clearTimeout(release);
      await admin.query('ROLLBACK');
    }
    expect(await customers(event.payload.userId)).toBe(0);
    expect((await post(event)).statusCode).toBe(201);
  });
});

describe('a database that stops answering', () => {
  it('answers 503 with Retry-After at the request deadline, and 201 once it answers again', async () => {
    // Warm the pool, then freeze every server process of its connections (SIGSTOP): no statement_timeout can fire.
    await Promise.all(Array.from({ length: 4 }, () => pool.query('SELECT pg_sleep(0.05)')));
    const { rows } = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const { pid } of rows) {
      process.kill(pid, 'SIGSTOP');
      stopped.push(pid);
    }
    const event = userRegistered();
    const started = Date.now();
    const response = await post(event);
    expect(response.statusCode, response.body).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect(Date.now() - started).toBeLessThan(4_000);
    for (const pid of stopped) process.kill(pid, 'SIGCONT');
    stopped = [];
    // The frozen request may still commit once the server wakes: the retry is then a duplicate, never a second customer.
    const retry = await post(event);
    expect([200, 201]).toContain(retry.statusCode);
    expect(await customers(event.payload.userId)).toBe(1);
  });
});
