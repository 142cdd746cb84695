/**
 * The PostgreSQL read model written in the use cases' own transactions (issue 17): a registered or activated customer
 * is visible the moment its transaction commits, with exactly the document the projector would have written; the
 * projector passes those events by (no second write, checkpoint still moving); and a rebuild never leaves the active
 * generation without a committed customer, whatever commits while it runs.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { customerFromRegistered, customerProjection, type ReadModelInTransaction } from '../../src/individual-customers/customer-read-model.js';
import { createPostgresCustomerReadModel } from '../../src/individual-customers/customer-read-model.postgres.js';
import type { Customer } from '../../src/individual-customers/domain/customer.js';
import { parseUserActivated } from '../../src/individual-customers/user-activated.schema.js';
import { appendEventsStatement } from '../../src/platform/postgres/event-store.js';
import { advisoryLocksStatement } from '../../src/platform/postgres/load-decide-persist.js';
import { rebuildProjection } from '../../src/platform/postgres/projection-rebuild.js';
import { createProjector, type Projection } from '../../src/platform/postgres/projector.js';
import { runTogether } from '../../src/platform/postgres/statements.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { customerRegisteredEvent } from '../support/customer-events.js';
import { eventually } from '../support/eventually.js';
import { userActivated, userRegistered, type UserRegisteredOverrides } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';
import { activateCustomersOn, registerCustomersOn, valid } from '../support/service.js';

let db: TestDatabase;
const logger = testLogger();
const readModel = () => createPostgresCustomerReadModel(db.pool);
const inTransaction = (): ReadModelInTransaction => {
  const writer = readModel().inTransaction;
  if (writer === undefined) throw new Error('the PostgreSQL read model writes in the use cases’ transactions');
  return writer;
};

beforeAll(async () => {
  db = await createTestDatabase({ poolSize: 20 });
});
afterAll(() => db.drop());
beforeEach(async () => {
  await db.pool.query(
    'TRUNCATE customers, customer_preferences, customer_number_sequences, event_store, inbox, outbox, customer_documents, projection_checkpoints CASCADE',
  );
  await db.pool.query(`INSERT INTO projection_checkpoints (projection, generation, state) VALUES ('customers', 1, 'active')`);
});

/** Registers one customer per override, in one transaction, with the documents written in it unless `inTransaction` is false. */
async function register(overrides: readonly UserRegisteredOverrides[], options: { inTransaction?: boolean } = {}): Promise<Customer[]> {
  const use = registerCustomersOn(db.pool, options.inTransaction === false ? {} : { readModel: inTransaction() });
  const results = await use(overrides.map((override) => ({ event: valid(userRegistered(override)) })));
  return results.map((result) => {
    if (result.outcome !== 'created') throw new Error(`not created: ${result.outcome}`);
    return result.customer;
  });
}

async function activate(userIds: readonly string[], options: { inTransaction?: boolean; activatedAt?: string } = {}): Promise<void> {
  const use = activateCustomersOn(db.pool, options.inTransaction === false ? {} : { readModel: inTransaction() });
  const results = await use(
    userIds.map((userId) => {
      const parsed = parseUserActivated(userActivated(userId, options.activatedAt === undefined ? {} : { activatedAt: options.activatedAt }));
      if (!parsed.ok) throw parsed.error;
      return { event: parsed.value };
    }),
  );
  for (const result of results) if (result.outcome !== 'activated') throw new Error(`not activated: ${result.outcome}`);
}

const many = (count: number, override: (index: number) => UserRegisteredOverrides = () => ({})) => Array.from({ length: count }, (_, index) => override(index));

/** Every committed customer, from the command store. */
const committedCustomerIds = async () => (await db.rows<{ id: string }>('SELECT id FROM customers ORDER BY id')).map((row) => row.id);
const activeIds = async () => (await readModel().list('active')).map((item) => item.document.customerId as string);

const runProjectorToEnd = async (projection: Projection = customerProjection(readModel())) => {
  const projector = createProjector({ pool: db.pool, projection, wake: createWakeSignal(), logger, batchSize: 7 });
  const applied: string[] = [];
  for (;;) {
    const batch = await projector.runBatch();
    if (batch === undefined) throw new Error('the projection lock is held');
    applied.push(...batch.applied.map((event) => event.eventId));
    if (batch.read === 0) return applied;
  }
};

describe('a registration or activation with the PostgreSQL read model', () => {
  it('answers every lookup the moment the registration commits, with no projector running', async () => {
    const [customer] = await register([{ email: 'Visible.At@Commit.example' }]);
    if (customer === undefined) throw new Error('no customer');
    const model = readModel();
    expect(await model.find({ by: 'id', value: customer.customerId })).toStrictEqual(customer);
    expect(await model.find({ by: 'userId', value: customer.userId })).toStrictEqual(customer);
    expect(await model.find({ by: 'number', value: customer.customerNumber })).toStrictEqual(customer);
    expect(await model.find({ by: 'email', value: 'visible.at@commit.EXAMPLE' })).toStrictEqual(customer);
    expect(await model.list('active')).toStrictEqual([{ document: customer, version: 1 }]);
  });

  it('shows the customer ACTIVE (verified, lastActivityAt, _version 2) the moment the activation commits', async () => {
    const [customer] = await register([{}]);
    if (customer === undefined) throw new Error('no customer');
    await activate([customer.userId], { activatedAt: '2026-01-02T11:00:00.25Z' });
    // As the stored event records it (the domain formats the instant), which is what the projector reads.
    expect(await readModel().list('active')).toStrictEqual([
      {
        document: { ...customer, status: 'ACTIVE', email: { ...customer.email, verified: true }, lastActivityAt: '2026-01-02T11:00:00.250Z' },
        version: 2,
      },
    ]);
  });

  it('writes exactly the documents the projector makes of the same events (a rebuild reproduces them)', async () => {
    const customers = await register(
      many(24, (index) => ({
        marketingOptIn: index % 3 === 0,
        ...(index % 5 === 0 ? { email: 'Shared.Address@Example.com' } : {}),
        ...(index % 4 === 0 ? { timestamp: '2026-02-28T23:59:59.999Z' } : {}),
        firstName: index % 2 === 0 ? 'Zoë' : 'Jean-Luc',
      })),
    );
    await activate(customers.filter((_, index) => index % 3 === 1).map((customer) => customer.userId));
    const written = await readModel().list('active');
    expect(written).toHaveLength(24);
    expect(written.filter((item) => item.version === 2)).toHaveLength(8);

    // The live projector passes every event by; the rebuild then applies all 32 to a fresh generation itself (none is
    // beyond the active checkpoint, so none is carried over).
    expect(await runProjectorToEnd()).toEqual([]);
    const report = await rebuildProjection(db.pool, customerProjection(readModel()), { logger, batchSize: 5 });
    expect(report.events).toBe(32);
    expect(await readModel().list('active')).toStrictEqual(written);
  });
});

describe('the projector, for documents written in the transaction', () => {
  it('passes them by: no second write, no version going back, and its checkpoint moves to the last event', async () => {
    const customers = await register(many(12));
    await activate(customers.slice(0, 4).map((customer) => customer.userId));
    const before = await db.rows('SELECT customer_id, version, xmin::text AS xmin, document FROM customer_documents ORDER BY customer_id');

    const applied = await runProjectorToEnd();

    expect(applied).toEqual([]);
    expect(await db.rows('SELECT customer_id, version, xmin::text AS xmin, document FROM customer_documents ORDER BY customer_id')).toStrictEqual(before);
    const [last] = await db.rows<{ transaction_id: string; global_position: string }>(
      'SELECT transaction_id::text, global_position FROM event_store ORDER BY transaction_id DESC, global_position DESC LIMIT 1',
    );
    expect(await db.rows(`SELECT transaction_id::text, global_position FROM projection_checkpoints WHERE state = 'active'`)).toStrictEqual([last]);
  });

  it('applies what an instance without it committed, and an activation whose registration the read model lacks', async () => {
    const [old, fresh] = await register(many(2), { inTransaction: false });
    if (old === undefined || fresh === undefined) throw new Error('no customers');
    // Not in the read model yet, so the activation leaves the document to the projector rather than invent one.
    await activate([old.userId]);
    expect(await readModel().list('active')).toStrictEqual([]);

    const applied = await runProjectorToEnd();
    expect(applied).toHaveLength(3);
    const documents = new Map((await readModel().list('active')).map((item) => [item.document.customerId, item]));
    expect(documents.get(old.customerId)).toMatchObject({ version: 2, document: { status: 'ACTIVE', email: { verified: true } } });
    expect(documents.get(fresh.customerId)).toStrictEqual({ document: fresh, version: 1 });
  });
});

describe('a rebuild, with documents written in the transactions', () => {
  it('has every customer committed before it switches, though the active checkpoint is far behind them', async () => {
    // No projector runs: the active checkpoint stays at the start, and the documents exist only as the use cases wrote
    // them. The new generation reaches the active checkpoint after one batch and switches there; the other 20
    // customers are carried over.
    await register(many(30));
    const written = await readModel().list('active');
    const report = await rebuildProjection(db.pool, customerProjection(readModel()), { logger, batchSize: 10 });
    expect(report.events).toBe(10);
    expect(await readModel().list('active')).toStrictEqual(written);
    expect(await activeIds()).toStrictEqual(await committedCustomerIds());
    // The projector then passes the carried-over ones by.
    expect(await runProjectorToEnd()).toEqual([]);
  });

  it('holds registrations and activations back while a switch-over holds the writers’ lock', async () => {
    const [pending] = await register([{}]);
    if (pending === undefined) throw new Error('no customer');
    const switchOver = await db.pool.connect();
    let registered: Customer[] | undefined;
    try {
      await switchOver.query('BEGIN');
      await switchOver.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [inTransaction().lockKey]);
      const writes = Promise.all([register([{}]).then((customers) => (registered = customers)), activate([pending.userId])]);
      await eventually(
        async () =>
          (await db.rows(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND datname = current_database()`))
            .length === 2,
        'both use cases waiting for the lock',
      );
      expect(registered).toBeUndefined();
      await switchOver.query('COMMIT');
      await writes;
    } finally {
      switchOver.release();
    }
    expect(await activeIds()).toStrictEqual(await committedCustomerIds());
    expect((await readModel().find({ by: 'id', value: pending.customerId }))?.status).toBe('ACTIVE');
  });

  it('has a customer registered or activated while it switches over, with no projector run after', async () => {
    const [waiting] = await register([{}]);
    if (waiting === undefined) throw new Error('no customer');
    const real = customerProjection(readModel());
    let during: Promise<unknown> | undefined;
    const switching: Projection = {
      ...real,
      // Runs inside the switch-over transaction, after the catch-up and before the flip: the writers wait for it.
      async activate(next, previous) {
        during = Promise.all([register(many(3)), activate([waiting.userId])]);
        await real.activate(next, previous);
      },
    };
    await rebuildProjection(db.pool, switching, { logger, batchSize: 10 });
    await during;

    expect(await committedCustomerIds()).toHaveLength(4);
    expect(await activeIds()).toStrictEqual(await committedCustomerIds());
    expect((await readModel().find({ by: 'id', value: waiting.customerId }))?.status).toBe('ACTIVE');
  });

  it('waits for a writer in flight when it switches over, and then has its customer', async () => {
    // A writer's transaction as a use case runs it: the lock, then the event and its document in one statement.
    const event = customerRegisteredEvent();
    const writer = await db.pool.connect();
    try {
      await writer.query(`BEGIN; ${advisoryLocksStatement(writer, [], [inTransaction().lockKey])}`);
      await runTogether(writer, [appendEventsStatement([event]), inTransaction().upsertStatement([customerFromRegistered(event)])]);
      const rebuild = rebuildProjection(db.pool, customerProjection(readModel()), { logger, batchSize: 10 });
      await eventually(
        async () =>
          (await db.rows(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND datname = current_database()`)).length > 0,
        'the rebuild waiting for the writer',
      );
      await writer.query('COMMIT');
      await rebuild;
    } finally {
      writer.release();
    }
    expect(await activeIds()).toStrictEqual([event.streamId]);
  });

  it('ends with every committed customer active, as the projector makes them, while registrations and activations stream in', async () => {
    const seed = await register(many(40));
    let writing = true;
    const registered: Customer[] = [];
    const writer = (async () => {
      // Each round registers three and activates one customer of the seed and one registered a few rounds earlier.
      for (let round = 0; writing; round += 1) {
        registered.push(...(await register(many(3))));
        const toActivate = [seed[round], registered[registered.length - 6]].filter((customer): customer is Customer => customer !== undefined);
        if (round < seed.length && toActivate.length > 0) await activate(toActivate.map((customer) => customer.userId));
      }
    })();
    // A live projector too, as in the service.
    const live = createProjector({ pool: db.pool, projection: customerProjection(readModel()), wake: createWakeSignal(), logger, batchSize: 10, pollIntervalMs: 5 });
    live.start();
    try {
      await eventually(() => Promise.resolve(registered.length >= 30), 'registrations streaming');
      await rebuildProjection(db.pool, customerProjection(readModel()), { logger, batchSize: 10 });
      // The first check, while the writer still runs: nothing committed before it is missing.
      const committed = await committedCustomerIds();
      const active = new Set(await activeIds());
      expect(committed.filter((id) => !active.has(id))).toEqual([]);
    } finally {
      writing = false;
      await writer;
      await live.stop();
    }
    const written = await readModel().list('active');
    expect(written.map((item) => item.document.customerId as string)).toStrictEqual(await committedCustomerIds());
    // Rows only in generations that exist; and, once the live checkpoint is at the end, a second rebuild (every
    // document by the projector) makes the same documents.
    expect(await db.rows('SELECT DISTINCT generation FROM customer_documents WHERE generation NOT IN (SELECT generation FROM projection_checkpoints)')).toEqual([]);
    await runProjectorToEnd();
    const events = await db.rows<{ n: number }>('SELECT count(*)::int AS n FROM event_store');
    expect((await rebuildProjection(db.pool, customerProjection(readModel()), { logger, batchSize: 50 })).events).toBe(events[0]?.n);
    expect(await readModel().list('active')).toStrictEqual(written);
    // The command store agrees on who is active.
    const activeInStore = await db.rows<{ id: string }>(`SELECT id FROM customers WHERE status = 'ACTIVE' ORDER BY id`);
    expect(written.filter((item) => item.document.status === 'ACTIVE').map((item) => item.document.customerId as string)).toStrictEqual(
      activeInStore.map((row) => row.id),
    );
  });
});
