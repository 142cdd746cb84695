/**
 * The HTTP application wired to a test database, driven with `app.inject`. Lookups read the PostgreSQL read model,
 * kept current by a projector that every registration wakes; `app.close()` stops it.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { individualCustomersHttp } from '../../src/individual-customers/customers.http.js';
import type { LoadSheddingConfig } from '../../src/config.js';
import { openAccess } from '../../src/platform/auth/authenticator.js';
import type { SecurityOptions } from '../../src/platform/http/security.js';
import { customerProjection } from '../../src/individual-customers/customer-read-model.js';
import { createPostgresCustomerReadModel } from '../../src/individual-customers/customer-read-model.postgres.js';
import type { HealthCheck } from '../../src/platform/http/health.routes.js';
import type { Logger } from '../../src/platform/logger.js';
import { createMetrics, type Metrics } from '../../src/platform/metrics.js';
import { isReachable } from '../../src/platform/postgres/database.js';
import { parkedCounts } from '../../src/platform/postgres/dead-letters.js';
import { pendingCounts } from '../../src/platform/postgres/outbox.js';
import { createProjector } from '../../src/platform/postgres/projector.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import type { TestDatabase } from './postgres.js';
import { activateCustomersOn, registerCustomersOn } from './service.js';
import { outboxDestinations } from '../../src/flows.js';
import { testLogger } from './run-logs.js';

export interface TestAppOptions {
  bodyLimitBytes?: number;
  logger?: Logger;
  defaultMetrics?: boolean;
  /** Replaces the default `{ db }` readiness checks. */
  healthChecks?: Readonly<Record<string, HealthCheck>>;
  accepting?: () => boolean;
  loadShedding?: LoadSheddingConfig;
  requestTimeoutMs?: number;
  /** Authentication and rate limits; default: authentication off, no limits (tests not about security). */
  security?: SecurityOptions;
}

export function buildTestApp(db: Pick<TestDatabase, 'pool'>, options: TestAppOptions = {}): { app: FastifyInstance; metrics: Metrics } {
  const metrics = createMetrics({
    defaultMetrics: options.defaultMetrics ?? false,
    database: { outboxBacklog: () => pendingCounts(db.pool), parkedDeadLetters: () => parkedCounts(db.pool), outboxDestinations },
  });
  const logger = options.logger ?? testLogger();
  const readModel = createPostgresCustomerReadModel(db.pool);
  const inTransaction = readModel.inTransaction === undefined ? {} : { readModel: readModel.inTransaction };
  const wake = createWakeSignal();
  const projector = createProjector({ pool: db.pool, projection: customerProjection(readModel), wake, logger, metrics, pollIntervalMs: 100 });
  const app = buildApp({
    logger,
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    flows: [
      individualCustomersHttp({
        // As the service wires them: the documents in the use cases' transactions, the projector for the rest.
        register: registerCustomersOn(db.pool, { metrics, logger, onCommitted: () => wake.notify(), ...inTransaction }),
        activate: activateCustomersOn(db.pool, { metrics, logger, onCommitted: () => wake.notify(), ...inTransaction }),
        findCustomer: (key) => readModel.find(key),
        metrics,
      }),
    ],
    metrics,
    healthChecks: options.healthChecks ?? { db: () => isReachable(db.pool) },
    ...(options.accepting === undefined ? {} : { accepting: options.accepting }),
    ...(options.loadShedding === undefined ? {} : { loadShedding: options.loadShedding }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    security: options.security ?? { authenticator: openAccess() },
  });
  projector.start();
  app.addHook('onClose', () => projector.stop());
  return { app, metrics };
}
