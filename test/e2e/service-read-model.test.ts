import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startService, type RunningService } from '../../src/service.js';
import { userRegistered } from '../support/events.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../support/global-setup.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

let db: TestDatabase;
let service: RunningService;

beforeAll(async () => {
  db = await createTestDatabase();
  const config = loadConfig({ DATABASE_URL: db.url, HOST: '127.0.0.1', PORT: String(await freePort()), PROJECTOR_POLL_INTERVAL_MS: '60000', AUTH_MODE: 'none' });
  service = await startService(config, testLogger());
});
afterAll(async () => {
  await service.stop();
  await db.drop();
});

describe('the running service', () => {
  it('projects a registration into the read model right after its commit, and serves it from there', async () => {
    const event = userRegistered();
    const created = await fetch(`${service.url}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    expect(created.status).toBe(201);
    const { customerId } = (await created.json()) as { customerId: string };
    // The poll timer is a minute: only the commit's wake-up can make this visible in time.
    const found = await eventually(async () => {
      const response = await fetch(`${service.url}/api/v1/customers/by-email/${encodeURIComponent(event.payload.email.toUpperCase())}`);
      return response.status === 200 ? ((await response.json()) as { customerId: string }) : undefined;
    }, { timeoutMs: 20_000 });
    expect(found.customerId).toBe(customerId);
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
