/**
 * Builds the HTTP application from its dependencies, with no I/O of its own: tests drive it with `app.inject`,
 * `service.ts` owns listening and shutdown.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import underPressure from '@fastify/under-pressure';
import type { LoadSheddingConfig } from './config.js';
import type { FlowHttp } from './platform/flow.js';
import { eventsRoutes } from './platform/http/events.routes.js';
import { healthRoutes, type ComponentProbe, type HealthCheck } from './platform/http/health.routes.js';
import { registerOpenApi } from './platform/http/openapi.js';
import { installProblemHandlers, problemServerOptions, sendProblem } from './platform/http/problem.js';
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
  /** Each flow's part of the API (`RunningFlow.http`): its event types for `POST /api/v1/events` and its routes. */
  readonly flows: readonly FlowHttp[];
  readonly metrics: Metrics;
  readonly healthChecks: Readonly<Record<string, HealthCheck>>;
  /** Brokers and mirrors: shown by `/health`, not part of readiness. */
  readonly components?: Readonly<Record<string, ComponentProbe>>;
  /** Absent: no load shedding (tests that do not exercise it). */
  readonly loadShedding?: LoadSheddingConfig;
  /** False once shutdown has begun. */
  readonly accepting?: () => boolean;
  /** Routes that belong to no flow (the operator console). */
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
  if (deps.loadShedding !== undefined) installLoadShedding(app, deps.loadShedding, deps.metrics);
  registerOpenApi(app, deps.flows.flatMap((flow) => flow.tags ?? []));
  void app.register((api, _options, done) => {
    healthRoutes(api, { checks: deps.healthChecks, components: deps.components ?? {}, accepting: deps.accepting ?? (() => true) });
    api.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
      void reply.type(deps.metrics.registry.contentType);
      return deps.metrics.registry.metrics();
    });
    for (const flow of deps.flows) flow.routes?.(api);
    for (const routes of deps.extraRoutes ?? []) routes(api);
    eventsRoutes(api, deps.flows.flatMap((flow) => (flow.intake === undefined ? [] : [flow.intake])));
    done();
  });
  return app;
}

/** Probes and scrapes are answered even under pressure: shedding them would restart pods or blind the dashboards. */
const NEVER_SHED = /^\/(health(\/|$|\?)|actuator\/health|metrics)/;

/**
 * Under pressure (event-loop delay, heap, RSS over their limits) API requests get 503 `OVERLOADED` with Retry-After
 * instead of queueing up until every caller times out.
 */
function installLoadShedding(app: FastifyInstance, limits: LoadSheddingConfig, metrics: Metrics): void {
  void app.register(underPressure, {
    maxEventLoopDelay: limits.maxEventLoopDelayMs,
    maxHeapUsedBytes: limits.maxHeapUsedBytes,
    maxRssBytes: limits.maxRssBytes,
    retryAfter: limits.retryAfterSeconds,
    pressureHandler: (request, reply, type) => {
      // Returning nothing without sending lets the request through.
      if (NEVER_SHED.test(request.url)) return;
      metrics.requestsShed.inc({ reason: type });
      void reply.header('retry-after', String(limits.retryAfterSeconds));
      void sendProblem(request, reply, { status: 503, code: 'OVERLOADED', detail: `the service is under pressure (${type}); retry later` });
    },
  });
}
