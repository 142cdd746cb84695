/**
 * Authentication and scopes on every route (issue 16), with a JWKS served by the test's own identity service and the
 * tokens it signs, and an API-keys file. Every protected route is tried with no credentials, a valid credential with
 * and without its scope, and every kind of bad token; the open routes stay open.
 */
import { createHmac } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { JWTPayload } from 'jose';
import { testLogger } from '../support/run-logs.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { individualCustomersHttp } from '../../src/individual-customers/customers.http.js';
import { findCompany } from '../../src/corporate-customers/company-store.js';
import { corporateCustomersHttp } from '../../src/corporate-customers/corporate-customers.http.js';
import { createPostgresCustomerReadModel } from '../../src/individual-customers/customer-read-model.postgres.js';
import { hashApiKey, parseApiKeys } from '../../src/platform/auth/api-keys.js';
import { createAuthenticator } from '../../src/platform/auth/authenticator.js';
import { createTokenVerifier } from '../../src/platform/auth/jwt.js';
import type { Scope } from '../../src/platform/auth/scopes.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { registerCorporateOn, uniqueEvent } from '../support/corporate.js';
import { userRegistered } from '../support/events.js';
import { startIdentityService, unsignedToken, type TestIdentityService } from '../support/jwks.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { registerCustomersOn } from '../support/service.js';

let db: TestDatabase;
let app: FastifyInstance;
let idp: TestIdentityService;
const logLines: string[] = [];
const routes: { method: string; url: string }[] = [];

const KEYS = { reader: 'rk_reader_6f1e0c2a9b', writer: 'rk_writer_0d4c8e7f11', operator: 'rk_operator_a93b2c55e0', everything: 'rk_all_77c1d0e9f4' };
const KEYS_FILE = `# name  sha256(key)  scopes
reader   ${hashApiKey(KEYS.reader)}  customers:read
writer   ${hashApiKey(KEYS.writer)}  events:write
operator ${hashApiKey(KEYS.operator)} operations
everything ${hashApiKey(KEYS.everything)} customers:read,events:write,operations
`;

beforeAll(async () => {
  db = await createTestDatabase();
  idp = await startIdentityService();
  const logger = testLogger({ alsoTo: { write: (line: string) => void logLines.push(line) } });
  app = buildApp({
    logger,
    bodyLimitBytes: 1024 * 1024,
    flows: [
      individualCustomersHttp({ register: registerCustomersOn(db.pool), findCustomer: (key) => createPostgresCustomerReadModel(db.pool).find(key) }),
      corporateCustomersHttp({ register: registerCorporateOn(db.pool), findCompany: (id) => findCompany(db.pool, id) }),
    ],
    metrics: createMetrics({ defaultMetrics: false }),
    healthChecks: {},
    extraRoutes: [
      // Stands in for an operator route (the console of issue 19): protected only by the policy's default.
      (api) => api.get('/api/v1/operations/ping', () => ({ pong: true })),
    ],
    security: {
      authenticator: createAuthenticator({
        apiKeys: parseApiKeys(KEYS_FILE),
        verifyToken: createTokenVerifier({ jwksUrl: idp.jwksUrl, issuer: idp.issuer, audience: idp.audience, clockSkewSeconds: 30, jwksCooldownMs: 0 }),
      }),
    },
  });
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await idp?.close();
  await db?.drop();
});

interface ProtectedRoute {
  readonly name: string;
  readonly scope: Scope;
  readonly request: () => InjectOptions;
  /** What the route answers once allowed in. */
  readonly allowed: number;
}

const UNKNOWN = '0190a5f0-0000-7000-8000-000000000001';
const PROTECTED: readonly ProtectedRoute[] = [
  { name: 'GET /api/v1/customers/:customerId', scope: 'customers:read', request: () => ({ method: 'GET', url: `/api/v1/customers/${UNKNOWN}` }), allowed: 404 },
  { name: 'GET /api/v1/customers/by-user/:userId', scope: 'customers:read', request: () => ({ method: 'GET', url: `/api/v1/customers/by-user/${UNKNOWN}` }), allowed: 404 },
  { name: 'GET /api/v1/customers/by-number/:customerNumber', scope: 'customers:read', request: () => ({ method: 'GET', url: '/api/v1/customers/by-number/ACME-202601-999999' }), allowed: 404 },
  { name: 'GET /api/v1/customers/by-email/:email', scope: 'customers:read', request: () => ({ method: 'GET', url: '/api/v1/customers/by-email/nobody@example.com' }), allowed: 404 },
  { name: 'HEAD /api/v1/customers/:customerId', scope: 'customers:read', request: () => ({ method: 'HEAD', url: `/api/v1/customers/${UNKNOWN}` }), allowed: 404 },
  { name: 'GET /api/v1/corporate-customers/:id', scope: 'customers:read', request: () => ({ method: 'GET', url: `/api/v1/corporate-customers/${UNKNOWN}` }), allowed: 404 },
  {
    name: 'POST /api/v1/events (UserRegistered)',
    scope: 'events:write',
    request: () => ({ method: 'POST', url: '/api/v1/events', payload: userRegistered() }),
    allowed: 201,
  },
  {
    name: 'POST /api/v1/events (knapscen CloudEvent)',
    scope: 'events:write',
    request: () => ({ method: 'POST', url: '/api/v1/events', headers: { 'content-type': 'application/cloudevents+json' }, payload: JSON.stringify(uniqueEvent()) }),
    allowed: 201,
  },
  { name: 'GET /api/v1/operations/ping (a route nobody classified)', scope: 'operations', request: () => ({ method: 'GET', url: '/api/v1/operations/ping' }), allowed: 200 },
];

const OPEN = ['/health', '/health/live', '/health/ready', '/actuator/health', '/metrics', '/openapi.json', '/docs', '/docs/static/swagger-ui-bundle.js'];

const withAuth = (request: InjectOptions, authorization: string | undefined, header = 'authorization'): InjectOptions => ({
  ...request,
  headers: { ...(request.headers as Record<string, string> | undefined), ...(authorization === undefined ? {} : { [header]: authorization }) },
});

const otherScope = (scope: Scope): Scope => (scope === 'customers:read' ? 'events:write' : 'customers:read');
const rows = async () => Number((await db.rows<{ n: string }>('SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM companies) AS n'))[0]?.n);

function expectProblem(response: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, code: string): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(String(response.headers['content-type'])).toContain('application/problem+json');
  if (response.body !== '') expect(JSON.parse(response.body)).toMatchObject({ status, code });
}

describe('every route is protected or deliberately open', () => {
  it('the table of this test covers every route the application has', () => {
    const known = new Set(PROTECTED.map((route) => route.name.split(' (')[0]));
    const unclassified = routes
      .filter(({ url }) => !OPEN.some((open) => url === open || url.startsWith('/docs')))
      .filter(({ method, url }) => !known.has(`${method} ${url}`) && method !== 'HEAD')
      .map(({ method, url }) => `${method} ${url}`);
    expect(unclassified).toEqual([]);
  });

  it.each(OPEN)('%s answers without credentials', async (url) => {
    const response = await app.inject({ method: 'GET', url });
    expect([200, 302, 503]).toContain(response.statusCode);
    expect(response.statusCode).not.toBe(401);
  });
});

describe.each(PROTECTED)('$name', (route) => {
  const bad = async (authorization: string | undefined, header?: string) => {
    const before = await rows();
    const response = await app.inject(withAuth(route.request(), authorization, header));
    expect(await rows(), 'nothing written').toBe(before);
    return response;
  };
  const claims = (extra: JWTPayload = {}) => ({ scope: route.scope, ...extra });

  it('401 UNAUTHENTICATED with WWW-Authenticate: Bearer and no credentials', async () => {
    const response = await bad(undefined);
    expectProblem(response, 401, 'UNAUTHENTICATED');
    expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
  });

  it.each(['RS256', 'ES256', 'EdDSA'] as const)('lets in a valid %s token with the scope', async (alg) => {
    const response = await app.inject(withAuth(route.request(), `Bearer ${await idp.sign(claims(), { alg })}`));
    expect(response.statusCode, response.body).toBe(route.allowed);
  });

  it('takes the scopes from an scp array too', async () => {
    const response = await app.inject(withAuth(route.request(), `Bearer ${await idp.sign({ scp: ['openid', route.scope] })}`));
    expect(response.statusCode, response.body).toBe(route.allowed);
  });

  it('403 FORBIDDEN for a valid token without the scope, nothing written', async () => {
    const response = await bad(`Bearer ${await idp.sign({ scope: `openid ${otherScope(route.scope)}` })}`);
    expectProblem(response, 403, 'FORBIDDEN');
    expect(response.headers['www-authenticate']).toContain('insufficient_scope');
  });

  it('401 for an expired token (beyond the clock skew)', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectProblem(await bad(`Bearer ${await idp.sign(claims({ iat: now - 600, exp: now - 120 }))}`), 401, 'UNAUTHENTICATED');
  });

  it('401 for a token not valid yet (nbf beyond the clock skew)', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectProblem(await bad(`Bearer ${await idp.sign(claims({ nbf: now + 300 }))}`), 401, 'UNAUTHENTICATED');
  });

  it('401 for a token without exp', async () => {
    expectProblem(await bad(`Bearer ${await idp.sign(claims({ exp: undefined }))}`), 401, 'UNAUTHENTICATED');
  });

  it('401 for a wrong audience', async () => {
    expectProblem(await bad(`Bearer ${await idp.sign(claims({ aud: 'billing-service' }))}`), 401, 'UNAUTHENTICATED');
  });

  it('401 for a wrong issuer', async () => {
    expectProblem(await bad(`Bearer ${await idp.sign(claims({ iss: 'https://evil.example/' }))}`), 401, 'UNAUTHENTICATED');
  });

  it('401 for alg: none', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = unsignedToken({ iss: idp.issuer, aud: idp.audience, sub: 'attacker', exp: now + 300, scope: route.scope });
    expectProblem(await bad(`Bearer ${token}`), 401, 'UNAUTHENTICATED');
  });

  it('401 for an HMAC token signed with the public key', async () => {
    const key = idp.key('RS256');
    const now = Math.floor(Date.now() / 1000);
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const signingInput = `${part({ alg: 'HS256', typ: 'JWT', kid: key.kid })}.${part({ iss: idp.issuer, aud: idp.audience, sub: 'attacker', exp: now + 300, scope: route.scope })}`;
    for (const secret of [key.publicPem, JSON.stringify(key.publicJwk)]) {
      const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
      expectProblem(await bad(`Bearer ${signingInput}.${signature}`), 401, 'UNAUTHENTICATED');
    }
  });

  it('401 for a token whose signature was tampered with (scope added)', async () => {
    const [header, , signature] = (await idp.sign({ scope: 'openid' })).split('.');
    const forged = Buffer.from(JSON.stringify({ iss: idp.issuer, aud: idp.audience, sub: 'client-1', exp: Math.floor(Date.now() / 1000) + 300, scope: route.scope })).toString('base64url');
    expectProblem(await bad(`Bearer ${header}.${forged}.${signature}`), 401, 'UNAUTHENTICATED');
  });

  it('401 for another scheme (Basic) and for an unknown API key', async () => {
    expectProblem(await bad('Basic cmVhZGVyOnNlY3JldA=='), 401, 'UNAUTHENTICATED');
    expectProblem(await bad('Bearer rk_not_a_key'), 401, 'UNAUTHENTICATED');
    expectProblem(await bad('rk_not_a_key', 'x-api-key'), 401, 'UNAUTHENTICATED');
  });

  it('API keys: in with the scope (Bearer or X-API-Key), 403 without it', async () => {
    const holder = route.scope === 'customers:read' ? KEYS.reader : route.scope === 'events:write' ? KEYS.writer : KEYS.operator;
    expect((await app.inject(withAuth(route.request(), `Bearer ${holder}`))).statusCode).toBe(route.allowed);
    expect((await app.inject(withAuth(route.request(), holder, 'x-api-key'))).statusCode).toBe(route.allowed);
    expect((await app.inject(withAuth(route.request(), KEYS.everything, 'x-api-key'))).statusCode).toBe(route.allowed);
    const other = route.scope === 'customers:read' ? KEYS.writer : KEYS.reader;
    expectProblem(await bad(`Bearer ${other}`), 403, 'FORBIDDEN');
  });
});

describe('key rotation', () => {
  it('fetches the JWKS again for an unknown kid: tokens of the new key pass, tokens of the removed key do not', async () => {
    const request = PROTECTED[0]!.request();
    const old = await idp.sign({ scope: 'customers:read' });
    expect((await app.inject(withAuth(request, `Bearer ${old}`))).statusCode).toBe(404);
    const fetchesBefore = idp.fetches();
    await idp.rotate();
    const rotated = await idp.sign({ scope: 'customers:read' });
    expect((await app.inject(withAuth(request, `Bearer ${rotated}`))).statusCode).toBe(404);
    expect(idp.fetches()).toBeGreaterThan(fetchesBefore);
    // The old key is still cached; once the set is refreshed it is gone: a forged kid forces the refresh here.
    const stranger = await idp.sign({ scope: 'customers:read' }, { header: { kid: 'unknown-kid' } });
    expectProblem(await app.inject(withAuth(request, `Bearer ${stranger}`)), 401, 'UNAUTHENTICATED');
    expectProblem(await app.inject(withAuth(request, `Bearer ${old}`)), 401, 'UNAUTHENTICATED');
  });
});

describe('credentials in logs', () => {
  it('no API key or token appears in any log line, though debug logging was on for the whole file', () => {
    const text = logLines.join('');
    expect(logLines.length).toBeGreaterThan(0);
    for (const key of Object.values(KEYS)) expect(text).not.toContain(key);
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });
});
