/**
 * Builds the HTTP application from its dependencies, with no I/O of its own: tests drive it with `app.inject`,
 * `service.ts` owns listening and shutdown.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { FindCustomer } from './individual-customers/customers.http.js';
import { customerRoutes, userRegisteredIntake } from './individual-customers/customers.http.js';
import type { RegisterCustomers } from './individual-customers/register-customers.js';
import { eventsRoutes, type IntakeHandlers } from './intake/events.routes.js';
import { healthRoutes, type HealthCheck } from './platform/http/health.routes.js';
import { installProblemHandlers } from './platform/http/problem.js';
import type { Logger } from './platform/logger.js';

export interface AppDeps {
  readonly logger: Logger;
  readonly bodyLimitBytes: number;
  readonly registerCustomers: RegisterCustomers;
  readonly findCustomer: FindCustomer;
  readonly healthChecks: Readonly<Record<string, HealthCheck>>;
  /** False once shutdown has begun. */
  readonly accepting?: () => boolean;
  /** Intake handlers of other flows (corporate customers…), beside the individual flow's. */
  readonly extraIntake?: readonly IntakeHandlers[];
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const app: FastifyInstance = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast only narrows fastify's generic logger parameter.
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
    disableRequestLogging: true,
    return503OnClosing: true,
    requestIdHeader: 'x-request-id',
  });
  installProblemHandlers(app);
  healthRoutes(app, { checks: deps.healthChecks, accepting: deps.accepting ?? (() => true) });
  customerRoutes(app, deps.findCustomer);
  eventsRoutes(app, [userRegisteredIntake(deps.registerCustomers), ...(deps.extraIntake ?? [])]);
  return app;
}
