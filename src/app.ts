/**
 * Builds the HTTP application from its dependencies, with no I/O of its own: tests drive it with `app.inject`,
 * `service.ts` owns listening and shutdown.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FindCustomer } from './individual-customers/customers.http.js';
import { customerRoutes, userActivatedIntake, userRegisteredIntake } from './individual-customers/customers.http.js';
import type { ActivateCustomers } from './individual-customers/activate-customers.js';
import type { RegisterCustomers } from './individual-customers/register-customers.js';
import { eventsRoutes, type IntakeHandlers } from './intake/events.routes.js';
import { healthRoutes, type HealthCheck } from './platform/http/health.routes.js';
import { registerOpenApi } from './platform/http/openapi.js';
import { installProblemHandlers, problemServerOptions } from './platform/http/problem.js';
import { requestIdOf } from './platform/http/request-id.js';
import { installRequestDeadline } from './platform/http/deadline.js';
import { installSecurity, type SecurityOptions } from './platform/http/security.js';
import type { Logger } from './platform/logger.js';
import type { Metrics } from './platform/metrics.js';

export interface AppDeps {
  readonly logger: Logger;
  readonly bodyLimitBytes: number;
  /** Deadline of every request (503 with Retry-After when it passes); default 10 s. */
  readonly requestTimeoutMs?: number;
  readonly registerCustomers: RegisterCustomers;
  /** `UserActivated` over HTTP; without it `POST /api/v1/events` answers 415 for that type. */
  readonly activateCustomers?: ActivateCustomers;
  readonly findCustomer: FindCustomer;
  readonly metrics: Metrics;
  readonly healthChecks: Readonly<Record<string, HealthCheck>>;
  /** False once shutdown has begun. */
  readonly accepting?: () => boolean;
  /** Intake handlers of other flows (corporate customers…), beside the individual flow's. */
  readonly extraIntake?: readonly IntakeHandlers[];
  /** Routes of other flows (e.g. `GET /api/v1/corporate-customers/{id}`), registered beside the individual lookups. */
  readonly extraRoutes?: readonly ((api: FastifyInstance) => void)[];
  /** Authentication and rate limits; required, so no caller gets an open API by leaving it out (`openAccess()` for that). */
  readonly security: SecurityOptions;
}

export function buildApp(deps: AppDeps): FastifyInstance {
  // The default instance type (route modules take it); pino's Logger is a FastifyBaseLogger.
  const app = Fastify<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger>({
    loggerInstance: deps.logger,
    bodyLimit: deps.bodyLimitBytes,
    // One log line per outcome is written by the flows; per-request access logs would double it.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    requestIdHeader: false,
    genReqId: requestIdOf,
    ...problemServerOptions,
  });
  installProblemHandlers(app);
  installRequestDeadline(app, deps.requestTimeoutMs ?? 10_000);
  // Before any route is added: it decides every route's protection as the route is added.
  installSecurity(app, deps.security);
  // Request duration by route pattern (not the URL, which holds ids): low-cardinality labels only.
  app.addHook('onResponse', (request, reply, done) => {
    deps.metrics.httpRequestDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });
  registerOpenApi(app);
  void app.register((api, _options, done) => {
    healthRoutes(api, { checks: deps.healthChecks, accepting: deps.accepting ?? (() => true) });
    api.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
      void reply.type(deps.metrics.registry.contentType);
      return deps.metrics.registry.metrics();
    });
    customerRoutes(api, deps.findCustomer);
    for (const routes of deps.extraRoutes ?? []) routes(api);
    eventsRoutes(api, [
      userRegisteredIntake(deps.registerCustomers),
      ...(deps.activateCustomers === undefined ? [] : [userActivatedIntake(deps.activateCustomers, deps.metrics)]),
      ...(deps.extraIntake ?? []),
    ]);
    done();
  });
  return app;
}
