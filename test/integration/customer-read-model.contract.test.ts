/**
 * The contract every customer read model keeps, run against PostgreSQL and against a MongoDB wire-protocol server:
 * the suite's FerretDB (test/support/ferretdb.ts), or a real MongoDB when MONGODB_URL is set. MongoDB itself cannot
 * run on the build machines.
 */
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  activeGeneration,
  customerProjection,
  type CustomerReadModel,
  type VersionedCustomer,
} from '../../src/individual-customers/customer-read-model.js';
import { createMongoCustomerReadModel } from '../../src/individual-customers/customer-read-model.mongo.js';
import { createPostgresCustomerReadModel } from '../../src/individual-customers/customer-read-model.postgres.js';
import type { Customer } from '../../src/individual-customers/domain/customer.js';
import type { CustomerNumber } from '../../src/individual-customers/domain/customer-number.js';
import type { CustomerId, UserId } from '../../src/individual-customers/domain/ids.js';
import { appendEvents } from '../../src/platform/postgres/event-store.js';
import { rebuildProjection } from '../../src/platform/postgres/projection-rebuild.js';
import { createProjector, type Projection, type Projector } from '../../src/platform/postgres/projector.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { appendCustomers, customerRegisteredEvent } from '../support/customer-events.js';
import { v7 as uuidv7 } from 'uuid';
import type { NewEvent } from '../../src/platform/postgres/event-store.js';
import { eventually } from '../support/eventually.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

interface Adapter {
  readonly readModel: CustomerReadModel;
  cleanup(): Promise<void>;
}

let db: TestDatabase;
const logger = testLogger();

const adapters: [string, () => Promise<Adapter>][] = [
  ['PostgreSQL', () => Promise.resolve({ readModel: createPostgresCustomerReadModel(db.pool), cleanup: () => Promise.resolve() })],
];
const mongoUrl = inject('mongodbUrl');
if (mongoUrl !== '') {
  adapters.push([
    process.env.MONGODB_URL === undefined ? 'MongoDB (FerretDB)' : 'MongoDB',
    async () => {
      const database = `contract_${randomBytes(6).toString('hex')}`;
      const readModel = await createMongoCustomerReadModel({ url: mongoUrl, database });
      await readModel.prepare();
      return {
        readModel,
        cleanup: async () => {
          await readModel.close();
          const client = await MongoClient.connect(mongoUrl);
          await client.db(database).dropDatabase();
          await client.close();
        },
      };
    },
  ]);
}

// The CI log says which stores the contract ran against (CI=true makes a missing FerretDB an error in global-setup).
console.log(`read-model contract suite runs on: ${adapters.map(([name]) => name).join(', ')}`);

beforeAll(async () => {
  db = await createTestDatabase({ poolSize: 20 });
});
afterAll(() => db.drop());

describe.each(adapters)('customer read model on %s', (_name, open) => {
  let adapter: Adapter;
  let readModel: CustomerReadModel;
  const projectors: Projector[] = [];

  beforeAll(async () => {
    adapter = await open();
    readModel = adapter.readModel;
  });
  afterAll(async () => {
    await Promise.all(projectors.map((projector) => projector.stop()));
    await adapter.cleanup();
  });
  beforeEach(async () => {
    await Promise.all(projectors.splice(0).map((projector) => projector.stop()));
    // A fresh start: no events, and an empty active generation at the beginning of the store.
    await db.pool.query('TRUNCATE event_store');
    const generation = (await activeGeneration(db.pool, readModel.projectionName)) ?? 1;
    await readModel.resetGeneration({ generation, active: true, client: db.pool });
    await db.pool.query(`UPDATE projection_checkpoints SET transaction_id = '0', global_position = 0`);
    await readModel.prepare();
  });

  const startProjector = (projection: Projection = customerProjection(readModel)) => {
    const projector = createProjector({ pool: db.pool, projection, wake: createWakeSignal(), logger, pollIntervalMs: 20, batchSize: 50 });
    projector.start();
    projectors.push(projector);
    return projector;
  };
  const untilCount = (count: number) =>
    eventually(async () => {
      const documents = await readModel.list('active');
      return documents.length === count ? documents : undefined;
    }, { what: `${count} documents` });
  const activeTarget = async () => ({ generation: (await activeGeneration(db.pool, readModel.projectionName)) ?? 1, active: true, client: db.pool });

  it('serves a projected customer by id, user id, number and e-mail (any case), as the API document', async () => {
    const event = customerRegisteredEvent({ email: 'Jane.Doe@Example.com' });
    await appendEvents(db.pool, [event]);
    startProjector();
    await untilCount(1);
    const payload = event.payload as Record<string, string | boolean>;
    const expected: Customer = {
      customerId: payload.customerId as CustomerId,
      userId: payload.userId as UserId,
      customerNumber: payload.customerNumber as CustomerNumber,
      name: { firstName: 'Jane', lastName: payload.lastName as string, displayName: `Jane ${payload.lastName as string}` },
      email: { address: 'Jane.Doe@Example.com', verified: false },
      phone: null,
      status: 'PENDING_VERIFICATION',
      type: 'INDIVIDUAL',
      profile: { dateOfBirth: null, gender: null, preferredLocale: 'en-US', timezone: 'UTC', preferredCurrency: 'USD' },
      preferences: {
        communication: { email: true, sms: false, push: false, marketing: payload.marketingOptIn as boolean },
        privacy: { shareDataWithPartners: false, allowAnalytics: true },
      },
      addresses: [],
      segments: [],
      registeredAt: '2026-01-02T10:30:01Z',
      lastActivityAt: '2026-01-02T10:30:01Z',
      profileCompleteness: 25,
    };
    expect(await readModel.find({ by: 'id', value: expected.customerId })).toStrictEqual(expected);
    expect(await readModel.find({ by: 'userId', value: expected.userId })).toStrictEqual(expected);
    expect(await readModel.find({ by: 'number', value: expected.customerNumber })).toStrictEqual(expected);
    expect(await readModel.find({ by: 'email', value: 'jane.doe@example.com' })).toStrictEqual(expected);
    expect(await readModel.find({ by: 'email', value: 'JANE.DOE@EXAMPLE.COM' })).toStrictEqual(expected);
    expect(await readModel.find({ by: 'email', value: 'someone.else@example.com' })).toBeUndefined();
    expect(await readModel.find({ by: 'id', value: '01941234-5678-7abc-8ef0-000000000000' as CustomerId })).toBeUndefined();
  });

  it('applies CustomerActivated to the registered document: ACTIVE, verified, lastActivityAt, _version 2 (same batch or later, replay-safe)', async () => {
    const activatedOf = (registered: NewEvent, activatedAt: string): NewEvent => {
      const payload = registered.payload as { customerId: string; userId: string; customerNumber: string };
      return {
        ...registered,
        streamVersion: 2,
        eventId: uuidv7(),
        eventType: 'CustomerActivated',
        payload: { customerId: payload.customerId, userId: payload.userId, customerNumber: payload.customerNumber, status: 'ACTIVE', emailVerified: true, activatedAt },
        occurredAt: activatedAt,
      };
    };
    const together = customerRegisteredEvent();
    const apart = customerRegisteredEvent();
    await appendEvents(db.pool, [together, activatedOf(together, '2026-01-02T11:00:00.5Z'), apart]);
    const projector = startProjector();
    await untilCount(2);
    await appendEvents(db.pool, [activatedOf(apart, '2026-01-03T09:00:00Z')]);
    await eventually(async () => (await readModel.find({ by: 'id', value: apart.streamId as CustomerId }))?.status === 'ACTIVE', 'the later activation');
    const documents = new Map((await readModel.list('active')).map((item) => [item.document.customerId as string, item]));
    expect(documents.get(together.streamId)).toMatchObject({
      version: 2,
      document: { status: 'ACTIVE', email: { verified: true }, lastActivityAt: '2026-01-02T11:00:00.5Z', registeredAt: '2026-01-02T10:30:01Z' },
    });
    expect(documents.get(apart.streamId)).toMatchObject({ version: 2, document: { status: 'ACTIVE', email: { verified: true }, lastActivityAt: '2026-01-03T09:00:00Z' } });
    // A replay of every event (a crash before the checkpoint moved) leaves the documents as they are.
    await projector.stop();
    const before = await readModel.list('active');
    await db.pool.query(`UPDATE projection_checkpoints SET transaction_id = '0', global_position = 0 WHERE projection = $1`, [readModel.projectionName]);
    const again = startProjector();
    await eventually(async () => ((await again.runBatch())?.read ?? 1) === 0, 'the replay');
    expect(await readModel.list('active')).toStrictEqual(before);
  });

  it('answers an e-mail shared by several customers with the earliest registration', async () => {
    const later = customerRegisteredEvent({ email: 'shared@example.com', registeredAt: '2026-03-01T00:00:00Z' });
    const earliest = customerRegisteredEvent({ email: 'Shared@Example.com', registeredAt: '2026-01-15T08:00:00.5Z' });
    const middle = customerRegisteredEvent({ email: 'SHARED@example.com', registeredAt: '2026-01-15T08:00:01Z' });
    await appendEvents(db.pool, [later, middle, earliest]);
    startProjector();
    await untilCount(3);
    const found = await readModel.find({ by: 'email', value: 'shared@EXAMPLE.com' });
    expect(found?.customerId).toBe(earliest.streamId);
  });

  it('answers concurrent lookups each with its own customer, or none (PostgreSQL answers them with one statement)', async () => {
    const events = Array.from({ length: 12 }, (_, index) =>
      customerRegisteredEvent({ email: index < 3 ? 'together@example.com' : `one.${index}@example.com`, registeredAt: `2026-02-0${1 + (index % 3)}T00:00:00Z` }),
    );
    await appendEvents(db.pool, events);
    startProjector();
    await untilCount(events.length);
    const idOf = (event: NewEvent) => event.streamId as CustomerId;
    const userOf = (event: NewEvent) => (event.payload as { userId: string }).userId as UserId;
    const numberOf = (event: NewEvent) => (event.payload as { customerNumber: string }).customerNumber as CustomerNumber;
    const missing = '01941234-5678-7abc-8ef0-000000000000';
    // Issued in one turn of the event loop, so they share batches; mixed kinds, hits and misses, repeated keys.
    const asked = await Promise.all([
      ...events.map((event) => readModel.find({ by: 'id', value: idOf(event) })),
      readModel.find({ by: 'id', value: missing as CustomerId }),
      ...events.map((event) => readModel.find({ by: 'userId', value: userOf(event) })),
      ...[...events].reverse().map((event) => readModel.find({ by: 'number', value: numberOf(event) })),
      readModel.find({ by: 'email', value: 'TOGETHER@example.com' }),
      readModel.find({ by: 'email', value: 'nobody@example.com' }),
      ...events.slice(3).map((_, index) => readModel.find({ by: 'email', value: `One.${index + 3}@example.com` })),
      readModel.find({ by: 'id', value: idOf(events[5] as NewEvent) }),
    ]);
    const ids = asked.map((customer) => customer?.customerId);
    const expected = [
      ...events.map(idOf),
      undefined,
      ...events.map(idOf),
      ...[...events].reverse().map(idOf),
      idOf(events[0] as NewEvent), // the earliest of the three sharing the address (registered 02-01)
      undefined,
      ...events.slice(3).map(idOf),
      idOf(events[5] as NewEvent),
    ];
    expect(ids).toStrictEqual(expected);
  });

  it('moves a document only to a higher _version: older and equal versions change nothing', async () => {
    const target = await activeTarget();
    const [event] = await appendCustomers(db.pool, 1);
    const base = customerProjection(readModel);
    startProjector(base);
    const [projected] = await untilCount(1);
    if (projected === undefined || event === undefined) throw new Error('not projected');
    const v2: VersionedCustomer = { document: { ...projected.document, status: 'ACTIVE', lastActivityAt: '2026-02-01T00:00:00Z' }, version: 2 };
    await readModel.upsert([v2], target);
    expect(await readModel.list('active')).toStrictEqual([v2]);

    await readModel.upsert([projected], target); // version 1 again: a replay
    await readModel.upsert([{ document: { ...v2.document, status: 'PENDING_VERIFICATION' }, version: 2 }], target);
    expect(await readModel.list('active')).toStrictEqual([v2]);

    const v3: VersionedCustomer = { document: { ...v2.document, profileCompleteness: 50 }, version: 3 };
    await readModel.upsert([v3], target);
    expect(await readModel.list('active')).toStrictEqual([v3]);
  });

  it('refuses a second customer with a user id or number already taken, instead of skipping it as a replay', async () => {
    const target = await activeTarget();
    const [event] = await appendCustomers(db.pool, 1);
    startProjector();
    const [projected] = await untilCount(1);
    if (projected === undefined || event === undefined) throw new Error('not projected');
    const other = { ...projected.document, customerId: '01941234-5678-7abc-8ef0-00000000beef' as CustomerId };
    await expect(readModel.upsert([{ document: { ...other, customerNumber: 'ACME-202601-999999' as CustomerNumber }, version: 1 }], target)).rejects.toThrow();
    await expect(readModel.upsert([{ document: { ...other, userId: '01941234-5678-7abc-8ef0-00000000cafe' as UserId }, version: 1 }], target)).rejects.toThrow();
    expect(await readModel.list('active')).toStrictEqual([projected]);
  });

  describe('rebuild', () => {
    it('produces exactly the live read model, in a fresh generation, and drops the old one', async () => {
      await Promise.all(Array.from({ length: 5 }, () => appendCustomers(db.pool, 20)));
      startProjector();
      const live = await untilCount(100);
      const before = await activeGeneration(db.pool, readModel.projectionName);

      const report = await rebuildProjection(db.pool, customerProjection(readModel), { logger, batchSize: 30 });
      expect(report).toMatchObject({ projection: readModel.projectionName, previousGeneration: before, events: 100 });
      expect(await activeGeneration(db.pool, readModel.projectionName)).toBe(report.generation);
      expect(await readModel.list('active')).toStrictEqual(live);
      expect(await db.rows(`SELECT generation FROM projection_checkpoints WHERE projection = $1 AND state <> 'active'`, [readModel.projectionName])).toEqual([]);
    });

    it('keeps serving from the old generation while it builds, and misses nothing written meanwhile', async () => {
      const [known] = await appendCustomers(db.pool, 50);
      if (known === undefined) throw new Error('no event');
      startProjector();
      await untilCount(50);
      const before = await activeGeneration(db.pool, readModel.projectionName);

      let writing = true;
      const written: string[] = [];
      const writer = (async () => {
        // A steady stream, not a flood, and bounded: a rebuild catches up with the live projector only once it projects
        // faster than events arrive, and FerretDB 1.x on two busy cores projects a few hundred documents a second.
        while (writing && written.length < 90) {
          written.push(...(await appendCustomers(db.pool, 3)).map((event) => event.streamId));
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();
      const servedDuringRebuild: (string | undefined)[] = [];
      const report = await rebuildProjection(db.pool, customerProjection(readModel), {
        logger,
        batchSize: 10,
        onProgress: () => {
          void readModel.find({ by: 'id', value: known.streamId as CustomerId }).then((found) => servedDuringRebuild.push(found?.customerId));
        },
      });
      writing = false;
      await writer;

      expect(report.previousGeneration).toBe(before);
      expect(servedDuringRebuild.length).toBeGreaterThan(0);
      expect(servedDuringRebuild.every((id) => id === known.streamId)).toBe(true);
      const documents = await untilCount(50 + written.length);
      expect(documents.map((d) => d.document.customerId)).toEqual(expect.arrayContaining(written));
    });

    it('answers from the new generation right after the switch-over, on the connections that answered before it', async () => {
      const events = await appendCustomers(db.pool, 10);
      startProjector();
      await untilCount(10);
      const before = await activeGeneration(db.pool, readModel.projectionName);
      const keys = events.flatMap((event) => {
        const payload = event.payload as { customerId: CustomerId; email: string };
        return [{ by: 'id', value: payload.customerId } as const, { by: 'email', value: payload.email } as const];
      });
      const answers = async () => Promise.all(keys.map(async (key) => (await readModel.find(key))?.customerId));
      const expected = events.flatMap((event) => [event.streamId, event.streamId]);
      // One after the other, several times: the same pooled connections run each lookup statement again and again (on
      // PostgreSQL a prepared statement, planned once per connection).
      for (let round = 0; round < 8; round += 1) {
        for (const key of keys) await readModel.find(key);
      }
      expect(await answers()).toEqual(expected);

      const report = await rebuildProjection(db.pool, customerProjection(readModel), { logger, batchSize: 4 });
      // The old generation was dropped with the switch-over: every answer now comes from the new one.
      expect(report.previousGeneration).toBe(before);
      for (const key of keys) expect((await readModel.find(key))?.customerId).toBe(expected[keys.indexOf(key)]);
      expect(await answers()).toEqual(expected);
    });

    it('is safe to interrupt and rerun: the old generation serves until a rerun completes', async () => {
      await appendCustomers(db.pool, 40);
      startProjector();
      const live = await untilCount(40);
      const before = await activeGeneration(db.pool, readModel.projectionName);

      const real = customerProjection(readModel);
      let calls = 0;
      const interrupted: Projection = {
        ...real,
        async apply(events, target) {
          calls += 1;
          if (calls === 3) throw new Error('interrupted');
          await real.apply(events, target);
        },
      };
      await expect(rebuildProjection(db.pool, interrupted, { logger, batchSize: 10 })).rejects.toThrow('interrupted');
      expect(await activeGeneration(db.pool, readModel.projectionName)).toBe(before);
      expect(await readModel.list('active')).toStrictEqual(live);
      expect(await db.rows(`SELECT state FROM projection_checkpoints WHERE projection = $1 AND state = 'building'`, [readModel.projectionName])).toEqual([{ state: 'building' }]);

      const report = await rebuildProjection(db.pool, real, { logger, batchSize: 10 });
      expect(report.events).toBe(40);
      expect(await readModel.list('active')).toStrictEqual(live);
      expect(await db.rows(`SELECT state FROM projection_checkpoints WHERE projection = $1`, [readModel.projectionName])).toEqual([{ state: 'active' }]);
    });
  });
});
