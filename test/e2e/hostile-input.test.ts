/**
 * Issue #11: what a fuzzer and an attacker send to the HTTP API. Every answer is a 4xx problem+json with a reason code,
 * never a 5xx or a false success, and nothing is written for it. Items 3, 4, 9, 10, 11 and 12.
 */
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { testLogger } from '../support/run-logs.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { individualCustomersHttp } from '../../src/individual-customers/customers.http.js';
import { openAccess } from '../../src/platform/auth/authenticator.js';
import { findCompany } from '../../src/corporate-customers/company-store.js';
import { corporateCustomersHttp } from '../../src/corporate-customers/corporate-customers.http.js';
import { createPostgresCustomerReadModel } from '../../src/individual-customers/customer-read-model.postgres.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { registerCorporateOn, uniqueEvent } from '../support/corporate.js';
import { userRegistered } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { registerCustomersOn } from '../support/service.js';

let db: TestDatabase;
let app: FastifyInstance;
let port: number;
let logLines: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
      done();
    },
  });
  app = buildApp({
    logger: testLogger({ alsoTo: { write: (line: string) => logStream.write(line) } }),
    bodyLimitBytes: 1024 * 1024,
    flows: [
      individualCustomersHttp({ register: registerCustomersOn(db.pool), findCustomer: (key) => createPostgresCustomerReadModel(db.pool).find(key) }),
      corporateCustomersHttp({ register: registerCorporateOn(db.pool), findCompany: (id) => findCompany(db.pool, id) }),
    ],
    metrics: createMetrics({ defaultMetrics: false }),
    healthChecks: {},
    security: { authenticator: openAccess() },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
});

const post = (payload: string, contentType = 'application/json', headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/api/v1/events', headers: { 'content-type': contentType, ...headers }, payload });

async function written(): Promise<number> {
  const [row] = await db.rows<{ n: string }>(
    `SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM companies) + (SELECT count(*) FROM event_store)
            + (SELECT count(*) FROM inbox) + (SELECT count(*) FROM outbox) AS n`,
  );
  return Number(row?.n);
}

/** Asserts a problem document with `status` and `code`. */
function expectProblem(response: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, code: string) {
  expect(response.statusCode, response.body).toBe(status);
  expect(String(response.headers['content-type'])).toMatch(/^application\/problem\+json/);
  expect(JSON.parse(response.body)).toMatchObject({ status, code });
}

/** Sends raw bytes on a socket; resolves with the raw HTTP answer. */
function raw(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.end(text, 'latin1');
  });
}

function parseRaw(answer: string): { statusCode: number; headers: Record<string, string>; body: string } {
  const [head = '', ...rest] = answer.split('\r\n\r\n');
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers = Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { statusCode: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') };
}

describe('item 3: event types that name Object.prototype members', () => {
  const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__', 'toLocaleString'];

  it.each(names)('answers 415 UNSUPPORTED_EVENT_TYPE for eventType %s', async (name) => {
    const before = await written();
    expectProblem(await post(JSON.stringify({ ...userRegistered(), eventType: name })), 415, 'UNSUPPORTED_EVENT_TYPE');
    expect(await written()).toBe(before);
  });

  it.each(names)('answers 415 UNSUPPORTED_EVENT_TYPE for CloudEvent type %s (structured and binary)', async (name) => {
    const before = await written();
    expectProblem(await post(JSON.stringify({ ...uniqueEvent(), type: name }), 'application/cloudevents+json'), 415, 'UNSUPPORTED_EVENT_TYPE');
    const binary = await post(JSON.stringify(uniqueEvent().data), 'application/json', {
      'ce-specversion': '1.0',
      'ce-id': 'evt-1',
      'ce-source': 'fuzzer',
      'ce-type': name,
    });
    expectProblem(binary, 415, 'UNSUPPORTED_EVENT_TYPE');
    expect(await written()).toBe(before);
  });
});

describe('item 4: schema-valid input that PostgreSQL would refuse', () => {
  const individual = (change: (event: ReturnType<typeof userRegistered>) => void) => {
    const event = userRegistered();
    change(event);
    return JSON.stringify(event);
  };
  const corporate = (change: (event: ReturnType<typeof uniqueEvent>) => void) => {
    const event = uniqueEvent();
    change(event);
    return JSON.stringify(event);
  };
  const CE = 'application/cloudevents+json';

  it.each([
    ['a NUL in firstName', individual((e) => (e.payload.firstName = 'Ja\u0000ne')), 'application/json', 'INVALID_CHARACTERS'],
    ['a NUL in an ignored field', individual((e) => Object.assign(e.payload, { verificationToken: 'a\u0000b' })), 'application/json', 'INVALID_CHARACTERS'],
    ['an unpaired surrogate in lastName', individual((e) => (e.payload.lastName = 'Do\ud800e')), 'application/json', 'INVALID_CHARACTERS'],
    ['a timestamp in year 0000', individual((e) => (e.timestamp = '0000-01-01T00:00:00Z')), 'application/json', 'INVALID_TIMESTAMP'],
    ['a timestamp in year 0999', individual((e) => (e.timestamp = '0999-06-01T00:00:00Z')), 'application/json', 'INVALID_TIMESTAMP'],
    ['a timestamp whose UTC year is 10000', individual((e) => (e.timestamp = '9999-12-31T23:30:00-05:00')), 'application/json', 'INVALID_TIMESTAMP'],
    ['a registrationSource of 10 KB', individual((e) => (e.payload.registrationSource = 'W'.repeat(10_000))), 'application/json', 'FIELD_TOO_LONG'],
    ['a causationId of 10 KB', individual((e) => Object.assign(e, { causationId: 'c'.repeat(10_000) })), 'application/json', 'FIELD_TOO_LONG'],
    ['a NUL in a company name', corporate((e) => (e.data.name = 'Tech\u0000Corp')), CE, 'INVALID_CHARACTERS'],
    ['an unpaired surrogate in a user name', corporate((e) => ((e.data.users[0] as { name: string }).name = '\udc00x')), CE, 'INVALID_CHARACTERS'],
    ['a CloudEvent id of 20 KB', corporate((e) => (e.id = 'i'.repeat(20_000))), CE, 'FIELD_TOO_LONG'],
    ['a CloudEvent source of 20 KB', corporate((e) => (e.source = 's'.repeat(20_000))), CE, 'FIELD_TOO_LONG'],
    ['a CloudEvent subject of 20 KB', corporate((e) => (e.subject = 'x'.repeat(20_000))), CE, 'FIELD_TOO_LONG'],
    ['a CloudEvent time in year 0000', corporate((e) => (e.time = '0000-01-01T00:00:00Z')), CE, 'INVALID_TIMESTAMP'],
  ])('%s answers 400 with its reason code and writes nothing', async (_name, body, contentType, code) => {
    const before = await written();
    expectProblem(await post(body, contentType), 400, code);
    expect(await written()).toBe(before);
  });

  it('still accepts the bounds themselves', async () => {
    const response = await post(individual((e) => {
      e.timestamp = '2000-01-01T00:00:00Z';
      e.payload.registrationSource = 'W'.repeat(256);
    }));
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json<{ customerNumber: string }>().customerNumber).toMatch(/^ACME-200001-\d{6}$/);
  });
});

describe('item 9: an absurd x-request-id', () => {
  it('is neither logged whole nor used as the request id', async () => {
    logLines = [];
    const huge = 'r'.repeat(15_000);
    const response = await post(JSON.stringify({ eventType: 'Nope' }), 'application/json', { 'x-request-id': huge });
    expect(response.statusCode).toBe(415);
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) {
      expect(line).not.toContain('r'.repeat(200));
      expect(line.length).toBeLessThan(4_000);
    }
    // A sane one is kept, so callers can correlate.
    logLines = [];
    await post(JSON.stringify({ eventType: 'Nope' }), 'application/json', { 'x-request-id': 'req-42' });
    expect(logLines.some((line) => (JSON.parse(line) as { reqId?: string }).reqId === 'req-42')).toBe(true);
  });
});

describe('item 10: every error is problem+json with a code', () => {
  it('a malformed percent-encoding in the path', async () => {
    expectProblem(await app.inject({ method: 'GET', url: '/api/v1/customers/%E0%A4%A' }), 400, 'BAD_URL');
  });

  it('a path parameter longer than the router allows', async () => {
    const response = await app.inject({ method: 'GET', url: `/api/v1/customers/${'a'.repeat(5_000)}` });
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.statusCode).toBeLessThan(500);
    expect(String(response.headers['content-type'])).toMatch(/^application\/problem\+json/);
    expect(typeof response.json<{ code?: unknown }>().code).toBe('string');
  });

  it('an unknown route', async () => {
    expectProblem(await app.inject({ method: 'GET', url: '/nope' }), 404, 'ROUTE_NOT_FOUND');
  });

  it('request headers too large (431) on a real socket', async () => {
    const answer = parseRaw(await raw(`GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`));
    expectProblem(answer, 431, 'HEADERS_TOO_LARGE');
  });

  it('a malformed HTTP request (400) on a real socket', async () => {
    const answer = parseRaw(await raw('GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n'));
    expectProblem(answer, 400, 'BAD_REQUEST');
  });
});

describe('item 11: a company needs an account owner', () => {
  it.each([
    ['no users at all', (e: ReturnType<typeof uniqueEvent>) => (e.data.users = [])],
    ['users but no customer_account_owner', (e: ReturnType<typeof uniqueEvent>) => (e.data.users = e.data.users.map((user) => ({ ...user, role: 'admin_user' })))],
  ])('%s answers 400 MISSING_ACCOUNT_OWNER and writes nothing', async (_name, change) => {
    const event = uniqueEvent();
    change(event);
    const before = await written();
    expectProblem(await post(JSON.stringify(event), 'application/cloudevents+json'), 400, 'MISSING_ACCOUNT_OWNER');
    expect(await written()).toBe(before);
  });
});

describe('item 12: __proto__ and constructor keys get the same answer under both JSON media types', () => {
  const poisoned = [
    ['__proto__', (body: string) => body.replace(/^\{/, '{"__proto__":{"polluted":true},')],
    ['constructor.prototype', (body: string) => body.replace(/^\{/, '{"constructor":{"prototype":{"polluted":true}},')],
  ] as const;

  it.each(poisoned)('%s: 400 MALFORMED_JSON as application/json and as application/cloudevents+json', async (_name, poison) => {
    const before = await written();
    expectProblem(await post(poison(JSON.stringify(userRegistered()))), 400, 'MALFORMED_JSON');
    expectProblem(await post(poison(JSON.stringify(uniqueEvent())), 'application/cloudevents+json'), 400, 'MALFORMED_JSON');
    expect(await written()).toBe(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
