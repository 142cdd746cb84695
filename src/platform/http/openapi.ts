/**
 * OpenAPI description (`/openapi.json`) and a docs page (`/docs`), generated from the route schemas. Request schemas
 * document only: requests are validated in the handlers with zod, so every rejection carries our reason codes rather
 * than fastify's generic validation error.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

export function registerOpenApi(app: FastifyInstance): void {
  app.setValidatorCompiler(() => () => true);
  // Registered at the root, before the routes' plugin, so it sees every route.
  void app.register(swagger, {
    openapi: {
      info: {
        title: 'customer-service',
        description: 'Registers customers from registration events, exactly once, and answers queries about them.',
        version: '1',
      },
      tags: [
        { name: 'customers', description: 'Individual customers (ACME read API)' },
        { name: 'events', description: 'Event intake over HTTP' },
        { name: 'operations', description: 'Health and metrics' },
      ],
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
