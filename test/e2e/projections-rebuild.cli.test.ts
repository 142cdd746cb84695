import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { customerProjection } from '../../src/individual-customers/customer-read-model.js';
import { createMongoCustomerReadModel, mongoProjectionName } from '../../src/individual-customers/customer-read-model.mongo.js';
import { createPostgresCustomerReadModel } from '../../src/individual-customers/customer-read-model.postgres.js';
import { createProjector, projectionLockKey } from '../../src/platform/postgres/projector.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { userRegistered } from '../support/events.js';
import { eventually } from '../support/eventually.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { registerCustomersOn, valid } from '../support/service.js';
import { runCli } from '../support/cli.js';
import { testLogger } from '../support/run-logs.js';

const run = (args: string[], env: Record<string, string>) => runCli(args, env);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

describe('customer-service projections rebuild', () => {
  it('prints help', async () => {
    const result = await run(['projections', 'rebuild', '--help'], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: customer-service projections rebuild/);
  });

  it('rebuilds the live read model into a new generation, identical to the old one, and reports it', async () => {
    const register = registerCustomersOn(db.pool);
    await register(Array.from({ length: 5 }, () => ({ event: valid(userRegistered()) })));
    const readModel = createPostgresCustomerReadModel(db.pool);
    const projector = createProjector({ pool: db.pool, projection: customerProjection(readModel), wake: createWakeSignal(), logger: testLogger() });
    const live = await eventually(async () => {
      await projector.runBatch();
      const documents = await readModel.list('active');
      return documents.length === 5 ? documents : undefined;
    });

    const result = await run(['projections', 'rebuild'], { DATABASE_URL: db.url, LOG_LEVEL: 'info' });
    expect(result.code).toBe(0);
    // Logs and the progress line on stderr; stdout is the JSON report alone.
    expect(result.stderr).toContain('rebuilding projection into a fresh generation');
    expect(result.stderr).toMatch(/^projections rebuild: 5 events, \d+\/s, [\d.]+ s, done$/m);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(result.stdout)).toEqual({ projection: 'customers', previousGeneration: 1, generation: 2, events: 5 });
    expect(await readModel.list('active')).toStrictEqual(live);
  });

  // Against the suite's FerretDB (or MONGODB_URL); absent only where neither exists, which global-setup reports.
  for (const mongodbUrl of [inject('mongodbUrl')].filter((url) => url !== '')) {
    it('rebuilds the MongoDB read model (FerretDB unless MONGODB_URL is set) into a new generation, identical to the old one', async () => {
      const database = `rebuild_${Math.random().toString(36).slice(2, 10)}`;
      const readModel = await createMongoCustomerReadModel({ url: mongodbUrl, database });
      try {
        await readModel.prepare();
        const projector = createProjector({ pool: db.pool, projection: customerProjection(readModel), wake: createWakeSignal(), logger: testLogger() });
        const live = await eventually(async () => {
          await projector.runBatch();
          const documents = await readModel.list('active');
          return documents.length === 5 ? documents : undefined;
        });

        const result = await run(['projections', 'rebuild'], { DATABASE_URL: db.url, MONGODB_URL: mongodbUrl, MONGODB_DATABASE: database, LOG_LEVEL: 'silent' });
        expect(result.code).toBe(0);
        // LOG_LEVEL=silent: stderr holds only the progress line.
        expect(result.stderr).toMatch(/^projections rebuild: 5 events, \d+\/s, [\d.]+ s, done\n$/);
        expect(JSON.parse(result.stdout)).toEqual({ projection: mongoProjectionName(database), previousGeneration: 1, generation: 2, events: 5 });
        expect(await readModel.list('active')).toStrictEqual(live);
      } finally {
        await readModel.close();
      }
    });
  }

  it('exits 1 (retry later) while another rebuild is running', async () => {
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1)', [projectionLockKey('customers:rebuild')]);
      const result = await run(['projections', 'rebuild'], { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('a rebuild of customers is already running');
    } finally {
      await other.end();
    }
  });
});
