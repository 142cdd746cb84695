/**
 * Load shedding (issue #19): while the process is over a limit (event-loop delay, heap, RSS), API requests get 503
 * `OVERLOADED` with Retry-After at once instead of queueing; probes and /metrics are still answered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../support/app.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const limits = { maxEventLoopDelayMs: 0, maxHeapUsedBytes: 0, maxRssBytes: 0, retryAfterSeconds: 7 };
const lookup = '/api/v1/customers/by-user/0190a5f2-0000-7000-8000-000000000001';

describe('load shedding', () => {
  it('answers API requests 503 OVERLOADED with Retry-After while the heap is over its limit; health and metrics still answer', async () => {
    // A 1-byte heap limit: always over it.
    const { app, metrics } = buildTestApp(db, { loadShedding: { ...limits, maxHeapUsedBytes: 1 } });
    try {
      await app.ready();
      // Memory is sampled once a second: the first sample after start puts it over the limit.
      let shed = await app.inject({ method: 'GET', url: lookup });
      for (let attempt = 0; attempt < 30 && shed.statusCode !== 503; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        shed = await app.inject({ method: 'GET', url: lookup });
      }
      expect(shed.statusCode).toBe(503);
      expect(shed.headers['retry-after']).toBe('7');
      expect(shed.headers['content-type']).toContain('application/problem+json');
      expect(shed.json()).toMatchObject({ status: 503, code: 'OVERLOADED' });
      for (const url of ['/health/live', '/health/ready', '/health', '/actuator/health', '/metrics']) {
        expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
      }
      expect((await metrics.registry.getSingleMetricAsString('http_requests_shed_total'))).toMatch(/http_requests_shed_total\{reason="heapUsedBytes"\} 1/);
    } finally {
      await app.close();
    }
  });

  it('sheds while the event loop is delayed beyond its limit, and serves again once it is not', async () => {
    const { app } = buildTestApp(db, { loadShedding: { ...limits, maxEventLoopDelayMs: 100 } });
    try {
      await app.ready();
      expect((await app.inject({ method: 'GET', url: lookup })).statusCode).toBe(404);
      let status = 0;
      // Block the event loop (as a CPU-bound burst would) until the sampler has seen it.
      for (let attempt = 0; attempt < 20 && status !== 503; attempt += 1) {
        const until = Date.now() + 400;
        while (Date.now() < until) {
          // busy: nothing else runs
        }
        await new Promise((resolve) => setImmediate(resolve));
        status = (await app.inject({ method: 'GET', url: lookup })).statusCode;
      }
      expect(status).toBe(503);
      let recovered = 0;
      for (let attempt = 0; attempt < 50 && recovered !== 404; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        recovered = (await app.inject({ method: 'GET', url: lookup })).statusCode;
      }
      expect(recovered).toBe(404);
    } finally {
      await app.close();
    }
  }, 60_000);

  it('does not shed without pressure (the limits are off at 0)', async () => {
    const { app } = buildTestApp(db, { loadShedding: limits });
    try {
      expect((await app.inject({ method: 'GET', url: lookup })).statusCode).toBe(404);
    } finally {
      await app.close();
    }
  });
});
