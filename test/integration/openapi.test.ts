/**
 * `/openapi.json` is checked against the routes (issue #19): every route the app registers is described, every
 * request body of POST /api/v1/events is, and every answer the routes really give (status and problem code) is one the
 * description lists for that route.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v4 as uuidv4 } from 'uuid';
import { buildApp } from '../../src/app.js';
import { individualCustomersHttp } from '../../src/individual-customers/customers.http.js';
import { openAccess } from '../../src/platform/auth/authenticator.js';
import { findCompany } from '../../src/corporate-customers/company-store.js';
import { corporateCustomersHttp } from '../../src/corporate-customers/corporate-customers.http.js';
import { createPostgresCustomerReadModel } from '../../src/individual-customers/customer-read-model.postgres.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { registerCorporateOn, uniqueEvent } from '../support/corporate.js';
import { userActivated, userRegistered } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { activateCustomersOn, registerCustomersOn } from '../support/service.js';
import { testLogger } from '../support/run-logs.js';

interface Operation {
  security?: Record<string, string[]>[];
  'x-required-scopes'?: string[];
  requestBody?: { content: Record<string, { schema: { oneOf?: { title?: string }[] } }> };
  responses: Record<string, { description?: string; content?: Record<string, { schema: { properties?: { code?: { enum?: string[] } } } }> }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components?: { securitySchemes?: Record<string, Record<string, unknown>> };
}

let db: TestDatabase;
let app: FastifyInstance;
const routes: { method: string; url: string; hidden: boolean }[] = [];
let document: Document;

beforeAll(async () => {
  db = await createTestDatabase();
  app = buildApp({
    logger: testLogger(),
    bodyLimitBytes: 64 * 1024,
    flows: [
      individualCustomersHttp({ register: registerCustomersOn(db.pool), activate: activateCustomersOn(db.pool), findCustomer: (key) => createPostgresCustomerReadModel(db.pool).find(key) }),
      corporateCustomersHttp({ register: registerCorporateOn(db.pool), findCompany: (id) => findCompany(db.pool, id) }),
    ],
    metrics: createMetrics({ defaultMetrics: false }),
    healthChecks: {},
    extraRoutes: [
      // Stands in for the operator console's routes (scope operations by default), which only service.ts wires.
      (api) => api.get('/operations/stand-in', { schema: { summary: 'an operator route', tags: ['operations'] } }, () => ({ ok: true })),
    ],
    security: { authenticator: openAccess() },
  });
  // The routes plugin runs at ready(): this hook sees every route it adds.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      routes.push({ method: method.toLowerCase(), url: route.url, hidden: (route.schema)?.hide === true });
    }
  });
  await app.ready();
  document = (await app.inject({ url: '/openapi.json' })).json<Document>();
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
});

const openApiPath = (url: string) => url.replace(/:([A-Za-z]+)/g, '{$1}');
const operation = (method: string, url: string) => document.paths[openApiPath(url)]?.[method];

describe('/openapi.json against the routes', () => {
  it('describes every route the service registers (except the description itself and the docs page)', () => {
    const described = routes.filter((route) => !route.hidden && route.method !== 'head' && !route.url.startsWith('/docs'));
    expect(described.length).toBeGreaterThan(8);
    const missing = described.filter((route) => operation(route.method, route.url) === undefined).map((route) => `${route.method} ${route.url}`);
    expect(missing).toEqual([]);
  });

  it('describes the request bodies of POST /api/v1/events: the plain envelope and every CloudEvent type', () => {
    const body = operation('post', '/api/v1/events')?.requestBody?.content;
    expect(body?.['application/json']?.schema.oneOf?.map((schema) => schema.title)).toEqual(['UserRegistered', 'UserActivated']);
    expect(body?.['application/cloudevents+json']?.schema.oneOf?.map((schema) => schema.title)).toEqual([
      'CloudEvent com.acme.identity.user.registered',
      'CloudEvent com.acme.identity.user.activated',
      'CloudEvent disco.knapscen.customer.registered',
    ]);
  });

  it('lists 401, 403, 429 and 503 (OVERLOADED, SERVICE_UNAVAILABLE) on every API route, and 409 on the intake', () => {
    const codesOf = (route: { method: string; url: string }, status: string) =>
      operation(route.method, route.url)?.responses[status]?.content?.['application/json']?.schema.properties?.code?.enum;
    for (const route of routes.filter((candidate) => candidate.url.startsWith('/api/') && candidate.method !== 'head')) {
      expect(codesOf(route, '503'), `${route.method} ${route.url}`).toEqual(expect.arrayContaining(['OVERLOADED', 'SERVICE_UNAVAILABLE']));
      expect(codesOf(route, '401'), `${route.method} ${route.url}`).toEqual(['UNAUTHENTICATED']);
      expect(codesOf(route, '403'), `${route.method} ${route.url}`).toEqual(['FORBIDDEN']);
      expect(codesOf(route, '429'), `${route.method} ${route.url}`).toEqual(['RATE_LIMITED']);
    }
    expect(operation('post', '/api/v1/events')?.responses['409']?.content?.['application/json']?.schema.properties?.code?.enum).toEqual(
      expect.arrayContaining(['EMAIL_TAKEN', 'CUSTOMER_NOT_FOUND']),
    );
  });

  it('declares bearer JWT and API key schemes, and per operation who may call it: its scope, 401/403 (429 where rate limited); probes open', () => {
    expect(document.components?.securitySchemes).toEqual({
      bearerAuth: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }) as unknown,
      apiKey: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Key' }) as unknown,
    });
    const codesOf = (op: Operation | undefined, status: string) => op?.responses[status]?.content?.['application/json']?.schema.properties?.code?.enum;
    const described = routes.filter((route) => !route.hidden && route.method !== 'head' && !route.url.startsWith('/docs'));
    const expected = (route: { method: string; url: string }) =>
      route.url.startsWith('/health') || route.url === '/actuator/health' || route.url === '/metrics'
        ? undefined
        : route.url === '/api/v1/events' && route.method === 'post'
          ? 'events:write'
          : route.url.startsWith('/api/v1/customers') || route.url.startsWith('/api/v1/corporate-customers')
            ? 'customers:read'
            : 'operations';
    const scopes = new Set<string | undefined>();
    for (const route of described) {
      const op = operation(route.method, route.url);
      const scope = expected(route);
      scopes.add(scope);
      const where = `${route.method} ${route.url}`;
      if (scope === undefined) {
        expect(op?.security, where).toEqual([]);
        expect(op?.responses['401'], where).toBeUndefined();
        continue;
      }
      expect(op?.security, where).toEqual([{ bearerAuth: [] }, { apiKey: [] }]);
      expect(op?.['x-required-scopes'], where).toEqual([scope]);
      expect(codesOf(op, '401'), where).toEqual(['UNAUTHENTICATED']);
      expect(codesOf(op, '403'), where).toEqual(['FORBIDDEN']);
      if (scope === 'operations') expect(op?.responses['429'], where).toBeUndefined();
      else expect(codesOf(op, '429'), where).toEqual(['RATE_LIMITED']);
    }
    expect([...scopes].sort()).toEqual(['customers:read', 'events:write', 'operations', undefined]);
  });

  it('documents every status and problem code the routes really answer', async () => {
    const json = { 'content-type': 'application/json' };
    const cloudEvent = { 'content-type': 'application/cloudevents+json' };
    const company = uniqueEvent();
    const sameEmails = uniqueEvent();
    sameEmails.data.users = company.data.users;
    const event = userRegistered();
    const requests: { method: 'GET' | 'POST'; url: string; headers?: Record<string, string>; payload?: string }[] = [
      { method: 'POST', url: '/api/v1/events', headers: json, payload: JSON.stringify(event) },
      { method: 'POST', url: '/api/v1/events', headers: json, payload: JSON.stringify(event) },
      { method: 'POST', url: '/api/v1/events', headers: json, payload: JSON.stringify(userActivated(uuidv4())) },
      { method: 'POST', url: '/api/v1/events', headers: json, payload: '{not json' },
      { method: 'POST', url: '/api/v1/events', headers: json, payload: JSON.stringify({ eventType: 'UserRegistered' }) },
      { method: 'POST', url: '/api/v1/events', headers: json, payload: JSON.stringify({ eventType: 'Unknown' }) },
      { method: 'POST', url: '/api/v1/events', headers: json, payload: JSON.stringify({ ...userRegistered(), eventVersion: '2.0' }) },
      { method: 'POST', url: '/api/v1/events', headers: { 'content-type': 'text/plain' }, payload: 'hello' },
      { method: 'POST', url: '/api/v1/events', headers: json, payload: JSON.stringify({ padding: 'x'.repeat(70_000) }) },
      { method: 'POST', url: '/api/v1/events', headers: cloudEvent, payload: JSON.stringify({ specversion: '1.0' }) },
      { method: 'POST', url: '/api/v1/events', headers: cloudEvent, payload: JSON.stringify(company) },
      { method: 'POST', url: '/api/v1/events', headers: cloudEvent, payload: JSON.stringify(sameEmails) },
      { method: 'GET', url: `/api/v1/customers/${uuidv4()}` },
      { method: 'GET', url: '/api/v1/customers/not-a-uuid' },
      { method: 'GET', url: '/api/v1/customers/by-number/ACME-1' },
      { method: 'GET', url: '/api/v1/customers/by-email/not-an-email' },
      { method: 'GET', url: `/api/v1/customers/by-user/${event.payload.userId}` },
      { method: 'GET', url: `/api/v1/corporate-customers/${uuidv4()}` },
      { method: 'GET', url: '/api/v1/corporate-customers/x' },
      { method: 'GET', url: '/health/live' },
      { method: 'GET', url: '/health/ready' },
      { method: 'GET', url: '/health' },
      { method: 'GET', url: '/metrics' },
    ];
    const seen = new Set<string>();
    const undocumented: string[] = [];
    for (const request of requests) {
      const response = await app.inject(request);
      const route = routes.find((candidate) => candidate.method === request.method.toLowerCase() && matches(candidate.url, request.url.split('?')[0] ?? ''));
      const documented = route === undefined ? undefined : operation(route.method, route.url)?.responses[String(response.statusCode)];
      const contentType = String(response.headers['content-type'] ?? '');
      const code = contentType.includes('problem+json') ? response.json<{ code: string }>().code : undefined;
      seen.add(`${response.statusCode}${code === undefined ? '' : ` ${code}`}`);
      const codes = documented?.content?.['application/json']?.schema.properties?.code?.enum;
      if (documented === undefined || (code !== undefined && !(codes ?? []).includes(code))) {
        undocumented.push(`${request.method} ${request.url} -> ${response.statusCode} ${code ?? ''}`);
      }
    }
    expect(undocumented).toEqual([]);
    // The requests above really reach these answers (so the check covers them).
    expect([...seen]).toEqual(
      expect.arrayContaining(['201', '200', '400 MALFORMED_JSON', '400 MISSING_FIELD', '400 UNSUPPORTED_EVENT_VERSION', '413 PAYLOAD_TOO_LARGE',
        '415 UNSUPPORTED_CONTENT_TYPE', '415 UNSUPPORTED_EVENT_TYPE', '400 INVALID_CLOUDEVENT', '409 EMAIL_TAKEN', '409 CUSTOMER_NOT_FOUND', '404 CUSTOMER_NOT_FOUND',
        '400 INVALID_UUID', '400 INVALID_VALUE', '400 INVALID_EMAIL']),
    );
  });
});

function matches(pattern: string, url: string): boolean {
  const regex = new RegExp(`^${pattern.replace(/:[A-Za-z]+/g, '[^/]+')}$`);
  return regex.test(url) && !(pattern.endsWith('/:customerId') && /\/by-(user|number|email)\//.test(url));
}
