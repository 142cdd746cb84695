import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startService, type RunningService } from '../../src/service.js';
import { userActivated, userRegistered } from '../support/events.js';
import { freePort } from '../support/global-setup.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

let db: TestDatabase;
let service: RunningService;

beforeAll(async () => {
  db = await createTestDatabase();
  const config = loadConfig({ DATABASE_URL: db.url, HOST: '127.0.0.1', PORT: String(await freePort()), PROJECTOR_POLL_INTERVAL_MS: '60000', AUTH_MODE: 'none', READ_MODEL_IN_TRANSACTION: 'true' });
  service = await startService(config, testLogger());
});
afterAll(async () => {
  await service.stop();
  await db.drop();
});

describe('the running service', () => {
  it('serves a registration and an activation from the read model as soon as they are answered (written in their transactions)', async () => {
    const event = userRegistered();
    const post = (body: unknown) =>
      fetch(`${service.url}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const created = await post(event);
    expect(created.status).toBe(201);
    const { customerId } = (await created.json()) as { customerId: string };
    // No waiting: the document committed with the customer (the poll timer is a minute, and no projector batch ran).
    const byEmail = await fetch(`${service.url}/api/v1/customers/by-email/${encodeURIComponent(event.payload.email.toUpperCase())}`);
    expect(byEmail.status).toBe(200);
    expect(((await byEmail.json()) as { customerId: string }).customerId).toBe(customerId);
    const sameTransaction = async () =>
      db.rows<{ same: boolean }>(
        'SELECT c.xmin::text = d.xmin::text AS same FROM customers c JOIN customer_documents d ON d.customer_id = c.id WHERE c.id = $1',
        [customerId],
      );
    expect(await sameTransaction()).toEqual([{ same: true }]);

    const activated = await post(userActivated(event.payload.userId));
    expect(activated.status).toBe(200);
    const byId = await fetch(`${service.url}/api/v1/customers/${customerId}`);
    expect(((await byId.json()) as { status: string }).status).toBe('ACTIVE');
    expect(await sameTransaction()).toEqual([{ same: true }]);
    const [row] = await db.rows<{ n: string }>('SELECT count(*) AS n FROM customer_documents');
    expect(row?.n).toBe('1');
  });

  it('exports the read-model metrics', async () => {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    for (const name of ['read_model_projection_duration_seconds', 'read_model_projection_lag_events', 'read_model_projection_lag_seconds']) {
      expect(text).toContain(name);
    }
  });
});
