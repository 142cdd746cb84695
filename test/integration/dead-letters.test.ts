/** The dead-letter store keeps one letter per broker position, so a redelivery after a crash is not parked twice. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { park, type NewDeadLetter } from '../../src/platform/postgres/dead-letters.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());
beforeEach(async () => {
  await db.pool.query('TRUNCATE dead_letters');
});

const count = async () => Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM dead_letters'))[0]?.n);

const letter = (overrides: Partial<NewDeadLetter>): NewDeadLetter => ({
  transport: 'nats',
  source: 'customer-registered',
  offset: '42',
  messageId: 'event-1',
  payload: Buffer.from('{}'),
  reasonCode: 'RETRIES_EXHAUSTED',
  errorMessage: 'test',
  ...overrides,
});

describe('parking', () => {
  it('parks a JetStream message redelivered after a crash (same subject, sequence and id) once', async () => {
    await park(db.pool, [letter({})]);
    await park(db.pool, [letter({ reasonCode: 'PROCESSING_FAILED' })]);
    expect(await count()).toBe(1);
  });

  it('still parks another message at the same sequence (a recreated stream), and letters without an id', async () => {
    await park(db.pool, [letter({})]);
    await park(db.pool, [letter({ messageId: 'event-2' })]);
    await park(db.pool, [letter({ messageId: null }), letter({ messageId: null })]);
    expect(await count()).toBe(4);
  });

  it('parks a Kafka message once per topic, partition and offset', async () => {
    const kafka = letter({ transport: 'kafka', source: 'identity.user.events', partition: 3, offset: '7' });
    await park(db.pool, [kafka]);
    await park(db.pool, [kafka]);
    await park(db.pool, [{ ...kafka, partition: 4 }]);
    expect(await count()).toBe(2);
  });
});
