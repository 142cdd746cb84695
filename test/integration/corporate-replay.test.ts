/** Replaying a parked NATS letter of the corporate flow goes through the live path, and replaying twice is harmless. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { customerRegisteredProcess } from '../../src/corporate-customers/customer-registered.nats.js';
import { loadConfig } from '../../src/config.js';
import { replayHandlers } from '../../src/dead-letters.cli.js';
import { replayDeadLetters } from '../../src/platform/dead-letter-replay.js';
import { listDeadLetters, park } from '../../src/platform/postgres/dead-letters.js';
import { CORPORATE_TABLES, registerCorporateOn, tableCounts, uniqueEvent } from '../support/corporate.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

let db: TestDatabase;
let process: ReturnType<typeof customerRegisteredProcess>;
let handlers: ReturnType<typeof replayHandlers>;

beforeAll(async () => {
  db = await createTestDatabase();
  process = customerRegisteredProcess(registerCorporateOn(db.pool));
  handlers = replayHandlers(loadConfig({}), db.pool, testLogger());
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

/** One live delivery through the flow's inbound `process`. */
const deliver = async (body: string) => {
  const [settled] = await process([{ transport: 'nats', source: 'customer-registered', offset: '8', headers: {}, payload: Buffer.from(body) }]);
  return settled;
};
const replay = (id: string) => replayDeadLetters(db.pool, handlers, { ids: [id] });

describe('replaying a corporate dead letter (dead-letters replay, the one path of every flow)', () => {
  it('registers a letter parked after its retries ran out, and a second replay does nothing', async () => {
    const event = uniqueEvent();
    const id = await parked(JSON.stringify(event), 'RETRIES_EXHAUSTED');
    expect(await replay(id)).toEqual([{ id, outcome: 'replayed', detail: 'replayed: processed' }]);
    const after = await tableCounts(db.pool);
    expect(after).toMatchObject({ companies: 1, company_users: 3, outbox: 4, dead_letters: 1 });
    const [letter] = await listDeadLetters(db.pool);
    expect(letter).toMatchObject({ status: 'replayed', resolution: 'replayed: processed' });

    expect(await replay(id)).toEqual([{ id, outcome: 'skipped', detail: 'already replayed: replayed: processed' }]);
    // Even pushed through the path again, the registration is a duplicate.
    expect(await deliver(JSON.stringify(event))).toEqual({ outcome: 'handled', resolution: 'replayed: duplicate' });
    expect(await tableCounts(db.pool)).toEqual(after);
  });

  it('leaves a still-invalid letter parked, and registers it once the conflict is resolved', async () => {
    const first = uniqueEvent();
    await deliver(JSON.stringify(first));
    const second = uniqueEvent();
    const email = String(first.data.users[0]?.email);
    second.data.users[0] = { name: 'Moved Over', email, role: 'customer_account_owner' };
    expect(await deliver(JSON.stringify(second))).toMatchObject({ outcome: 'rejected', reasonCode: 'EMAIL_TAKEN' });
    const id = await parked(JSON.stringify(second), 'EMAIL_TAKEN');

    expect(await replay(id)).toEqual([expect.objectContaining({ id, outcome: 'rejected', detail: expect.stringMatching(/^EMAIL_TAKEN: /) as unknown })]);
    expect((await listDeadLetters(db.pool))[0]?.status).toBe('parked');

    // An operator frees the address (the user moved companies), then replays, twice at once.
    await db.pool.query('DELETE FROM company_users WHERE lower(email) = lower($1)', [email]);
    const results = (await Promise.all([replay(id), replay(id)])).flat();
    // Whichever comes second either finds the letter already replayed or its registration already there.
    expect(results.filter((report) => report.outcome === 'replayed')).toHaveLength(1);
    expect(results.map((report) => report.outcome).sort()).toEqual(['replayed', 'skipped']);
    expect((await listDeadLetters(db.pool))[0]?.status).toBe('replayed');
    const rows = await db.rows<{ n: string }>('SELECT count(*) AS n FROM companies WHERE id = $1', [second.subject]);
    expect(Number(rows[0]?.n)).toBe(1);
  });

  it('skips unknown ids, and routes letters of another transport to their own flow', async () => {
    expect(await replay('999999')).toEqual([{ id: '999999', outcome: 'skipped', detail: 'no such dead letter' }]);
    const [other] = await park(db.pool, [{ transport: 'mqtt', source: 'elsewhere', payload: Buffer.from('{}'), reasonCode: 'MALFORMED_JSON', errorMessage: 'x' }]);
    expect(await replay(other ?? '')).toEqual([{ id: other, outcome: 'skipped', detail: 'no replay handler for transport "mqtt"' }]);
  });
});

describe('the dead-letters replay registry', () => {
  it('replays parked NATS letters with the corporate handler, and a second replay is skipped', async () => {
    const id = await parked(JSON.stringify(uniqueEvent()), 'RETRIES_EXHAUSTED');
    expect(await replayDeadLetters(db.pool, handlers, { ids: [id] })).toEqual([{ id, outcome: 'replayed', detail: 'replayed: processed' }]);
    expect(await tableCounts(db.pool)).toMatchObject({ companies: 1, company_users: 3, outbox: 4 });
    expect((await replayDeadLetters(db.pool, handlers, { ids: [id] }))[0]).toMatchObject({ id, outcome: 'skipped' });
    expect(await tableCounts(db.pool)).toMatchObject({ companies: 1, company_users: 3, outbox: 4 });
  });
});
