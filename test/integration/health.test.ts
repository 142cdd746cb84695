/**
 * Readiness follows the dependencies: it goes false while PostgreSQL is really stopped and true again once it is back.
 * This file runs its own embedded PostgreSQL, so stopping it disturbs no other test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_TIMEOUT_MS } from '../../src/platform/http/health.routes.js';
import { createPool, isReachable, type Pool } from '../../src/platform/postgres/database.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/platform/postgres/embedded.js';
import { buildTestApp } from '../support/app.js';
import { freePort } from '../support/global-setup.js';

let root: string;
let port: number;
let server: EmbeddedDatabase | undefined;
let pool: Pool;
let app: FastifyInstance;

const startServer = () => startEmbeddedPostgres({ dataDir: path.join(root, 'data'), port });

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'customer-service-health-pg-'));
  port = await freePort();
  server = await startServer();
  pool = createPool(server.connectionString, 2);
  ({ app } = buildTestApp({ pool }));
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await pool?.end();
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

const probe = async (url: string) => {
  const response = await app.inject({ method: 'GET', url });
  return { status: response.statusCode, body: response.json<{ status: string; components?: Record<string, { status: string }> }>() };
};

async function eventually<T>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('readiness', () => {
  it('is UP while PostgreSQL answers, DOWN while it is stopped (liveness stays UP), and UP again after it restarts', async () => {
    expect(await probe('/health/ready')).toEqual({ status: 200, body: { status: 'UP', components: { db: { status: 'UP' } } } });

    await server?.stop();
    server = undefined;
    expect(await isReachable(pool)).toBe(false);
    for (const url of ['/health/ready', '/actuator/health']) {
      expect(await probe(url)).toEqual({ status: 503, body: { status: 'DOWN', components: { db: { status: 'DOWN' } } } });
    }
    expect(await probe('/health/live')).toEqual({ status: 200, body: { status: 'UP' } });

    server = await startServer();
    // The pool reconnects on its own: no restart of the service is needed.
    const recovered = await eventually(() => probe('/health/ready'), (answer) => answer.status === 200);
    expect(recovered).toEqual({ status: 200, body: { status: 'UP', components: { db: { status: 'UP' } } } });
  });

  it('counts a check that fails, throws or hangs as DOWN, so broker and read-model checks plug in beside the database’s', async () => {
    const started = Date.now();
    const { app: composed } = buildTestApp(
      { pool },
      {
        healthChecks: {
          db: () => isReachable(pool),
          kafka: () => Promise.resolve(false),
          nats: () => Promise.reject(new Error('no connection')),
          readModel: () => new Promise<boolean>(() => undefined),
        },
      },
    );
    try {
      const response = await composed.inject({ method: 'GET', url: '/health/ready' });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual({
        status: 'DOWN',
        components: { db: { status: 'UP' }, kafka: { status: 'DOWN' }, nats: { status: 'DOWN' }, readModel: { status: 'DOWN' } },
      });
      expect(Date.now() - started).toBeLessThan(CHECK_TIMEOUT_MS + 5_000);
    } finally {
      await composed.close();
    }
  });

  it('answers 503 OUT_OF_SERVICE once shutdown has begun, even with every dependency up', async () => {
    const { app: stopping } = buildTestApp({ pool }, { accepting: () => false });
    try {
      const response = await stopping.inject({ method: 'GET', url: '/health/ready' });
      expect(response.statusCode).toBe(503);
      expect(response.json<{ status: string }>().status).toBe('OUT_OF_SERVICE');
    } finally {
      await stopping.close();
    }
  });
});
