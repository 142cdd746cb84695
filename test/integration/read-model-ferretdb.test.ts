/**
 * The service with its read model in a real MongoDB wire-protocol server: FerretDB 1.x on its own PostgreSQL
 * database, started for this file so it can be stopped (test/support/ferretdb.ts). Covers the seed's "visible within
 * 2 s of commit" and a read-model store outage: the projector retries without moving its checkpoint, readiness says
 * DOWN, and everything arrives once the store is back.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { mongoProjectionName } from '../../src/individual-customers/customer-read-model.mongo.js';
import { startService, type RunningService } from '../../src/service.js';
import { userRegistered } from '../support/events.js';
import { eventually } from '../support/eventually.js';
import { ferretDbAvailable, FERRETDB_INSTALL_HINT, startFerretDb, type FerretDb } from '../support/ferretdb.js';
import { freePort } from '../support/global-setup.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

if (!ferretDbAvailable() && process.env.CI === 'true') throw new Error(`FerretDB is needed in CI. ${FERRETDB_INSTALL_HINT}`);

let db: TestDatabase;
let ferretDb: FerretDb;
let service: RunningService;
const database = `service_${randomBytes(4).toString('hex')}`;
const logLines: { msg?: string; projection?: string }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  ferretDb = await startFerretDb({ postgresAdminUrl: inject('postgresAdminUrl'), port: await freePort() });
  const config = loadConfig({
    DATABASE_URL: db.url,
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    // A failing read-model write surfaces after 1 s instead of the driver's 30 s, so the retries show in the test.
    MONGODB_URL: `${ferretDb.url}?serverSelectionTimeoutMS=1000`,
    MONGODB_DATABASE: database,
    PROJECTOR_POLL_INTERVAL_MS: '60000',
    AUTH_MODE: 'none',
  });
  const logger = testLogger({ level: 'warn', alsoTo: { write: (line: string) => logLines.push(JSON.parse(line) as { msg?: string }) } });
  service = await startService(config, logger);
}, 90_000);
afterAll(async () => {
  await service?.stop();
  await ferretDb?.close();
  await db?.drop();
});

const register = async () => {
  const event = userRegistered();
  const response = await fetch(`${service.url}/api/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(event),
  });
  expect(response.status).toBe(201);
  return { email: event.payload.email, ...((await response.json()) as { customerId: string }) };
};
const lookup = async (email: string) => {
  const response = await fetch(`${service.url}/api/v1/customers/by-email/${encodeURIComponent(email.toUpperCase())}`);
  return response.status === 200 ? ((await response.json()) as { customerId: string }) : undefined;
};
const readiness = async () => {
  const response = await fetch(`${service.url}/health/ready`);
  return { status: response.status, body: (await response.json()) as { components: Record<string, { status: string }> } };
};
const checkpoint = async () =>
  (await db.rows<{ global_position: string }>(`SELECT global_position FROM projection_checkpoints WHERE projection = $1 AND state = 'active'`, [mongoProjectionName(database)]))[0]
    ?.global_position;

describe('the service with its read model on FerretDB', () => {
  it('serves a registration from the read model within 2 s of its commit', async () => {
    const started = Date.now();
    const { email, customerId } = await register();
    const committed = Date.now();
    const found = await eventually(() => lookup(email), { timeoutMs: 2_000, intervalMs: 20, what: 'the customer in the read model' });
    console.log(`FerretDB read model: registration answered in ${committed - started} ms, visible ${Date.now() - committed} ms after it`);
    expect(found.customerId).toBe(customerId);
    expect((await readiness()).body.components.read_model).toEqual({ status: 'UP' });
  });

  it('with FerretDB down: readiness DOWN, the projector retries without moving its checkpoint, and catches up once it is back', async () => {
    const before = await checkpoint();
    expect(before).toBeDefined();
    await ferretDb.stop();
    try {
      const down = await readiness();
      expect(down.status).toBe(503);
      expect(down.body.components).toMatchObject({ db: { status: 'UP' }, read_model: { status: 'DOWN' } });

      // Registration does not need the read model: it commits, and the projector cannot apply it.
      const waiting = await Promise.all([register(), register(), register()]);
      await eventually(() => Promise.resolve(logLines.filter((line) => line.msg === 'projection batch failed; will retry').length >= 2), {
        timeoutMs: 15_000,
        what: 'two failed projection attempts',
      });
      expect(await checkpoint()).toBe(before);
      const during = await fetch(`${service.url}/api/v1/customers/by-email/${encodeURIComponent(waiting[0]?.email ?? '')}`);
      expect(during.status).toBe(503); // a dependency away: retry later, never a 500 or a false 404
      expect(((await during.json()) as { code: string }).code).toBe('SERVICE_UNAVAILABLE');

      await ferretDb.start();
      for (const { email, customerId } of waiting) {
        expect((await eventually(() => lookup(email), { timeoutMs: 20_000, what: `customer ${customerId}` })).customerId).toBe(customerId);
      }
      expect(BigInt((await checkpoint()) ?? '0')).toBeGreaterThan(BigInt(before ?? '0'));
      expect((await readiness()).status).toBe(200);
    } finally {
      await ferretDb.start().catch(() => undefined);
    }
  }, 60_000);
});
