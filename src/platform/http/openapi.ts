/**
 * OpenAPI description (`/openapi.json`) and a docs page (`/docs`), generated from the route schemas. Request schemas
 * document only: requests are validated in the handlers with zod, so every rejection carries our reason codes rather
 * than fastify's generic validation error.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

const STATUS_SUMMARY: Readonly<Record<number, string>> = {
  401: 'Unauthenticated',
  403: 'Forbidden',
  429: 'Too many requests',
  503: 'Unavailable for now',
};

/**
 * Problems any `/api/` route may answer besides its own, by status: code → when. Added to every API route's
 * description by `registerOpenApi`; authentication adds its 401/403/429 here.
 */
export const API_PROBLEMS: Record<number, Record<string, string>> = {
  401: { UNAUTHENTICATED: 'no valid bearer token or API key (when authentication is configured)' },
  403: { FORBIDDEN: "the credentials lack the route's scope (customers:read, events:write or operations)" },
  429: { RATE_LIMITED: 'the per-client rate limit is exceeded; retry after Retry-After' },
  503: {
    OVERLOADED: 'load shedding: the instance is under pressure (event-loop delay, memory); retry after Retry-After',
    SERVICE_UNAVAILABLE: 'a dependency (PostgreSQL) is unavailable; retry after Retry-After',
  },
};

/**
 * How callers authenticate (issue 16), for `components.securitySchemes`. OpenAPI 3.0 keeps scopes for OAuth2 schemes
 * only, so each protected operation names its scope in `x-required-scopes` (and its description) and lists both
 * schemes with empty scope arrays; open operations have `security: []`.
 */
export const SECURITY_SCHEMES = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'A JWT of the identity service (RS256, ES256 or EdDSA; checked against AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE) ' +
      'whose `scope` (space-separated) or `scp` claim holds the scope of the operation; or an API key of AUTH_API_KEYS_FILE ' +
      'sent as the bearer value. Required when authentication is configured (AUTH_MODE=none and embedded defaults leave the API open).',
  },
  apiKey: {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description: 'An API key of AUTH_API_KEYS_FILE; the file gives each key its scopes.',
  },
} as const;

/**
 * A route schema with its protection documented: who may call it (`scope`, or open when undefined) and what it answers
 * when they may not (401, 403 and, for rate-limited scopes, 429).
 */
export function withProtection(schema: Record<string, unknown> | undefined, scope: string | undefined, rateLimited: boolean): Record<string, unknown> {
  if (scope === undefined) return { ...schema, security: [] };
  const response = { ...(schema?.response as Record<string, unknown> | undefined) };
  const problems: Record<number, Record<string, string>> = { 401: API_PROBLEMS[401] ?? {}, 403: { FORBIDDEN: `the credentials lack the scope ${scope}` } };
  if (rateLimited) problems[429] = API_PROBLEMS[429] ?? {};
  for (const [status, codes] of Object.entries(problems)) response[status] = problemResponse(STATUS_SUMMARY[Number(status)] ?? `HTTP ${status}`, codes);
  const description = typeof schema?.description === 'string' ? `${schema.description}\n\n` : '';
  return {
    ...schema,
    security: Object.keys(SECURITY_SCHEMES).map((name) => ({ [name]: [] })),
    'x-required-scopes': [scope],
    description: `${description}Needs the scope \`${scope}\`.`,
    response,
  };
}

/** A problem+json response documenting its reason codes: the `code` member is one of `codes`. */
export function problemResponse(summary: string, codes: Readonly<Record<string, string>>): Record<string, unknown> {
  return {
    ...problemSchema,
    description: `${summary}. Codes: ${Object.entries(codes)
      .map(([code, when]) => `\`${code}\` (${when})`)
      .join('; ')}`,
    properties: { ...problemSchema.properties, code: { type: 'string', enum: Object.keys(codes) } },
  };
}

/** A tag of `/openapi.json`, grouping operations (a flow's lookups, say) with a description. */
export interface OpenApiTag {
  readonly name: string;
  readonly description: string;
}

/** `flowTags`: the tags the flows' routes use (`FlowHttp.tags`), listed after the service's own. */
export function registerOpenApi(app: FastifyInstance, flowTags: readonly OpenApiTag[] = []): void {
  app.setValidatorCompiler(() => () => true);
  // Every API route also answers the service-wide problems (load shedding, database gone…).
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/')) return;
    const schema = (route.schema ?? {}) as { response?: Record<string, unknown> };
    const response = { ...schema.response };
    for (const [status, codes] of Object.entries(API_PROBLEMS)) {
      const existing = response[status] as { properties?: { code?: { enum?: string[] } } } | undefined;
      const known = existing?.properties?.code?.enum ?? [];
      const merged = { ...Object.fromEntries(known.map((code) => [code, 'see the route'])), ...codes };
      response[status] = problemResponse(STATUS_SUMMARY[Number(status)] ?? `HTTP ${status}`, merged);
    }
    route.schema = { ...schema, response };
  });
  // Registered at the root, before the routes' plugin, so it sees every route.
  void app.register(swagger, {
    openapi: {
      info: {
        title: 'customer-service',
        description: 'Registers customers from registration events, exactly once, and answers queries about them.',
        version: '1',
      },
      tags: [
        { name: 'events', description: 'Event intake over HTTP' },
        { name: 'operations', description: 'Health and metrics' },
        ...flowTags,
      ],
      components: { securitySchemes: SECURITY_SCHEMES },
    },
  });
  void app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
}

/** A zod schema as the JSON Schema an OpenAPI route schema embeds. */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  const jsonSchema = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete jsonSchema.$schema; // OpenAPI 3.0 schemas must not carry a draft declaration
  return jsonSchema;
}

/** The problem+json document every error answers with. */
export const problemSchema = {
  type: 'object',
  description: 'RFC 9457 problem details with a stable code',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { field: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } },
      },
    },
    timestamp: { type: 'string', format: 'date-time' },
    path: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' },
  },
} as const;
