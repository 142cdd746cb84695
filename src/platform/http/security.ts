/**
 * The HTTP side of security (issue 16): every route is protected by a scope unless it is one of the few open ones,
 * lookups and the event intake are rate limited per client, and HTML pages get security headers.
 *
 * Protection is decided in one place, when each route is added (`onRoute`), so a new route is protected by default
 * (scope `operations`) rather than open by omission. A route can name its scope with `config: { scope }`; code that
 * adds routes some other way can put `app.requireScope(scope)` in its `onRequest` hooks.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler, RouteOptions } from 'fastify';

import type { Authenticator } from '../auth/authenticator.js';
import type { Principal, Scope } from '../auth/scopes.js';
import { withProtection } from './openapi.js';
import { HttpProblem } from './problem.js';

/** Requests per client and window; 0 turns a limit off. */
export interface RateLimitConfig {
  readonly windowMs: number;
  readonly lookups: number;
  readonly events: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** An `onRequest` hook: 401 without valid credentials, 403 without `scope`; sets `request.principal`. */
    requireScope(scope: Scope): onRequestAsyncHookHandler;
  }
  interface FastifyRequest {
    /** Who made the request, once a `requireScope` hook has run. */
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** The scope this route needs (else the policy in `security.ts` decides). */
    scope?: Scope;
  }
}

/** Routes that hold no personal data and stay open (probes, scraping, the API description). */
export function isOpenRoute(url: string): boolean {
  return (
    url === '/health' ||
    url === '/health/live' ||
    url === '/health/ready' ||
    url.startsWith('/health/') ||
    url === '/actuator/health' ||
    url === '/metrics' ||
    url === '/openapi.json' ||
    url === '/docs' ||
    url.startsWith('/docs/')
  );
}

/**
 * The scope a protected route needs when it does not name one (a flow's lookups name `customers:read` in their route
 * `config`): the intake needs `events:write`, anything else `operations`.
 */
export function scopeOf(method: string, url: string): Scope {
  if (url === '/api/v1/events' && method === 'POST') return 'events:write';
  return 'operations';
}

export interface SecurityOptions {
  readonly authenticator: Authenticator;
  /** Per-client limits on lookups (`customers:read`) and on the intake (`events:write`); absent: no limits. */
  readonly rateLimits?: RateLimitConfig;
}

const PROTECTS = Symbol('requireScope');

export function installSecurity(app: FastifyInstance, options: SecurityOptions): void {
  const { authenticator } = options;
  app.decorateRequest('principal', undefined);

  const requireScope = (scope: Scope): onRequestAsyncHookHandler => {
    const hook = async (request: FastifyRequest, reply: FastifyReply) => {
      if (request.principal === undefined) {
        const outcome = await authenticator.authenticate(request.headers);
        if (!outcome.ok) {
          // The reason, never the credential; debug only, as failed attempts must not be able to flood the log.
          request.log.debug({ reason: outcome.reason, status: outcome.status }, 'request not authenticated');
          if (outcome.status === 503) {
            void reply.header('retry-after', '5');
            throw new HttpProblem({ status: 503, code: 'SERVICE_UNAVAILABLE', detail: `${outcome.reason}; retry later` });
          }
          void reply.header('www-authenticate', outcome.credentialGiven ? `Bearer realm="customer-service", error="invalid_token"` : 'Bearer realm="customer-service"');
          throw new HttpProblem({ status: 401, code: 'UNAUTHENTICATED', detail: outcome.reason });
        }
        request.principal = outcome.principal.kind === 'anonymous' ? { ...outcome.principal, id: `ip:${request.ip}` } : outcome.principal;
      }
      if (!request.principal.scopes.has(scope)) {
        void reply.header('www-authenticate', `Bearer realm="customer-service", error="insufficient_scope", scope="${scope}"`);
        throw new HttpProblem({ status: 403, code: 'FORBIDDEN', detail: `this needs the scope "${scope}"` });
      }
    };
    return Object.assign(hook, { [PROTECTS]: scope });
  };
  app.decorate('requireScope', requireScope);

  const limits = options.rateLimits;
  if (limits !== undefined) {
    void app.register(rateLimit, {
      global: false,
      keyGenerator: (request) => request.principal?.id ?? `ip:${request.ip}`,
      errorResponseBuilder: (_request, context) =>
        new HttpProblem({ status: 429, code: 'RATE_LIMITED', detail: `too many requests: at most ${context.max} per ${context.after}; retry later` }),
    });
  }
  // One limiter (one counter store) per group, made on first use: `app.rateLimit` exists once the plugin has loaded.
  const limiters = new Map<'lookups' | 'events', onRequestAsyncHookHandler>();
  const limiterFor = (group: 'lookups' | 'events'): onRequestAsyncHookHandler | undefined => {
    const max = limits?.[group] ?? 0;
    if (limits === undefined || max === 0) return undefined;
    let limiter = limiters.get(group);
    if (limiter === undefined) {
      limiter = app.rateLimit({ max, timeWindow: limits.windowMs });
      limiters.set(group, limiter);
    }
    return limiter;
  };

  app.addHook('onRoute', (route: RouteOptions) => {
    if (isOpenRoute(route.url)) {
      route.schema = withProtection(route.schema as Record<string, unknown> | undefined, undefined, false);
      return;
    }
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const declared = existing.find((hook) => PROTECTS in hook) as (onRequestAsyncHookHandler & { [PROTECTS]: Scope }) | undefined;
    const scope = declared?.[PROTECTS] ?? route.config?.scope ?? scopeOf(methods[0] ?? 'GET', route.url);
    const group = scope === 'customers:read' ? 'lookups' : scope === 'events:write' ? 'events' : undefined;
    const limiter = group === undefined ? undefined : limiterFor(group);
    // /openapi.json says who may call it and what it answers otherwise.
    route.schema = withProtection(route.schema as Record<string, unknown> | undefined, scope, group !== undefined);
    // Authentication first (the limiter counts per principal), then the limiter, then the route's own hooks.
    route.onRequest = [
      declared ?? requireScope(scope),
      ...(limiter === undefined ? [] : [limiter]),
      ...existing.filter((hook) => hook !== declared),
    ];
  });

  // HTML pages (the docs page, the operator console) get a strict policy: no framing, no inline script, no sniffing.
  app.addHook('onSend', async (_request, reply, payload) => {
    void reply.header('x-content-type-options', 'nosniff');
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html')) {
      void reply.header(
        'content-security-policy',
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
      );
      void reply.header('x-frame-options', 'DENY');
      void reply.header('referrer-policy', 'no-referrer');
      void reply.header('cross-origin-opener-policy', 'same-origin');
      void reply.header('cache-control', 'no-store');
    }
    return payload;
  });
}
