/**
 * Rate limits per client (issue 16): a credential's lookups and intake are counted apart from every other
 * credential's; over the limit, 429 RATE_LIMITED with Retry-After, and the event is not written. Without
 * authentication, clients are told apart by address.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey, parseApiKeys } from '../../src/platform/auth/api-keys.js';
import { createAuthenticator, openAccess } from '../../src/platform/auth/authenticator.js';
import { buildTestApp } from '../support/app.js';
import { userRegistered } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
let app: FastifyInstance;
let open: FastifyInstance;

const KEYS = parseApiKeys(`a ${hashApiKey('key-a')} customers:read,events:write\nb ${hashApiKey('key-b')} customers:read,events:write\n`);
const LIMITS = { windowMs: 60_000, lookups: 3, events: 2 };

beforeAll(async () => {
  db = await createTestDatabase();
  ({ app } = buildTestApp(db, { security: { authenticator: createAuthenticator({ apiKeys: KEYS }), rateLimits: LIMITS } }));
  ({ app: open } = buildTestApp(db, { security: { authenticator: openAccess(), rateLimits: LIMITS } }));
});
afterAll(async () => {
  await app?.close();
  await open?.close();
  await db?.drop();
});

const lookup = (target: FastifyInstance, headers: Record<string, string>, remoteAddress = '10.0.0.1') =>
  target.inject({ method: 'GET', url: '/api/v1/customers/by-email/nobody@example.com', headers, remoteAddress });
const post = (target: FastifyInstance, headers: Record<string, string>, event = userRegistered()) =>
  target.inject({ method: 'POST', url: '/api/v1/events', headers, payload: event });
const customers = async () => Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM customers'))[0]?.n);

describe('rate limits', () => {
  it('answers 429 RATE_LIMITED with Retry-After once a client passes its lookup limit; other clients are unaffected', async () => {
    for (let i = 0; i < LIMITS.lookups; i += 1) expect((await lookup(app, { 'x-api-key': 'key-a' })).statusCode).toBe(404);
    const limited = await lookup(app, { 'x-api-key': 'key-a' });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['content-type']).toContain('application/problem+json');
    expect(limited.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Another credential, even from the same address, has its own count.
    expect((await lookup(app, { 'x-api-key': 'key-b' })).statusCode).toBe(404);
  });

  it('counts the intake apart from lookups, and writes nothing over the limit', async () => {
    for (let i = 0; i < LIMITS.events; i += 1) expect((await post(app, { 'x-api-key': 'key-b' })).statusCode).toBe(201);
    const before = await customers();
    const limited = await post(app, { 'x-api-key': 'key-b' });
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: 'RATE_LIMITED' });
    expect(await customers()).toBe(before);
  });

  it('does not count requests that fail authentication against the credential they name', async () => {
    for (let i = 0; i < 5; i += 1) expect((await lookup(app, { 'x-api-key': 'wrong' })).statusCode).toBe(401);
  });

  it('without authentication, limits each address', async () => {
    for (let i = 0; i < LIMITS.lookups; i += 1) expect((await lookup(open, {}, '10.0.0.7')).statusCode).toBe(404);
    expect((await lookup(open, {}, '10.0.0.7')).statusCode).toBe(429);
    expect((await lookup(open, {}, '10.0.0.8')).statusCode).toBe(404);
  });

  it('leaves the open routes unlimited', async () => {
    for (let i = 0; i < LIMITS.lookups + 2; i += 1) expect((await open.inject({ method: 'GET', url: '/health/live', remoteAddress: '10.0.0.7' })).statusCode).toBe(200);
  });
});
