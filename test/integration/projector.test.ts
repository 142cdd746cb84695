import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { customerProjection, type CustomerReadModel } from '../../src/individual-customers/customer-read-model.js';
import { createPostgresCustomerReadModel } from '../../src/individual-customers/customer-read-model.postgres.js';
import { createMetrics, type Metrics } from '../../src/platform/metrics.js';
import { appendEvents } from '../../src/platform/postgres/event-store.js';
import { createProjector, type Projection, type Projector } from '../../src/platform/postgres/projector.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { appendCustomers, customerRegisteredEvent } from '../support/customer-events.js';
import { eventually } from '../support/eventually.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { registerCustomersOn, valid } from '../support/service.js';
import { userRegistered } from '../support/events.js';
import { testLogger } from '../support/run-logs.js';

let db: TestDatabase;
let readModel: CustomerReadModel;
const logger = testLogger();
const running: Projector[] = [];

beforeAll(async () => {
  db = await createTestDatabase({ poolSize: 20 });
  readModel = createPostgresCustomerReadModel(db.pool);
});
afterAll(async () => {
  await Promise.all(running.map((projector) => projector.stop()));
  await db.drop();
});
beforeEach(async () => {
  await Promise.all(running.splice(0).map((projector) => projector.stop()));
  await db.pool.query('TRUNCATE event_store, customer_documents, customers, customer_preferences, inbox, outbox, customer_number_sequences');
  await db.pool.query(`UPDATE projection_checkpoints SET transaction_id = '0', global_position = 0`);
});

function projectorFor(projection: Projection = customerProjection(readModel), options: { metrics?: Metrics; pollIntervalMs?: number; batchSize?: number } = {}) {
  const wake = createWakeSignal();
  const projector = createProjector({
    pool: db.pool,
    projection,
    wake,
    logger,
    metrics: options.metrics ?? createMetrics({ defaultMetrics: false }),
    pollIntervalMs: options.pollIntervalMs ?? 100,
    batchSize: options.batchSize ?? 500,
  });
  return { projector, wake };
}

/** Runs batches until the read model holds `count` documents (other test files' transactions may hold xmin back). */
async function projectUntilCount(projector: Projector, count: number) {
  return eventually(async () => {
    await projector.runBatch();
    const documents = await readModel.list('active');
    return documents.length === count ? documents : undefined;
  }, { what: `${count} documents` });
}

async function checkpoint() {
  const [row] = await db.rows<{ transaction_id: string; global_position: string }>(
    `SELECT transaction_id::text, global_position FROM projection_checkpoints WHERE projection = 'customers' AND state = 'active'`,
  );
  return row;
}

const idsOf = (documents: readonly { document: { customerId: string } }[]) => documents.map((d) => d.document.customerId).sort();

describe('projector: commit order', () => {
  it('loses nothing when a later position commits first (and shows a naive position reader would lose it)', async () => {
    const { projector } = projectorFor();
    const a = new pg.Client({ connectionString: db.url });
    const b = new pg.Client({ connectionString: db.url });
    await Promise.all([a.connect(), b.connect()]);
    try {
      const eventA = customerRegisteredEvent();
      const eventB = customerRegisteredEvent();
      await a.query('BEGIN');
      const [positionA] = await appendEvents(a, [eventA]);
      await b.query('BEGIN');
      const [positionB] = await appendEvents(b, [eventB]);
      await b.query('COMMIT');
      // The interleaving is real: B holds the later position and is committed while A is still open.
      expect(BigInt(positionB ?? 0)).toBeGreaterThan(BigInt(positionA ?? 0));

      // A naive reader sees B now and would move its checkpoint past A's position.
      const naive = await db.rows<{ global_position: string }>('SELECT global_position FROM event_store WHERE global_position > 0 ORDER BY global_position');
      expect(naive.map((row) => row.global_position)).toEqual([positionB]);
      const naiveCheckpoint = naive.at(-1)?.global_position;

      // The projector does not read past a transaction still in flight: B waits for A.
      const whileAOpen = await projector.runBatch();
      expect(whileAOpen?.read).toBe(0);
      expect(await readModel.list('active')).toEqual([]);

      await a.query('COMMIT');
      const documents = await projectUntilCount(projector, 2);
      expect(idsOf(documents)).toEqual([eventA.streamId, eventB.streamId].sort());

      // After A commits, the naive reader's next read finds nothing: A would have been lost forever.
      const naiveAfter = await db.rows('SELECT global_position FROM event_store WHERE global_position > $1', [naiveCheckpoint]);
      expect(naiveAfter).toEqual([]);
    } finally {
      await a.query('ROLLBACK').catch(() => undefined);
      await Promise.all([a.end(), b.end()]);
    }
  });

  it('orders transaction ids as numbers, not text, across a power of ten (99 before 100)', async () => {
    // Explicit ids of long-finished transactions; as text '100' < '99', and a text order would skip the first event.
    const first = customerRegisteredEvent();
    const second = customerRegisteredEvent();
    for (const [event, xid] of [[first, '99'], [second, '100']] as const) {
      await db.pool.query(
        `INSERT INTO event_store (transaction_id, stream_type, stream_id, stream_version, event_id, event_type, event_version,
                                  payload, metadata, occurred_at)
         VALUES ($1::xid8, $2, $3, 1, $4, $5, '1.0', $6, '{}', now())`,
        [xid, event.streamType, event.streamId, event.eventId, event.eventType, JSON.stringify(event.payload)],
      );
    }
    const { projector } = projectorFor(customerProjection(readModel), { batchSize: 1 });
    const documents = await projectUntilCount(projector, 2);
    expect(idsOf(documents)).toEqual([first.streamId, second.streamId].sort());
  });

  it('applies every event exactly once while many transactions commit concurrently', async () => {
    const { projector } = projectorFor(customerProjection(readModel), { batchSize: 7 });
    projector.start();
    running.push(projector);
    const appended = (await Promise.all(Array.from({ length: 20 }, () => appendCustomers(db.pool, 5)))).flat();
    const documents = await eventually(async () => {
      const list = await readModel.list('active');
      return list.length === appended.length ? list : undefined;
    });
    expect(idsOf(documents)).toEqual(appended.map((event) => event.streamId).sort());
  });
});

describe('projector: idempotence', () => {
  it('replaying every event a second time changes nothing', async () => {
    await appendCustomers(db.pool, 30);
    const { projector } = projectorFor();
    const first = await projectUntilCount(projector, 30);
    await db.pool.query(`UPDATE projection_checkpoints SET transaction_id = '0', global_position = 0 WHERE state = 'active'`);
    await eventually(async () => ((await projector.runBatch())?.read === 30 ? true : undefined));
    expect(await readModel.list('active')).toStrictEqual(first);
  });
});

describe('projector: what bad input gets', () => {
  it('skips and counts an event type it does not know, and moves past it', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const { projector } = projectorFor(customerProjection(readModel), { metrics });
    const known = customerRegisteredEvent();
    await appendEvents(db.pool, [customerRegisteredEvent({ eventType: 'CustomerEmailVerified' }), known]);
    const documents = await projectUntilCount(projector, 1);
    expect(idsOf(documents)).toEqual([known.streamId]);
    const skipped = await metrics.readModelSkippedEvents.get();
    expect(skipped.values).toEqual([{ value: 1, labels: { projection: 'customers', event_type: 'CustomerEmailVerified' } }]);
    const [last] = await db.rows<{ position: string }>('SELECT max(global_position)::text AS position FROM event_store');
    expect((await checkpoint())?.global_position).toBe(last?.position);
  });

  it('retries a failing read-model write with backoff, never moving the checkpoint past it, and reports the lag', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const real = customerProjection(readModel);
    let failing = true;
    const flaky: Projection = {
      ...real,
      apply: (events, target) => (failing ? Promise.reject(new Error('read model unavailable')) : real.apply(events, target)),
    };
    const { projector } = projectorFor(flaky, { metrics });
    await appendCustomers(db.pool, 3);
    projector.start();
    running.push(projector);
    await eventually(async () => ((await metrics.readModelWriteFailures.get()).values[0]?.value ?? 0) >= 3 ? true : undefined);
    expect(await checkpoint()).toEqual({ transaction_id: '0', global_position: '0' });
    expect(await readModel.list('active')).toEqual([]);
    // The lag says how far behind the stuck projection is, in events and in seconds.
    const lagEvents = async () => (await metrics.readModelLagEvents.get()).values[0]?.value;
    await eventually(async () => ((await lagEvents()) === 3 ? true : undefined), { what: 'a lag of 3 events' });
    expect((await metrics.readModelLagSeconds.get()).values[0]?.value).toBeGreaterThan(0);
    failing = false;
    await eventually(async () => ((await readModel.list('active')).length === 3 ? true : undefined));
    await eventually(async () => ((await lagEvents()) === 0 ? true : undefined), { what: 'no lag' });
    expect((await metrics.readModelLagSeconds.get()).values[0]?.value).toBe(0);
  });
});

describe('projector: crashes and restarts', () => {
  it('converges after being killed mid-batch, with half the batch already written outside its transaction', async () => {
    const appended = await appendCustomers(db.pool, 20);
    const real = customerProjection(readModel);
    // Like MongoDB, these writes do not roll back with the batch; then the projector's session is killed.
    const dying: Projection = {
      ...real,
      async apply(events, target) {
        const { rows } = await target.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await real.apply(events.slice(0, events.length / 2), { ...target, client: db.pool });
        await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
        await real.apply(events.slice(events.length / 2), target);
      },
    };
    const killed = projectorFor(dying).projector;
    await eventually(async () => {
      const outcome = await killed.runBatch().then(
        () => 'survived',
        () => 'killed',
      );
      return (await readModel.list('active')).length > 0 ? outcome : undefined;
    });
    expect((await readModel.list('active')).length).toBe(10);
    expect(await checkpoint()).toEqual({ transaction_id: '0', global_position: '0' });

    const restarted = projectorFor().projector;
    const documents = await projectUntilCount(restarted, 20);
    expect(idsOf(documents)).toEqual(appended.map((event) => event.streamId).sort());
    expect(documents.every((document) => document.version === 1)).toBe(true);
  });

  it('catches up after downtime: what committed while it was stopped is projected on start', async () => {
    const { projector } = projectorFor();
    projector.start();
    await appendCustomers(db.pool, 5);
    await eventually(async () => ((await readModel.list('active')).length === 5 ? true : undefined));
    await projector.stop();
    await appendCustomers(db.pool, 5);
    expect((await readModel.list('active')).length).toBe(5);
    const next = projectorFor().projector;
    next.start();
    running.push(next);
    await eventually(async () => ((await readModel.list('active')).length === 10 ? true : undefined));
  });

  it('runs safely on several instances at once: every document once, checkpoint at the end', async () => {
    const instances = [projectorFor(customerProjection(readModel), { batchSize: 5 }), projectorFor(customerProjection(readModel), { batchSize: 5 })];
    for (const { projector } of instances) {
      projector.start();
      running.push(projector);
    }
    const appended = (await Promise.all(Array.from({ length: 10 }, () => appendCustomers(db.pool, 10)))).flat();
    const documents = await eventually(async () => {
      const list = await readModel.list('active');
      return list.length === appended.length ? list : undefined;
    });
    expect(idsOf(documents)).toEqual(appended.map((event) => event.streamId).sort());
  });
});

describe('projector: waking', () => {
  it('is woken by a local commit, long before its poll timer', async () => {
    const { projector, wake } = projectorFor(customerProjection(readModel), { pollIntervalMs: 60_000 });
    const register = registerCustomersOn(db.pool, { onCommitted: () => wake.notify() });
    projector.start();
    running.push(projector);
    // With a 60 s poll timer, only the commit's wake-up can make the customer visible within the deadline.
    const started = Date.now();
    const [result] = await register([{ event: valid(userRegistered()) }]);
    expect(result?.outcome).toBe('created');
    await eventually(async () => ((await readModel.list('active')).length === 1 ? true : undefined), { timeoutMs: 20_000 });
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('finds commits of other instances by polling', async () => {
    const { projector } = projectorFor(customerProjection(readModel), { pollIntervalMs: 50 });
    projector.start();
    running.push(projector);
    await appendCustomers(db.pool, 2); // nobody notifies this projector
    await eventually(async () => ((await readModel.list('active')).length === 2 ? true : undefined));
  });
});
