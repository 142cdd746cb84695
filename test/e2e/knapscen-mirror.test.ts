/**
 * The knapscen MySQL mirror against a real MariaDB (Debian's mariadb-server, started by the test): knapscen's own
 * queries succeed after a registration; registrations it cannot hold are refused up front; a mirror killed mid-batch
 * converges; `projections rebuild` reproduces the same rows; and its lag at 200 corporate registrations/s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { RowDataPacket } from 'mysql2/promise';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KNAPSCEN_MIRROR_PROJECTION, knapscenViolations, openKnapscenMirror, type KnapscenMirror } from '../../src/corporate-customers/knapscen-mirror.js';
import { createRegisterCorporateCustomer, type RegisterCorporateCustomer } from '../../src/corporate-customers/register-corporate-customer.js';
import { createProjector, type BatchResult } from '../../src/platform/postgres/projector.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { fixtureEvent, registration, tableCounts, uniqueEvent } from '../support/corporate.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../support/global-setup.js';
import { startMariaDb, type MariaDbServer } from '../support/mariadb.js';
import { createTestDatabase } from '../support/postgres.js';
import { ROOT, runCli } from '../support/cli.js';
import { loadConfig } from '../../src/config.js';
import { startService, type RunningService } from '../../src/service.js';
import { testLogger } from '../support/run-logs.js';

const logger = testLogger();
let maria: MariaDbServer;

beforeAll(async () => {
  maria = await startMariaDb();
}, 120_000);
afterAll(async () => {
  await maria?.close();
});

/** One PostgreSQL database, one knapscen database, the use case with the mirror's checks, and an in-process mirror. */
async function setUp() {
  const db = await createTestDatabase({ poolSize: 20 });
  const knapscen = await maria.createKnapscenDatabase();
  const mirror: KnapscenMirror = openKnapscenMirror(knapscen.url, logger);
  const wake = createWakeSignal();
  const batches: { readonly at: number; readonly batch: BatchResult }[] = [];
  const projector = createProjector({ pool: db.pool, projection: mirror.projection, wake, logger, batchSize: 100, pollIntervalMs: 50, onBatch: (batch) => batches.push({ at: Date.now(), batch }) });
  const register: RegisterCorporateCustomer = createRegisterCorporateCustomer({
    pool: db.pool,
    clock: () => new Date(),
    newId: () => uuidv7(),
    onCommitted: () => wake.notify(),
    extraChecks: (company) => knapscenViolations(company),
  });
  const mysqlRows = async <T,>(sql: string, values: unknown[] = []) => (await knapscen.connection.query<RowDataPacket[]>(sql, values))[0] as T[];
  const stop = async () => {
    await projector.stop();
    await mirror.close();
    await knapscen.connection.end();
    await db.drop();
  };
  return { db, knapscen, mirror, projector, register, batches, mysqlRows, stop };
}

/** Everything of ours in knapscen's tables, timestamps included: what a rebuild must reproduce. */
const SNAPSHOT_COMPANIES = 'SELECT id, name, subscription_tier, created_at, updated_at FROM corporate_customers ORDER BY id';
const SNAPSHOT_USERS = 'SELECT u.id, u.customer_id, r.role_name, u.name, u.email, u.created_at, u.updated_at FROM users u JOIN user_roles r ON r.id = u.role_id ORDER BY u.id';

describe('knapscen MySQL mirror', () => {
  let env: Awaited<ReturnType<typeof setUp>>;
  beforeAll(async () => {
    env = await setUp();
    env.projector.start();
  }, 60_000);
  afterAll(() => env?.stop());

  it("lets knapscen's touchpoints Job and its users query work after a registration", async () => {
    const result = await env.register({ registration: registration(fixtureEvent()) });
    expect(result.outcome).toBe('created');
    // create-touchpoints: the company by name, then a touchpoints row with every date NULL.
    const found = await eventually(async () => {
      // knapscen's query, with its %s placeholder in mysql2's spelling.
      const rows = await env.mysqlRows<{ id: string }>('SELECT id FROM corporate_customers WHERE name = ? LIMIT 1', ['TechCorp Solutions']);
      return rows[0];
    }, 'the company in MySQL');
    expect(found.id).toBe('550e8400-e29b-41d4-a716-446655440000');
    await env.knapscen.connection.query(
      'INSERT INTO touchpoints (id, customer_id, welcome_outreach, technical_onboarding, follow_up_call, feedback_session) VALUES (UUID(), ?, NULL, NULL, NULL, NULL)',
      [found.id],
    );
    expect(await env.mysqlRows('SELECT customer_id FROM touchpoints')).toEqual([{ customer_id: found.id }]);
    // The users of the company with their role names, as register-users wrote them.
    const users = await env.mysqlRows<{ id: string; name: string; email: string; role_name: string }>(
      'SELECT u.id, u.name, u.email, r.role_name FROM users u JOIN user_roles r ON u.role_id = r.id WHERE u.customer_id = ? ORDER BY u.email',
      [found.id],
    );
    const ours = await env.db.rows<{ id: string; name: string; email: string; role: string }>(
      'SELECT u.id, u.name, u.email, r.name AS role FROM company_users u JOIN user_roles r ON r.id = u.role_id ORDER BY u.email',
    );
    expect(users).toEqual(ours.map((user) => ({ id: user.id, name: user.name, email: user.email, role_name: user.role })));
  });

  it('refuses up front, with NOT_MIRRORABLE, a registration whose e-mail knapscen cannot hold; nothing is written anywhere', async () => {
    const before = await tableCounts(env.db.pool);
    const event = uniqueEvent();
    const email = `${'a'.repeat(60)}@example.com`; // 72 characters: fine for us (254), not for knapscen's VARCHAR(64)
    event.data.users[1] = { name: 'Long Address', role: 'admin_user', email };
    const result = await env.register({ registration: registration(event) });
    expect(result).toMatchObject({ outcome: 'rejected', error: { code: 'NOT_MIRRORABLE', violations: [{ field: 'data.users.1.email', code: 'NOT_MIRRORABLE' }] } });
    expect(await tableCounts(env.db.pool)).toEqual(before);
    expect(await env.mysqlRows('SELECT id FROM corporate_customers WHERE id = ?', [event.subject])).toEqual([]);
  });

  it('keeps up with 200 corporate registrations/s (lag from commit to MySQL, reported)', async () => {
    env.batches.length = 0;
    const mirroredBefore = Number((await env.mysqlRows<{ n: number }>('SELECT count(*) AS n FROM corporate_customers'))[0]?.n);
    const rate = 200;
    const seconds = 10;
    const started = Date.now();
    const pending: Promise<unknown>[] = [];
    // Paced at the rate, with at most 16 registrations in flight (the pool's size): if the machine falls behind, the
    // achieved rate below says so instead of the pool timing out.
    const inFlight = new Set<Promise<unknown>>();
    for (let i = 0; i < rate * seconds; i += 1) {
      const due = started + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      while (inFlight.size >= 16) await Promise.race(inFlight);
      const registered = env.register({ registration: registration(uniqueEvent()) });
      const tracked = registered.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      pending.push(registered);
    }
    const results = await Promise.all(pending);
    const offered = (rate * seconds * 1000) / (Date.now() - started);
    expect(results.every((result) => (result as { outcome: string }).outcome === 'created')).toBe(true);
    await eventually(async () => Number((await env.mysqlRows<{ n: number }>('SELECT count(*) AS n FROM corporate_customers'))[0]?.n) === mirroredBefore + rate * seconds, { what: 'every company mirrored', timeoutMs: 60_000 });
    // The batch callback follows the checkpoint's commit, a moment after the MySQL commit the count above saw.
    await eventually(() => Promise.resolve(env.batches.reduce((sum, { batch }) => sum + batch.applied.length, 0) >= rate * seconds), 'every batch reported');
    // Lag per company: from its event's append in PostgreSQL to the end of the batch that committed it in MySQL.
    const lags = env.batches.flatMap(({ at, batch }) => batch.applied.map((event) => at - event.recordedAt.getTime())).sort((a, b) => a - b);
    const at = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? Number.NaN;
    const report = { achievedPerSecond: Math.round(offered), companies: lags.length, p50Ms: at(0.5), p95Ms: at(0.95), p99Ms: at(0.99), maxMs: lags.at(-1) };
    process.stdout.write(`knapscen mirror lag at ${rate}/s: ${JSON.stringify(report)}\n`);
    expect(lags).toHaveLength(rate * seconds);
    // A bound with room for a loaded 2-core machine; the figures themselves go to the note.
    expect(report.p95Ms).toBeLessThan(10_000);
  }, 120_000);
});

describe('the mirror in the running service', () => {
  let env: Awaited<ReturnType<typeof setUp>>;
  const children = new Set<ChildProcess>();
  beforeAll(async () => {
    env = await setUp();
  }, 60_000);
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await env?.stop();
  });

  const serviceEnv = () => ({ PATH: process.env.PATH ?? '', DATABASE_URL: env.db.url, KNAPSCEN_MYSQL_URL: env.knapscen.url, PROJECTOR_BATCH_SIZE: '25', LOG_LEVEL: 'warn', AUTH_MODE: 'none' });
  const serve = async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], { cwd: ROOT, env: { ...serviceEnv(), PORT: String(port) }, stdio: 'ignore' });
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  };
  const mirrored = async () => Number((await env.mysqlRows<{ n: number }>('SELECT count(*) AS n FROM corporate_customers'))[0]?.n);

  it('killed (SIGKILL) mid-way through the backlog, converges after a restart: every row once, exactly as ours', async () => {
    const total = 600;
    for (let i = 0; i < total; i += 30) {
      await Promise.all(Array.from({ length: 30 }, () => env.register({ registration: registration(uniqueEvent({ users: 2 })) })));
    }
    const first = await serve();
    const partial = await eventually(async () => {
      const n = await mirrored();
      return n > 0 ? n : undefined;
    }, { what: 'the mirror under way', timeoutMs: 60_000, intervalMs: 10 });
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    expect(partial).toBeLessThan(total);
    await serve();
    await eventually(async () => (await mirrored()) === total, { what: 'every company mirrored after the restart', timeoutMs: 90_000 });

    const ours = await env.db.rows<{ id: string; name: string; subscription_tier: string }>('SELECT id::text, name, subscription_tier FROM companies ORDER BY id');
    expect(await env.mysqlRows('SELECT id, name, subscription_tier FROM corporate_customers ORDER BY id')).toEqual(ours);
    const ourUsers = await env.db.rows<{ id: string; customer_id: string; email: string }>('SELECT id::text, customer_id::text, email FROM company_users ORDER BY id');
    expect(await env.mysqlRows('SELECT id, customer_id, email FROM users ORDER BY id')).toEqual(ourUsers);
    for (const child of children) child.kill('SIGTERM');
  }, 240_000);

  it('projections rebuild reproduces the same rows, even after they were deleted from MySQL', async () => {
    await eventually(() => Promise.resolve(children.size === 0), { what: 'the service stopped', timeoutMs: 30_000 });
    const companies = await env.mysqlRows(SNAPSHOT_COMPANIES);
    const users = await env.mysqlRows(SNAPSHOT_USERS);
    expect(companies.length).toBeGreaterThan(0);
    await env.knapscen.connection.query('DELETE FROM users WHERE customer_id IN (SELECT id FROM corporate_customers WHERE name LIKE ?)', ['%']);
    await env.knapscen.connection.query('DELETE FROM corporate_customers ORDER BY id LIMIT 100');
    const result = await runCli(['projections', 'rebuild'], serviceEnv());
    // stderr holds the rebuild's logs and progress lines (stdout the JSON report alone); none of them an error.
    expect(result.stderr).not.toMatch(/"level":(50|60)/);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { projection: string; events: number });
    expect(lines.map((line) => line.projection)).toContain(KNAPSCEN_MIRROR_PROJECTION);
    expect(await env.mysqlRows(SNAPSHOT_COMPANIES)).toEqual(companies);
    expect(await env.mysqlRows(SNAPSHOT_USERS)).toEqual(users);
  }, 120_000);
});

describe('the mirror in /health and dependency_up (issue 19)', () => {
  let env: Awaited<ReturnType<typeof setUp>>;
  let service: RunningService | undefined;
  beforeAll(async () => {
    env = await setUp();
  }, 60_000);
  afterAll(async () => {
    await service?.stop();
    await env?.stop();
  });

  const start = async (mysqlUrl: string) => {
    const port = await freePort();
    service = await startService(loadConfig({ DATABASE_URL: env.db.url, KNAPSCEN_MYSQL_URL: mysqlUrl, PORT: String(port), HOST: '127.0.0.1', AUTH_MODE: 'none' }), logger);
    return `http://127.0.0.1:${port}`;
  };
  const state = async (url: string) => {
    const health = (await (await fetch(`${url}/health`)).json()) as { components: Record<string, { status: string; details?: Record<string, unknown>; affectsReadiness?: boolean }> };
    const metrics = await (await fetch(`${url}/metrics`)).text();
    return { mirror: health.components.mirror, dependencyUp: /^dependency_up\{dependency="mirror"\} (\d)$/m.exec(metrics)?.[1], ready: (await fetch(`${url}/health/ready`)).status };
  };

  it('reports MySQL reachable as UP and 1, unreachable as DOWN and 0 (without the URL) while reads stay ready', async () => {
    const up = await state(await start(env.knapscen.url));
    expect(up).toMatchObject({ mirror: { status: 'UP', affectsReadiness: false }, dependencyUp: '1', ready: 200 });
    await service?.stop();
    service = undefined;

    const closedPort = await freePort();
    const down = await state(await start(`mysql://knapscen:disco-secret@127.0.0.1:${closedPort}/nowhere`));
    expect(down).toMatchObject({ mirror: { status: 'DOWN', affectsReadiness: false }, dependencyUp: '0', ready: 200 });
    expect(JSON.stringify(down.mirror)).not.toContain('disco-secret');
  }, 60_000);
});
