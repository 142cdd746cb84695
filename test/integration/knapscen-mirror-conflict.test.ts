/**
 * The knapscen mirror upserts by id, and MySQL's ON DUPLICATE KEY fires on any unique key: a registration whose user
 * e-mail belongs to another knapscen user (one not imported into this service) must fail its batch, not rewrite that
 * user. The batch is rolled back whole and retried (the checkpoint does not move past it). Real MariaDB and PostgreSQL.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MirrorConflictError, openKnapscenMirror, type KnapscenMirror } from '../../src/corporate-customers/knapscen-mirror.js';
import { createProjector, type Projector } from '../../src/platform/postgres/projector.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { registerCorporateOn, registration, uniqueEvent } from '../support/corporate.js';
import { startMariaDb, type MariaDbServer } from '../support/mariadb.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

const KNAPSCEN_COMPANY = '00000000-0000-4000-8000-00000000c0de';
const KNAPSCEN_USER = '00000000-0000-4000-8000-0000000000a1';

let maria: MariaDbServer;
let db: TestDatabase;
let knapscen: Awaited<ReturnType<MariaDbServer['createKnapscenDatabase']>>;
let mirror: KnapscenMirror;
let projector: Projector;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  maria = await startMariaDb();
  db = await createTestDatabase();
  knapscen = await maria.createKnapscenDatabase();
  const logger = testLogger({ alsoTo: { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) } });
  mirror = openKnapscenMirror(knapscen.url, logger);
  projector = createProjector({ pool: db.pool, projection: mirror.projection, wake: createWakeSignal(), logger, pollIntervalMs: 60_000 });
}, 120_000);
afterAll(async () => {
  await projector?.stop();
  await mirror?.close();
  await knapscen?.connection.end();
  await db?.drop();
  await maria?.close();
});

const mysqlRows = async (sql: string, values: unknown[] = []) => (await knapscen.connection.query<RowDataPacket[]>(sql, values))[0];

describe('a registration whose e-mail another knapscen user holds', () => {
  it('fails its mirror batch, rolled back whole and retried, leaving that user as it was', async () => {
    const event = uniqueEvent({ users: 2 });
    const taken = event.data.users[1]?.email ?? '';
    await knapscen.connection.query("INSERT INTO corporate_customers (id, name, subscription_tier) VALUES (?, 'Knapscen Own', 'basic')", [KNAPSCEN_COMPANY]);
    await knapscen.connection.query("INSERT INTO users (id, customer_id, role_id, name, email) SELECT ?, ?, id, 'Knapscen User', ? FROM user_roles WHERE role_name = 'generic_user'", [
      KNAPSCEN_USER,
      KNAPSCEN_COMPANY,
      taken,
    ]);
    // This service does not know knapscen's user: the registration itself is accepted.
    const result = await registerCorporateOn(db.pool)({ registration: registration(event) });
    expect(result.outcome).toBe('created');

    for (let attempt = 1; attempt <= 2; attempt += 1) {
      const failure = await projector.runBatch().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure, `attempt ${attempt}`).toBeInstanceOf(MirrorConflictError);
      expect((failure as Error).message).toBe(`1 e-mail(s) already belong to other knapscen users (ids ${KNAPSCEN_USER}); import them first`);
    }
    expect(await mysqlRows('SELECT id FROM corporate_customers ORDER BY id')).toEqual([{ id: KNAPSCEN_COMPANY }]);
    expect(await mysqlRows('SELECT id, customer_id, name FROM users')).toEqual([{ id: KNAPSCEN_USER, customer_id: KNAPSCEN_COMPANY, name: 'Knapscen User' }]);
    expect(logLines.filter((line) => line.msg === 'knapscen mirror batch failed; it is retried')).toHaveLength(2);
  });
});
