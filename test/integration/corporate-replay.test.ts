/** Replaying a parked NATS letter of the corporate flow goes through the live path, and replaying twice is harmless. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { createCorporateReplay, createCustomerRegisteredHandler, replayCorporateDeadLetter, type HandleCustomerRegistered } from '../../src/corporate-customers/customer-registered.nats.js';
import { loadConfig } from '../../src/config.js';
import { replayHandlers } from '../../src/dead-letters.cli.js';
import { replayDeadLetters } from '../../src/platform/dead-letter-replay.js';
import { listDeadLetters, park } from '../../src/platform/postgres/dead-letters.js';
import { CORPORATE_TABLES, registerCorporateOn, tableCounts, uniqueEvent } from '../support/corporate.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

let db: TestDatabase;
let handle: HandleCustomerRegistered;

beforeAll(async () => {
  db = await createTestDatabase();
  handle = createCustomerRegisteredHandler(registerCorporateOn(db.pool), testLogger());
});
afterAll(() => db.drop());
beforeEach(async () => {
  await db.pool.query(`TRUNCATE ${CORPORATE_TABLES.join(', ')}`);
});

/** Parks `body` as the JetStream consumer would have, with `reasonCode`; returns the letter id. */
async function parked(body: string, reasonCode: string): Promise<string> {
  const [id] = await park(db.pool, [
    { transport: 'nats', source: 'customer-registered', offset: '7', headers: { 'nats-msg-id': 'x' }, payload: Buffer.from(body), reasonCode, errorMessage: 'test', attempts: 6 },
  ]);
  if (id === undefined) throw new Error('not parked');
  return id;
}

const message = (body: string) => ({ subject: 'customer-registered', data: Buffer.from(body), headers: {} });

describe('replaying a corporate dead letter', () => {
  it('registers a letter parked after its retries ran out, and a second replay does nothing', async () => {
    const event = uniqueEvent();
    const id = await parked(JSON.stringify(event), 'RETRIES_EXHAUSTED');
    expect(await replayCorporateDeadLetter({ pool: db.pool, handle }, id)).toEqual({ status: 'replayed', outcome: 'processed' });
    const after = await tableCounts(db.pool);
    expect(after).toMatchObject({ companies: 1, company_users: 3, outbox: 4, dead_letters: 1 });
    const [letter] = await listDeadLetters(db.pool);
    expect(letter).toMatchObject({ status: 'replayed', resolution: 'replayed: processed' });

    expect(await replayCorporateDeadLetter({ pool: db.pool, handle }, id)).toEqual({ status: 'not-parked', current: 'replayed' });
    // Even pushed through the path again, the registration is a duplicate.
    expect(await handle(message(JSON.stringify(event)))).toEqual({ status: 'duplicate' });
    expect(await tableCounts(db.pool)).toEqual(after);
  });

  it('leaves a still-invalid letter parked, and registers it once the conflict is resolved', async () => {
    const first = uniqueEvent();
    await handle(message(JSON.stringify(first)));
    const second = uniqueEvent();
    const email = String(first.data.users[0]?.email);
    second.data.users[0] = { name: 'Moved Over', email, role: 'customer_account_owner' };
    const outcome = await handle(message(JSON.stringify(second)));
    expect(outcome).toMatchObject({ status: 'invalid', code: 'EMAIL_TAKEN' });
    const id = await parked(JSON.stringify(second), 'EMAIL_TAKEN');

    expect(await replayCorporateDeadLetter({ pool: db.pool, handle }, id)).toMatchObject({ status: 'still-invalid', code: 'EMAIL_TAKEN' });
    expect((await listDeadLetters(db.pool))[0]?.status).toBe('parked');

    // An operator frees the address (the user moved companies), then replays.
    await db.pool.query('DELETE FROM company_users WHERE lower(email) = lower($1)', [email]);
    const results = await Promise.all([
      replayCorporateDeadLetter({ pool: db.pool, handle }, id),
      replayCorporateDeadLetter({ pool: db.pool, handle }, id),
    ]);
    // Whichever comes second either finds the letter already replayed or its registration already there.
    const outcomes = results.map((result) => (result.status === 'replayed' ? result.outcome : result.status)).sort();
    expect([['duplicate', 'processed'], ['not-parked', 'processed']]).toContainEqual(outcomes);
    expect((await listDeadLetters(db.pool))[0]?.status).toBe('replayed');
    const rows = await db.rows<{ n: string }>('SELECT count(*) AS n FROM companies WHERE id = $1', [second.subject]);
    expect(Number(rows[0]?.n)).toBe(1);
  });

  it('is available as one function per letter id for the dead-letters CLI', async () => {
    const replay = createCorporateReplay({ pool: db.pool, logger: testLogger(), newId: () => uuidv7(), subject: 'customer-registered' });
    const id = await parked(JSON.stringify(uniqueEvent()), 'RETRIES_EXHAUSTED');
    expect(await replay(id)).toEqual({ status: 'replayed', outcome: 'processed' });
    expect(await replay(id)).toEqual({ status: 'not-parked', current: 'replayed' });
  });

  it('refuses letters of other transports and unknown ids', async () => {
    const [kafka] = await park(db.pool, [{ transport: 'kafka', source: 'identity.user.events', payload: Buffer.from('{}'), reasonCode: 'MALFORMED_JSON', errorMessage: 'x' }]);
    expect(await replayCorporateDeadLetter({ pool: db.pool, handle }, kafka ?? '')).toMatchObject({ status: 'not-mine', transport: 'kafka' });
    expect(await replayCorporateDeadLetter({ pool: db.pool, handle }, '999999')).toEqual({ status: 'not-found' });
  });
});

describe('the dead-letters replay registry', () => {
  it('replays parked NATS letters with the corporate handler, and a second replay is skipped', async () => {
    const id = await parked(JSON.stringify(uniqueEvent()), 'RETRIES_EXHAUSTED');
    const handlers = replayHandlers(loadConfig({}), db.pool, testLogger());
    expect(await replayDeadLetters(db.pool, handlers, { ids: [id] })).toEqual([{ id, outcome: 'replayed', detail: 'replayed: processed' }]);
    expect(await tableCounts(db.pool)).toMatchObject({ companies: 1, company_users: 3, outbox: 4 });
    expect((await replayDeadLetters(db.pool, handlers, { ids: [id] }))[0]).toMatchObject({ id, outcome: 'skipped' });
    expect(await tableCounts(db.pool)).toMatchObject({ companies: 1, company_users: 3, outbox: 4 });
  });
});
