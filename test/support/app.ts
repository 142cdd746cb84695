/** The HTTP application wired to a test database, driven with `app.inject`. */
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/app.js';
import { findCustomer } from '../../src/individual-customers/customer-store.js';
import { createMetrics, type Metrics } from '../../src/platform/metrics.js';
import { isReachable } from '../../src/platform/postgres/database.js';
import type { TestDatabase } from './postgres.js';
import { registerCustomersOn } from './service.js';

export function buildTestApp(db: TestDatabase, options: { bodyLimitBytes?: number } = {}): { app: FastifyInstance; metrics: Metrics } {
  const metrics = createMetrics({ defaultMetrics: false });
  const app = buildApp({
    logger: pino({ level: 'silent' }),
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    registerCustomers: registerCustomersOn(db.pool, { metrics }),
    metrics,
    findCustomer: (key) => findCustomer(db.pool, key),
    healthChecks: { db: () => isReachable(db.pool) },
  });
  return { app, metrics };
}
