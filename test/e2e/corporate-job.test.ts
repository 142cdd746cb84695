/**
 * Job mode (`customer-service register-corporate-customer`) as Sveltos runs it: the environment rendered from
 * `deploy/sveltos/configmap.yaml` plus the `knapscen-config` Secret's DB_* and NATS_*, against a real PostgreSQL and a
 * real nats-server with user/password auth and one stream per subject.
 */
import { readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CORPORATE_TABLES, fixtureEvent, messagesOn, tableCounts, uniqueEvent } from '../support/corporate.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { renderJobTemplate } from '../support/sveltos.js';
import { runCli } from '../support/cli.js';

const SUBJECTS = ['customer-registered', 'customer-saved', 'user-saved'];

let db: TestDatabase;
let nats: NatsServer;
let secret: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  nats = await startNatsServer({ user: 'knapscen', password: 'disco' });
  const client = await connect({ servers: nats.url, user: 'knapscen', pass: 'disco' });
  const jsm = await jetstreamManager(client);
  for (const subject of SUBJECTS) {
    const definition = JSON.parse(readFileSync(new URL(`../../deploy/sveltos/jetstream/stream-${subject}.json`, import.meta.url), 'utf8')) as object;
    await jsm.streams.add({ ...definition, name: subject, num_replicas: 1 });
  }
  await client.close();
  const url = new URL(db.url);
  // What the knapscen-config Secret provides.
  secret = {
    DB_HOST: url.hostname,
    DB_PORT: url.port,
    DB_USER: url.username,
    DB_PASSWORD: url.password,
    DB_NAME: url.pathname.slice(1),
    NATS_SERVER: nats.url,
    NATS_STREAM: 'customer-onboarding',
    NATS_SUBJECT: 'customer-saved',
    NATS_USER: 'knapscen',
    NATS_PASSWORD: 'disco',
    LOG_LEVEL: 'warn',
  };
});
afterAll(async () => {
  await nats?.close();
  await db?.drop();
});
beforeEach(async () => {
  await db.pool.query(`TRUNCATE ${CORPORATE_TABLES.join(', ')}`);
});

const runJob = (env: Record<string, string>) => runCli(['register-corporate-customer'], env);

/** The Job's environment for `event`: the Sveltos template's env, then the Secret (envFrom), env winning. */
const jobEnv = (event: unknown) => ({ ...secret, ...renderJobTemplate(event).env });

/** Messages on the two output streams, read with a connection of its own (the server restarts in one test). */
const published = async () => {
  const reader = await connect({ servers: nats.url, user: 'knapscen', pass: 'disco' });
  try {
    return { customerSaved: (await messagesOn(reader, 'customer-saved')).length, userSaved: (await messagesOn(reader, 'user-saved')).length };
  } finally {
    await reader.close();
  }
};

// Every test runs the Job once or more as a process (5–15 s each on a loaded 2-core machine).
describe('register-corporate-customer (Job mode)', { timeout: 120_000 }, () => {
  it('registers the fixture from the Sveltos environment and publishes its events; a rerun exits 0 and changes nothing', async () => {
    const before = await published();
    const first = await runJob(jobEnv(fixtureEvent()));
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ outcome: 'created', customerId: '550e8400-e29b-41d4-a716-446655440000', published: 4 });
    const counts = await tableCounts(db.pool);
    expect(counts).toMatchObject({ companies: 1, company_users: 3, event_store: 1, inbox: 1, outbox: 4 });
    expect(await published()).toEqual({ customerSaved: before.customerSaved + 1, userSaved: before.userSaved + 3 });

    const rerun = await runJob(jobEnv(fixtureEvent()));
    expect(rerun.code).toBe(0);
    expect(JSON.parse(rerun.stdout)).toEqual({ outcome: 'duplicate', customerId: '550e8400-e29b-41d4-a716-446655440000', published: 0 });
    expect(await tableCounts(db.pool)).toEqual(counts);
    expect(await published()).toEqual({ customerSaved: before.customerSaved + 1, userSaved: before.userSaved + 3 });
  });

  it('accepts the seed README environment (COMPANY_NAME, SUBSCRIPTION_TIER, USERS_JSON) too', async () => {
    const event = uniqueEvent({ users: 2 });
    const result = await runJob({
      ...secret,
      COMPANY_NAME: 'Seed Style Ltd',
      SUBSCRIPTION_TIER: 'groovy',
      USERS_JSON: JSON.stringify(event.data.users),
      EVENT_ID: event.id,
      EVENT_TIME: '2025-10-04T12:00:00Z',
    });
    expect(result.code).toBe(0);
    const rows = await db.rows<{ name: string; subscription_tier: string }>('SELECT name, subscription_tier FROM companies');
    expect(rows).toEqual([{ name: 'Seed Style Ltd', subscription_tier: 'groovy' }]);
  });

  it('with NATS down exits 1 after committing; the rerun publishes the missing events and duplicates nothing', async () => {
    const event = uniqueEvent();
    const before = await published();
    await nats.stop();
    let failed: Awaited<ReturnType<typeof runJob>>;
    try {
      failed = await runJob(jobEnv(event));
    } finally {
      await nats.start();
    }
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/registered .* but publishing to NATS failed .*rerun to publish/);
    const committed = await tableCounts(db.pool);
    expect(committed).toMatchObject({ companies: 1, company_users: 3, outbox: 4 });
    const [pending] = await db.rows<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL');
    expect(Number(pending?.n)).toBe(4);

    const rerun = await runJob(jobEnv(event));
    expect(rerun.code).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ outcome: 'duplicate', published: 4 });
    expect(await tableCounts(db.pool)).toEqual(committed);
    expect(await published()).toEqual({ customerSaved: before.customerSaved + 1, userSaved: before.userSaved + 3 });
  });

  const invalid: [string, string, (event: ReturnType<typeof uniqueEvent>) => Record<string, string>][] = [
    ['UNKNOWN_TIER', 'an unknown tier', (event) => jobEnv({ ...event, data: { ...event.data, subscription_tier: 'platinum' } })],
    ['UNKNOWN_ROLE', 'an unknown role', (event) => jobEnv({ ...event, data: { ...event.data, users: [{ name: 'A', email: 'a@example.com', role: 'owner' }] } })],
    ['FIELD_TOO_LONG', 'an over-long company name', (event) => jobEnv({ ...event, data: { ...event.data, name: 'x'.repeat(65) } })],
    ['INVALID_EMAIL', 'an invalid e-mail', (event) => jobEnv({ ...event, data: { ...event.data, users: [{ name: 'A', email: 'a@', role: 'admin_user' }] } })],
    ['DUPLICATE_EMAIL', 'a repeated e-mail', (event) => jobEnv({ ...event, data: { ...event.data, users: [{ name: 'A', email: 'a@example.com', role: 'admin_user' }, { name: 'B', email: 'A@example.com', role: 'admin_user' }] } })],
    ['MALFORMED_JSON', 'COMPANY_DATA that is not JSON', (event) => ({ ...jobEnv(event), COMPANY_DATA: '{"name": "TechCorp"' })],
    ['INVALID_TIMESTAMP', 'an EVENT_TIME that is not RFC 3339', (event) => ({ ...jobEnv(event), EVENT_TIME: 'yesterday' })],
  ];

  it.each(invalid)('exits 2 with %s on stderr for %s, writing nothing', async (code, _what, envOf) => {
    const result = await runJob(envOf(uniqueEvent()));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`rejected (${code})`);
    // The same outcome line as every other way in (transport job, the reason code).
    const outcome = result.stderr.split('\n').find((line) => line.includes('"outcome":"rejected"'));
    expect(JSON.parse(outcome ?? '{}')).toMatchObject({ outcome: 'rejected', transport: 'job', reason: code });
    expect(await tableCounts(db.pool)).toEqual({ companies: 0, company_users: 0, event_store: 0, inbox: 0, outbox: 0, dead_letters: 0 });
  });

  it('registers two companies for two Jobs with one EVENT_ID and different CUSTOMER_IDs; a rerun of either is a duplicate', async () => {
    const first = uniqueEvent();
    const second = { ...uniqueEvent(), id: first.id };
    const runs = [await runJob(jobEnv(first)), await runJob(jobEnv(second)), await runJob(jobEnv(second))];
    expect(runs.map((run) => [run.code, JSON.parse(run.stdout || '{}') as unknown])).toEqual([
      [0, { outcome: 'created', customerId: first.subject, published: 4 }],
      [0, { outcome: 'created', customerId: second.subject, published: 4 }],
      [0, { outcome: 'duplicate', customerId: second.subject, published: 0 }],
    ]);
    expect(await tableCounts(db.pool)).toMatchObject({ companies: 2, company_users: 6, inbox: 2 });
  }, 180_000);

  it('without CUSTOMER_ID (an older template) still tells two companies sharing an EVENT_ID apart, and a rerun apart from neither', async () => {
    const withoutSubject = (event: ReturnType<typeof uniqueEvent>) => {
      const env: Record<string, string> = jobEnv(event);
      delete env.CUSTOMER_ID;
      return env;
    };
    const first = uniqueEvent();
    const second = { ...uniqueEvent(), id: first.id };
    const runs = [await runJob(withoutSubject(first)), await runJob(withoutSubject(second)), await runJob(withoutSubject(first))];
    expect(runs.map((run) => run.code)).toEqual([0, 0, 0]);
    const outcomes = runs.map((run) => JSON.parse(run.stdout) as { outcome: string; customerId: string });
    expect(outcomes.map((outcome) => outcome.outcome)).toEqual(['created', 'created', 'duplicate']);
    expect(outcomes[0]?.customerId).not.toBe(outcomes[1]?.customerId);
    expect(outcomes[2]?.customerId).toBe(outcomes[0]?.customerId);
    expect(await tableCounts(db.pool)).toMatchObject({ companies: 2, company_users: 6 });
  }, 180_000);

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['what Go renders for a missing key', '<no value>'],
    ['over-long', `evt-${'x'.repeat(5000)}`],
    // An environment variable cannot hold NUL; escape sequences and newlines it can.
    ['holding control characters', 'evt\u001b[31m-customer\n-20251004'],
  ])('registers a valid company whose EVENT_ID is %s, and a rerun is a duplicate', async (_what, eventId) => {
    const event = uniqueEvent();
    const env: Record<string, string> = jobEnv(event);
    if (eventId === undefined) delete env.EVENT_ID;
    else env.EVENT_ID = eventId;
    const first = await runJob(env);
    expect(first.stderr).toBe('');
    expect([first.code, JSON.parse(first.stdout)]).toEqual([0, { outcome: 'created', customerId: event.subject, published: 4 }]);
    const rerun = await runJob(env);
    expect([rerun.code, JSON.parse(rerun.stdout)]).toEqual([0, { outcome: 'duplicate', customerId: event.subject, published: 0 }]);
    expect(await tableCounts(db.pool)).toMatchObject({ companies: 1, inbox: 1 });
  }, 180_000);

  it.each(['2025-10-04T12:00:00Z', '2025-10-04T12:00:00.5Z', '2025-10-04T12:00:00.123456789Z', '0001-01-01T00:00:00Z'])(
    'accepts EVENT_TIME %s, as Sveltos renders .CloudEvent.time',
    async (time) => {
      const event = { ...uniqueEvent(), time };
      const result = await runJob(jobEnv(event));
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    },
    120_000,
  );

  it('exits 2 with EMAIL_TAKEN when another company has the e-mail, writing nothing more', async () => {
    const first = uniqueEvent();
    expect((await runJob(jobEnv(first))).code).toBe(0);
    const counts = await tableCounts(db.pool);
    const second = uniqueEvent();
    second.data.users[0] = { ...second.data.users[0], name: 'Copy', email: first.data.users[0]?.email, role: 'customer_account_owner' };
    const result = await runJob(jobEnv(second));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('rejected (EMAIL_TAKEN)');
    expect(await tableCounts(db.pool)).toEqual(counts);
  });

  it.each([[['register-corporate-customer', '--help']], [['publish', 'customer-registered', '--help']]])('prints help for %j', async (args) => {
    const result = await runCli(args, {});
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^Usage: customer-service ${args.slice(0, -1).join(' ')}`));
  });

  it('needs streams only for what it publishes (customer-registered may be core NATS for Sveltos)', async () => {
    const client = await connect({ servers: nats.url, user: 'knapscen', pass: 'disco' });
    try {
      await (await jetstreamManager(client)).streams.delete('customer-registered');
      const result = await runJob(jobEnv(uniqueEvent()));
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('exits 2 naming the variable when the Secret lacks the database', async () => {
    const env: Record<string, string> = jobEnv(fixtureEvent());
    delete env.DB_HOST;
    const result = await runJob(env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('DB_HOST:');
  });
});
