/** SPEC §6 logs: pino JSON, one line per outcome with its ids, and no personal data unless LOG_PERSONAL_DATA is set. */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { buildTestApp } from '../support/app.js';
import { userRegistered } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

/** A real pino logger as the service builds it from the environment, writing into memory. */
function capturedLogger(env: Record<string, string>) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
      done();
    },
  });
  const logger = createLogger(loadConfig(env).log, sink);
  return { logger, lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

describe('logs', () => {
  it('writes one JSON line per outcome with eventId, correlationId and customerId, and no e-mail or name by default', async () => {
    const log = capturedLogger({ LOG_LEVEL: 'debug' });
    const { app } = buildTestApp(db, { logger: log.logger });
    let customerId: string | undefined;
    const post = (event: unknown) =>
      app.inject({ method: 'POST', url: '/api/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(event) });
    try {
      const event = userRegistered({ email: 'grace.hopper@navy.example', firstName: 'Grace', lastName: 'Hopperova' });
      const created = await post(event);
      expect(created.statusCode).toBe(201);
      customerId = created.json<{ customerId: string }>().customerId;
      expect((await post(event)).statusCode).toBe(200);
      // The same eventId for another user: rejected.
      const reused = userRegistered({ eventId: event.eventId, email: 'ada.lovelace@example.org', firstName: 'Ada', lastName: 'Lovelacea' });
      expect((await post(reused)).statusCode).toBe(409);
      // Invalid input carrying personal data.
      expect((await post({ ...userRegistered({ firstName: 'Edsger', lastName: 'Dijkstrova' }), timestamp: 'yesterday' })).statusCode).toBe(400);
    } finally {
      await app.close();
    }

    const records = log.records();
    const outcomes = records.filter((record) => 'outcome' in record);
    expect(outcomes.map((record) => [record.outcome, record.level, record.reason])).toEqual([
      ['processed', 'info', undefined],
      ['duplicate', 'debug', 'redelivered'],
      ['rejected', 'warn', 'INVALID_VALUE'],
      ['rejected', 'warn', 'INVALID_TIMESTAMP'],
    ]);
    for (const record of outcomes) {
      expect(record).toMatchObject({ service: 'customer-service', transport: 'http', eventType: 'UserRegistered' });
      expect(record.eventId).toEqual(expect.any(String));
      expect(record.correlationId).toEqual(expect.any(String));
    }
    expect(outcomes[3]).not.toHaveProperty('customerId');
    expect(outcomes[0]?.customerId).toBe(customerId);
    expect(outcomes[1]?.customerId).toBe(customerId);

    const everything = log.lines.join('\n');
    for (const personal of ['grace.hopper', 'navy.example', 'Grace', 'Hopperova', 'ada.lovelace', 'Lovelacea', 'Edsger', 'Dijkstrova']) {
      expect(everything).not.toContain(personal);
    }
  });

  it('redacts e-mails and names anywhere in a logged object unless LOG_PERSONAL_DATA=true', () => {
    const payload = { event: { payload: { email: 'x@example.com', firstName: 'Xena', lastName: 'Y' } }, user_email: 'u@example.com' };
    const redacted = capturedLogger({});
    redacted.logger.info(payload, 'with personal data');
    expect(redacted.lines.join('\n')).not.toMatch(/x@example\.com|Xena|u@example\.com/);
    expect(redacted.lines.join('\n')).toContain('[redacted]');

    const shown = capturedLogger({ LOG_PERSONAL_DATA: 'true' });
    shown.logger.info(payload, 'with personal data');
    expect(shown.lines.join('\n')).toMatch(/x@example\.com[\s\S]*Xena/);
  });
});
