/**
 * Issue #11 item 1, "done when": a real `customer-service serve` process (NATS on, so the outbox relays hold their
 * leader connections) under HTTP load while PostgreSQL ends every one of its connections, repeatedly, and then goes
 * away entirely for a while. The process stays alive; it answers 503 problem+json with `Retry-After` while the
 * database is gone and 201 again once it is back, by itself; every 201 is a customer in the database.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/platform/postgres/embedded.js';
import { eventually } from '../support/eventually.js';
import { uniqueEvent } from '../support/corporate.js';
import { userRegistered } from '../support/events.js';
import { freePort } from '../support/global-setup.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';
import { request, startServiceProcess, type HttpAnswer, type ServiceProcess } from '../support/service-process.js';

const WORKERS = 6;
const TERMINATIONS = 6;

let root: string | undefined;
let database: EmbeddedDatabase | undefined;
let nats: NatsServer | undefined;
let service: ServiceProcess | undefined;

afterAll(async () => {
  await service?.stop();
  await nats?.close();
  await database?.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

interface Attempt {
  /** The user id of an individual registration, or the company id (CloudEvent subject) of a corporate one. */
  readonly id: string;
  readonly corporate: boolean;
  readonly phase: string;
  readonly answer: HttpAnswer | { readonly error: string };
}

/** Awaits `condition`, failing at once (with the service's output) if the service process died meanwhile. */
async function progress(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (service?.alive() !== true) throw new Error(`the service died while waiting for ${what}:\n${service?.output() ?? ''}`);
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function onAdminConnection<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('the service while PostgreSQL goes away', () => {
  it('stays alive under load: 503 with Retry-After during the outage, 201 after it, every 201 persisted', async () => {
    root = await mkdtemp(path.join(tmpdir(), 'customer-service-db-outage-'));
    const dataDir = path.join(root, 'pg');
    const pgPort = await freePort();
    database = await startEmbeddedPostgres({ dataDir, port: pgPort });
    const url = database.connectionString;
    nats = await startNatsServer();
    const port = await freePort();
    service = await startServiceProcess({
      PORT: String(port),
      DATABASE_URL: url,
      AUTH_MODE: 'none',
      DATABASE_POOL_SIZE: '6',
      NATS_URL: nats.url,
      LOG_LEVEL: 'info',
    });

    const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS });
    const attempts: Attempt[] = [];
    let phase = 'before';
    let running = true;
    let sent = 0;
    const worker = async () => {
      while (running) {
        // One in five is a corporate registration, so the NATS relays publish throughout.
        sent += 1;
        const corporate = sent % 5 === 0;
        const individual = userRegistered();
        const company = uniqueEvent({ users: 2 });
        const answer = await request({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/v1/events',
          agent,
          headers: { 'content-type': corporate ? 'application/cloudevents+json' : 'application/json' },
          body: JSON.stringify(corporate ? company : individual),
        });
        attempts.push({ id: corporate ? (company.subject ?? '') : individual.payload.userId, corporate, phase, answer });
        // While the database is down every answer is immediate: do not spin.
        if (!('status' in answer) || answer.status !== 201) await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const load = Promise.all(Array.from({ length: WORKERS }, worker));
    const created = (since: number) => attempts.slice(since).filter((a) => 'status' in a.answer && a.answer.status === 201).length;

    await progress('the first registrations', () => created(0) >= 20);
    // 1. PostgreSQL ends every connection of the service, again and again, under load.
    phase = 'terminations';
    const clientBackends = () =>
      onAdminConnection(url, async (admin) => {
        const { rows } = await admin.query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`,
        );
        return Number(rows[0]?.n);
      });
    for (let round = 0; round < TERMINATIONS; round += 1) {
      // The pool reconnects lazily: terminate once the service holds connections again, and count only answers to
      // requests sent after the termination.
      await progress(`the service's connections before termination ${round + 1}`, async () => (await clientBackends()) > 0);
      const ended = await onAdminConnection(url, async (admin) => {
        const { rows } = await admin.query<{ n: string }>(
          `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
           WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`,
        );
        return Number(rows[0]?.n);
      });
      const mark = attempts.length + WORKERS;
      expect(ended).toBeGreaterThan(0);
      await progress(`registrations after termination ${round + 1}`, () => created(mark) >= 5);
    }
    expect(service.alive(), service.output()).toBe(true);

    // 2. The server itself goes away for a while.
    phase = 'down';
    const downMark = attempts.length;
    await database.stop();
    database = undefined;
    await progress('503 answers while the database is down', () =>
      attempts.slice(downMark).filter((a) => 'status' in a.answer && a.answer.status === 503).length >= 10,
    );
    expect(service.alive(), service.output()).toBe(true);
    phase = 'back';
    const backMark = attempts.length;
    database = await startEmbeddedPostgres({ dataDir, port: pgPort });
    await progress('registrations after the database came back', () => created(backMark) >= 20);
    running = false;
    await load;
    agent.destroy();
    expect(service.alive(), service.output()).toBe(true);

    // Every answer was 201 or a 503 problem with Retry-After: never a 500, never a dropped connection.
    const kinds = new Map<string, number>();
    for (const attempt of attempts) {
      const kind = 'status' in attempt.answer ? String(attempt.answer.status) : attempt.answer.error;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    expect([...kinds.keys()].filter((kind) => kind !== '201' && kind !== '503'), JSON.stringify([...kinds])).toEqual([]);
    const unavailable = attempts.flatMap((a) => ('status' in a.answer && a.answer.status === 503 ? [a.answer] : []));
    expect(unavailable.length).toBeGreaterThan(0);
    for (const answer of unavailable) {
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
      expect(JSON.parse(answer.body)).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE' });
    }
    // Every 201 is exactly one customer (or company).
    const accepted = attempts.filter((a) => 'status' in a.answer && a.answer.status === 201);
    const individuals = accepted.filter((a) => !a.corporate).map((a) => a.id);
    const companies = accepted.filter((a) => a.corporate).map((a) => a.id);
    expect(companies.length).toBeGreaterThan(0);
    const counts = await onAdminConnection(url, async (admin) => {
      const { rows } = await admin.query<{ id: string; n: string }>(
        `SELECT user_id::text AS id, count(*) AS n FROM customers WHERE user_id = ANY($1::uuid[]) GROUP BY user_id
         UNION ALL SELECT id::text, count(*) FROM companies WHERE id = ANY($2::uuid[]) GROUP BY id`,
        [individuals, companies],
      );
      return new Map(rows.map((row) => [row.id, Number(row.n)]));
    });
    expect([...individuals, ...companies].filter((id) => counts.get(id) !== 1), 'answered 201 but not exactly one customer').toEqual([]);
    // The relays and the projector recovered by themselves: the read model and NATS catch up with the last customer.
    const last = individuals.at(-1) ?? '';
    const lookup = await eventually(
      async () => {
        const answer = await request({ host: '127.0.0.1', port, path: `/api/v1/customers/by-user/${last}` });
        return 'status' in answer && answer.status === 200 ? answer : undefined;
      },
      { what: 'the last customer in the read model', timeoutMs: 30_000 },
    );
    expect(lookup.status).toBe(200);
    await eventually(
      async () =>
        onAdminConnection(url, async (admin) => {
          const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM outbox WHERE published_at IS NULL AND destination IN ('customer-saved', 'user-saved')`);
          return Number(rows[0]?.n) === 0;
        }),
      { what: 'an empty NATS outbox backlog (Kafka is off here: customer-events waits)', timeoutMs: 30_000 },
    );
    console.info(`database outage: ${attempts.length} requests, ${[...kinds].map(([kind, n]) => `${kind}: ${n}`).join(', ')}`);
  }, 180_000);
});
