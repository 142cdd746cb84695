/**
 * Issue #11 items 6 and 7: what reaches the real pino output. Personal data is redacted at any depth, not only at the
 * key paths someone thought of; database errors are logged by code and message, without the `detail`/`where` data
 * context PostgreSQL fills with the offending row or payload; no URL is logged with its userinfo.
 */
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

function capturedLogger(env: Record<string, string> = {}) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
      done();
    },
  });
  return { logger: createLogger(loadConfig({ LOG_LEVEL: 'debug', ...env }).log, sink), output: () => lines.join('\n') };
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  await db.pool.query('CREATE TABLE people (email TEXT UNIQUE)');
});
afterAll(() => db.drop());

async function databaseError(sql: string, values: unknown[] = []): Promise<pg.DatabaseError> {
  try {
    await db.pool.query(sql, values);
  } catch (error) {
    if (error instanceof pg.DatabaseError) return error;
    throw error;
  }
  throw new Error(`no error from ${sql}`);
}

describe('log redaction', () => {
  it('logs a jsonb error by code and message, without the payload PostgreSQL puts in its context', async () => {
    const error = await databaseError('SELECT $1::jsonb', ['{"email":"grace.hopper@navy.example","firstName":"Grace","bad":"\\u0000"}']);
    expect(`${error.where ?? ''}${error.detail ?? ''}`).toContain('navy.example'); // the danger is real
    const log = capturedLogger();
    log.logger.warn({ err: error }, 'registration failed');
    log.logger.error({ outcome: 'failed', failure: { attempts: [{ error }] } }, 'nested');
    log.logger.error(new Error('wrapped', { cause: error }));
    const output = log.output();
    expect(output).not.toContain('navy.example');
    expect(output).not.toContain('Grace');
    expect(output).toContain(error.code ?? 'no code');
    expect(output).toContain(error.message);
  });

  it('logs a unique violation without the key value of its detail', async () => {
    await db.pool.query('INSERT INTO people VALUES ($1)', ['ada.lovelace@example.org']);
    const error = await databaseError('INSERT INTO people VALUES ($1)', ['ada.lovelace@example.org']);
    expect(error.detail).toContain('ada.lovelace@example.org');
    const log = capturedLogger();
    log.logger.warn({ err: error }, 'insert failed');
    expect(log.output()).not.toContain('ada.lovelace@example.org');
    expect(log.output()).toContain('23505');
  });

  it('redacts personal fields at any depth and inside arrays', () => {
    const log = capturedLogger();
    log.logger.info(
      {
        a: { b: { c: { d: { e: { email: 'deep.down@example.com', name: 'Deep Person' } } } } },
        users: [{ user_email: 'in.array@example.com', user_name: 'Array Person' }],
        customer: { name: { firstName: 'Nested', lastName: 'Names', displayName: 'Nested Names' } },
      },
      'deep',
    );
    const output = log.output();
    for (const secret of ['deep.down@example.com', 'Deep Person', 'in.array@example.com', 'Array Person', 'Nested', 'Names']) {
      expect(output).not.toContain(secret);
    }
    expect(output).toContain('[redacted]');
  });

  it('masks e-mail addresses inside error messages and texts, where no field name gives them away', () => {
    const log = capturedLogger();
    // The drivers of the stores we write to put the offending value into the message itself.
    const mysqlDuplicate = Object.assign(new Error("Duplicate entry 'mysql.dup@example.com' for key 'users.email'"), { code: 'ER_DUP_ENTRY', errno: 1062 });
    const mongoDuplicate = Object.assign(new Error('E11000 duplicate key error collection: customers.customers index: email_1 dup key: { email: "mongo.dup@example.com" }'), { code: 11000 });
    log.logger.warn({ err: mysqlDuplicate, events: 3 }, 'knapscen mirror batch failed; it is retried');
    log.logger.error(mongoDuplicate);
    log.logger.warn({ error: 'data.users.1.email: text.dup@example.com is already used' }, 'message parked for Upper.Case@Example.COM');
    const output = log.output();
    for (const secret of ['mysql.dup@example.com', 'mongo.dup@example.com', 'text.dup@example.com', 'Upper.Case@Example.COM']) expect(output).not.toContain(secret);
    expect(output).toContain("Duplicate entry '[redacted]' for key 'users.email'");
    expect(output).toContain('ER_DUP_ENTRY');
    // Not an address: a scoped package in a stack trace stays readable.
    log.logger.info({ at: 'at register (/app/node_modules/@fastify/rate-limit/index.js:1:1)' }, 'stack');
    expect(log.output()).toContain('/node_modules/@fastify/rate-limit/index.js');
  });

  it('keeps personal data when LOG_PERSONAL_DATA is set', () => {
    const log = capturedLogger({ LOG_PERSONAL_DATA: 'true' });
    log.logger.info({ a: { b: { c: { d: { email: 'deep.down@example.com' } } } } }, 'deep');
    expect(log.output()).toContain('deep.down@example.com');
  });

  it('never logs the userinfo of a URL, wherever it appears', () => {
    const log = capturedLogger({ LOG_PERSONAL_DATA: 'true' });
    log.logger.info(
      { servers: ['nats://bob:s3cret-nats@127.0.0.1:4222'], database: { url: 'postgres://app:s3cret-pg@db:5432/customers' } },
      'connecting to mongodb://reader:s3cret-mongo@mongo:27017/x',
    );
    log.logger.error(new Error('could not reach postgres://app:s3cret-pg@db:5432/customers'));
    const output = log.output();
    for (const secret of ['s3cret-nats', 's3cret-pg', 's3cret-mongo', 'bob:', 'app:', 'reader:']) expect(output).not.toContain(secret);
    expect(output).toContain('127.0.0.1:4222');
  });
});
