/**
 * Issue 12: every flow writes the same outcome line (SPEC §6) for the same outcome. The corporate flow used to write
 * none for an HTTP 409 or a Job run, while the individual flow did.
 */
import { Writable } from 'node:stream';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { replayHandlersOf } from '../../src/flows.js';
import { replayDeadLetters, replayRoutes } from '../../src/platform/dead-letter-replay.js';
import { park } from '../../src/platform/postgres/dead-letters.js';
import { corporateCustomersHttp } from '../../src/corporate-customers/corporate-customers.http.js';
import { findCompany } from '../../src/corporate-customers/company-store.js';
import { individualCustomersHttp } from '../../src/individual-customers/customers.http.js';
import { createRegisterCorporateCustomer } from '../../src/corporate-customers/register-corporate-customer.js';
import { createPostgresCustomerReadModel } from '../../src/individual-customers/customer-read-model.postgres.js';
import { openAccess } from '../../src/platform/auth/authenticator.js';
import { createLogger } from '../../src/platform/logger.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { uniqueEvent } from '../support/corporate.js';
import { userRegistered } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { registerCustomersOn } from '../support/service.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

function capturedLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
      done();
    },
  });
  const logger = createLogger(loadConfig({ LOG_LEVEL: 'debug' }).log, sink);
  return { logger, outcomes: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((record) => 'outcome' in record) };
}

describe('outcome log lines', () => {
  it('are the same for a corporate registration as for an individual one: processed, duplicate and a 409 rejection', async () => {
    const log = capturedLogger();
    const metrics = createMetrics({ defaultMetrics: false });
    const app = buildApp({
      logger: log.logger,
      bodyLimitBytes: 1024 * 1024,
      flows: [
        individualCustomersHttp({ register: registerCustomersOn(db.pool, { metrics, logger: log.logger }), findCustomer: (key) => createPostgresCustomerReadModel(db.pool).find(key) }),
        corporateCustomersHttp({
          register: createRegisterCorporateCustomer({ pool: db.pool, clock: () => new Date(), newId: () => uuidv7(), metrics, logger: log.logger }),
          findCompany: (id) => findCompany(db.pool, id),
        }),
      ],
      metrics,
      healthChecks: {},
      security: { authenticator: openAccess() },
    });
    const post = (event: unknown, contentType: string) =>
      app.inject({ method: 'POST', url: '/api/v1/events', headers: { 'content-type': contentType }, payload: JSON.stringify(event) });
    try {
      const individual = userRegistered();
      expect((await post(individual, 'application/json')).statusCode).toBe(201);
      expect((await post(individual, 'application/json')).statusCode).toBe(200);
      expect((await post(userRegistered({ eventId: individual.eventId }), 'application/json')).statusCode).toBe(409);
      const individualLines = log.outcomes();

      const corporate = uniqueEvent();
      expect((await post(corporate, 'application/cloudevents+json')).statusCode).toBe(201);
      expect((await post(corporate, 'application/cloudevents+json')).statusCode).toBe(200);
      const taken = uniqueEvent();
      taken.data.users[0] = { name: 'Copy', email: corporate.data.users[0]?.email, role: 'customer_account_owner' };
      expect((await post(taken, 'application/cloudevents+json')).statusCode).toBe(409);
      const corporateLines = log.outcomes().slice(individualLines.length);

      const shape = (records: Record<string, unknown>[]) =>
        records.map((record) => ({ outcome: record.outcome, level: record.level, keys: Object.keys(record).filter((key) => key !== 'msg').sort() }));
      expect(shape(corporateLines)).toEqual(shape(individualLines));
      expect(individualLines.map((record) => record.reason)).toEqual([undefined, 'redelivered', 'INVALID_VALUE']);
      expect(corporateLines.map((record) => record.reason)).toEqual([undefined, 'redelivered', 'EMAIL_TAKEN']);
      expect(corporateLines.map((record) => [record.outcome, record.transport, record.eventType, record.eventId])).toEqual([
        ['processed', 'http', 'disco.knapscen.customer.registered', corporate.id],
        ['duplicate', 'http', 'disco.knapscen.customer.registered', corporate.id],
        ['rejected', 'http', 'disco.knapscen.customer.registered', taken.id],
      ]);
      expect(corporateLines[0]?.customerId).toBe(corporate.subject);
    } finally {
      await app.close();
    }
  });

  it('come from one replay path for both flows: dead-letters replay picks each letter\'s flow by transport and writes its outcome line', async () => {
    const log = capturedLogger();
    const individual = userRegistered();
    const corporate = uniqueEvent();
    const [kafkaLetter, natsLetter] = await park(db.pool, [
      { transport: 'kafka', source: 'identity.user.events', partition: 0, offset: '41', headers: {}, payload: Buffer.from(JSON.stringify(individual)), reasonCode: 'RETRIES_EXHAUSTED', errorMessage: 'test' },
      { transport: 'nats', source: 'customer-registered', offset: '7', headers: {}, payload: Buffer.from(JSON.stringify(corporate)), reasonCode: 'RETRIES_EXHAUSTED', errorMessage: 'test' },
    ]);
    const routes = replayHandlersOf({ config: loadConfig({}), pool: db.pool, logger: log.logger });
    const reports = await replayDeadLetters(db.pool, routes, { ids: [kafkaLetter ?? '', natsLetter ?? ''] });
    expect(reports.map((report) => report.outcome)).toEqual(['replayed', 'replayed']);
    const lines = log.outcomes();
    expect(lines.map((record) => [record.outcome, record.level, record.transport, record.eventId])).toEqual([
      ['processed', 'info', 'kafka', individual.eventId],
      ['processed', 'info', 'nats', corporate.id],
    ]);
    const keys = (record: Record<string, unknown> | undefined) => Object.keys(record ?? {}).filter((key) => key !== 'msg').sort();
    expect(keys(lines[1])).toEqual(keys(lines[0]));
  });

  it('refuses two flows claiming the same parked letters', () => {
    const handler = () => Promise.resolve({ outcome: 'replayed' as const, resolution: '' });
    expect(() => replayRoutes([{ transport: 'kafka', handler }, { transport: 'kafka', handler }])).toThrow(/two replay handlers for transport "kafka"/);
    expect(() => replayRoutes([{ transport: 'kafka', source: 'a', handler }, { transport: 'kafka', source: 'b', handler }])).not.toThrow();
  });
});
