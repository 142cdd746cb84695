/**
 * `customer-service import knapscen` against a real MariaDB holding companies and users the way knapscen's Jobs wrote
 * them (ids from MySQL's UUID(), roles by id): imported with their ids, idempotent, whole companies or none, silent.
 */
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCompany } from '../../src/corporate-customers/company-store.js';
import type { CompanyId } from '../../src/corporate-customers/domain/company.js';
import { createRegisterCorporateCustomer } from '../../src/corporate-customers/register-corporate-customer.js';
import { registration, tableCounts, uniqueEvent } from '../support/corporate.js';
import { startMariaDb, type MariaDbServer } from '../support/mariadb.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { runCli } from '../support/cli.js';

let maria: MariaDbServer;
let db: TestDatabase;
let knapscen: { url: string; connection: Connection };

beforeAll(async () => {
  maria = await startMariaDb();
  db = await createTestDatabase();
  knapscen = await maria.createKnapscenDatabase();
}, 120_000);
afterAll(async () => {
  await knapscen?.connection.end();
  await db?.drop();
  await maria?.close();
});

/** What knapscen's register-corporate-customer and register-users Jobs leave: a company row, then one row per user. */
async function knapscenCompany(n: number, users: { email: string; role: string }[]) {
  await knapscen.connection.query("INSERT INTO corporate_customers (name, subscription_tier) VALUES (?, 'groovy')", [`Legacy Corp ${n}`]);
  const [[company]] = await knapscen.connection.query<RowDataPacket[]>('SELECT id FROM corporate_customers WHERE name = ? LIMIT 1', [`Legacy Corp ${n}`]);
  for (const [index, user] of users.entries()) {
    await knapscen.connection.query(
      'INSERT INTO users (customer_id, role_id, name, email) SELECT ?, id, ?, ? FROM user_roles WHERE role_name = ?',
      [company?.id, `User ${index} of ${n}`, user.email, user.role],
    );
  }
  return String(company?.id);
}

describe('import knapscen', () => {
  it('copies every company with its users, skips (with the reason) one whose e-mail is already ours, and is idempotent', async () => {
    // A company of ours first, whose owner's e-mail a legacy knapscen company also uses.
    const ours = uniqueEvent();
    const register = createRegisterCorporateCustomer({ pool: db.pool, clock: () => new Date(), newId: () => uuidv7() });
    expect((await register({ registration: registration(ours) })).outcome).toBe('created');
    const taken = String(ours.data.users[0]?.email);
    const ids: string[] = [];
    for (let n = 0; n < 40; n += 1) {
      ids.push(await knapscenCompany(n, [{ email: `owner${n}@legacy.example`, role: 'customer_account_owner' }, { email: `dev${n}@legacy.example`, role: 'generic_user' }]));
    }
    const clash = await knapscenCompany(99, [{ email: taken.toUpperCase(), role: 'customer_account_owner' }]);
    const countsBefore = await tableCounts(db.pool);

    const env = { DATABASE_URL: db.url, KNAPSCEN_MYSQL_URL: knapscen.url, LOG_LEVEL: 'warn' };
    const first = await runCli(['import', 'knapscen'], env);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/^import knapscen: 41\/41 companies read, 40 imported, 0 already here, 1 skipped$/m);
    // The progress line every long command writes (issue 19), its last one here: 41 companies take less than its 1 s.
    expect(first.stderr).toMatch(/^import knapscen: 41\/41 companies \(100%\), \d+\/s, \d+\.\d s, done$/m);
    const summary = JSON.parse(first.stdout) as { companies: object; users: object; skipped: { id: string; reason: string }[] };
    expect(summary.companies).toEqual({ read: 41, imported: 40, present: 0, skipped: 1 });
    expect(summary.users).toEqual({ read: 81, imported: 80 });
    expect(summary.skipped).toEqual([{ id: clash, reason: expect.stringContaining('already belongs to user') as unknown }]);

    // Served like our own, and nothing announced: no events, no outbox rows.
    const company = await findCompany(db.pool, ids[7] as CompanyId);
    expect(company).toMatchObject({ customerId: ids[7], name: 'Legacy Corp 7', subscriptionTier: 'groovy' });
    expect(company?.users.map((user) => [user.email, user.role])).toEqual([
      ['owner7@legacy.example', 'customer_account_owner'],
      ['dev7@legacy.example', 'generic_user'],
    ]);
    const after = await tableCounts(db.pool);
    expect(after).toEqual({ ...countsBefore, companies: countsBefore.companies + 40, company_users: countsBefore.company_users + 80 });

    // E-mail uniqueness covers imported users.
    const copy = uniqueEvent();
    copy.data.users[1] = { name: 'Copy', email: 'DEV3@legacy.example', role: 'admin_user' };
    expect(await register({ registration: registration(copy) })).toMatchObject({ outcome: 'rejected', error: { code: 'EMAIL_TAKEN' } });

    const again = await runCli(['import', 'knapscen'], env);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { companies: object }).companies).toEqual({ read: 41, imported: 0, present: 40, skipped: 1 });
    expect(await tableCounts(db.pool)).toEqual(after);
  }, 180_000);
});
