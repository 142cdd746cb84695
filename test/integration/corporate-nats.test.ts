/**
 * The corporate flow end to end over a real nats-server with JetStream: customer-registered in, company and users in
 * PostgreSQL, customer-saved and user-saved out on the stream.
 */
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { v4 as uuidv4 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConfig } from '../../src/config.js';
import { startCorporateNats, type CorporateNats } from '../../src/corporate-customers/corporate-nats.js';
import { createRegisterCorporateCustomer } from '../../src/corporate-customers/register-corporate-customer.js';
import { createWakeSignal, fanOut } from '../../src/platform/wake-signal.js';
import { v7 as uuidv7 } from 'uuid';
import {
  customerRegisteredFixtureText,
  messagesOn,
  natsConfigFor,
  tableCounts,
  uniqueEvent,
  type CustomerRegisteredEvent,
} from '../support/corporate.js';
import { eventually } from '../support/eventually.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';
import { createTestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

let server: NatsServer;
let client: NatsConnection;
const logger = testLogger();
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

beforeAll(async () => {
  server = await startNatsServer();
  client = await connect({ servers: server.url });
});
afterAll(async () => {
  await client?.close();
  await server?.close();
});

/** One isolated set-up: its own database, subjects, stream and consumer, and `instances` running services. */
async function setUp(name: string, options: { instances?: number; env?: Record<string, string> } = {}) {
  const db = await createTestDatabase({ poolSize: 20 });
  const config: NatsConfig = natsConfigFor(server.url, {
    NATS_STREAM: `${name}-onboarding`,
    NATS_CUSTOMER_REGISTERED_SUBJECT: `${name}-customer-registered`,
    NATS_SUBJECT: `${name}-customer-saved`,
    NATS_USER_SAVED_SUBJECT: `${name}-user-saved`,
    ...options.env,
  });
  const instances: CorporateNats[] = [];
  for (let i = 0; i < (options.instances ?? 1); i += 1) {
    const wake = { customerSaved: createWakeSignal(), userSaved: createWakeSignal() };
    const register = createRegisterCorporateCustomer({
      pool: db.pool,
      clock: () => new Date(),
      newId: () => uuidv7(),
      onCommitted: fanOut(wake.customerSaved, wake.userSaved),
    });
    instances.push(await startCorporateNats({ config, pool: db.pool, register, logger, wake, name: `${name}-${i}` }));
  }
  const js = jetstream(client);
  const jsm = await jetstreamManager(client);
  const publish = (body: string | Uint8Array, msgID: string = uuidv4(), headers?: Record<string, string>) => {
    const h = natsHeaders();
    for (const [key, value] of Object.entries(headers ?? {})) h.set(key, value);
    return js.publish(config.subjects.customerRegistered, body, { msgID, headers: h });
  };
  /** Every input settled (acked) and every outbox row published. */
  const settled = () =>
    eventually(async () => {
      const stream = await jsm.streams.find(config.subjects.customerRegistered);
      const info = await jsm.consumers.info(stream, config.consumer);
      const [pending] = await db.rows<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL');
      return info.num_pending === 0 && info.num_ack_pending === 0 && Number(pending?.n) === 0;
    }, `${name}: consumer drained and outbox published`);
  const stop = async () => {
    for (const instance of instances) await instance.stop();
    await db.drop();
  };
  return { db, config, publish, settled, stop, instances };
}

describe('customer-registered over JetStream', () => {
  let env: Awaited<ReturnType<typeof setUp>>;
  beforeAll(async () => {
    env = await setUp('flow');
  });
  afterAll(() => env.stop());

  it('turns the knapscen fixture into the company, its 3 users, one customer-saved and three user-saved', async () => {
    await env.publish(customerRegisteredFixtureText, 'evt-customer-20251004120000');
    await env.settled();
    expect(await tableCounts(env.db.pool)).toMatchObject({ companies: 1, company_users: 3, inbox: 1, outbox: 4, dead_letters: 0 });

    const [saved, ...extra] = await messagesOn(client, env.config.subjects.customerSaved);
    expect(extra).toEqual([]);
    if (saved === undefined) throw new Error('no customer-saved');
    const users = await env.db.rows<{ id: string }>('SELECT id FROM company_users ORDER BY position');
    expect(saved.json).toStrictEqual({
      specversion: '1.0',
      type: 'disco.knapscen.customer.saved',
      source: 'knapscen.disco',
      subject: '550e8400-e29b-41d4-a716-446655440000',
      id: expect.stringMatching(UUID_V7) as unknown,
      time: expect.stringMatching(RFC3339_UTC) as unknown,
      datacontenttype: 'application/json',
      data: {
        customer_id: '550e8400-e29b-41d4-a716-446655440000',
        name: 'TechCorp Solutions',
        subscription_tier: 'far-out',
        users: [
          { user_id: users[0]?.id, name: 'John Smith', email: 'john.smith@techcorp.com', role: 'customer_account_owner' },
          { user_id: users[1]?.id, name: 'Jane Doe', email: 'jane.doe@techcorp.com', role: 'admin_user' },
          { user_id: users[2]?.id, name: 'Jim Beam', email: 'jim.beam@techcorp.com', role: 'generic_user' },
        ],
      },
    });
    expect(saved.headers['Nats-Msg-Id']).toBe(saved.json.id);

    const usersSaved = await messagesOn(client, env.config.subjects.userSaved);
    expect(usersSaved).toHaveLength(3);
    expect(usersSaved.map((message) => message.json)).toStrictEqual(
      [
        ['John Smith', 'john.smith@techcorp.com', 'customer_account_owner'],
        ['Jane Doe', 'jane.doe@techcorp.com', 'admin_user'],
        ['Jim Beam', 'jim.beam@techcorp.com', 'generic_user'],
      ].map(([userName, email, role], index) => ({
        specversion: '1.0',
        type: 'disco.knapscen.user.saved',
        source: 'knapscen.disco',
        subject: `user-${users[index]?.id}`,
        id: expect.stringMatching(UUID_V7) as unknown,
        time: expect.stringMatching(RFC3339_UTC) as unknown,
        datacontenttype: 'application/json',
        data: {
          customer_id: '550e8400-e29b-41d4-a716-446655440000',
          customer_name: 'TechCorp Solutions',
          user_id: users[index]?.id,
          user_name: userName,
          user_email: email,
          user_role: role,
          email_template: 'welcome',
        },
      })),
    );
    for (const message of usersSaved) expect(message.headers['Nats-Msg-Id']).toBe(message.json.id);
    expect(new Set([saved.json.id, ...usersSaved.map((message) => message.json.id)]).size).toBe(4);
  });

  it('creates nothing more when the same event arrives again, or is re-sent with the same subject', async () => {
    const before = await tableCounts(env.db.pool);
    // The same bytes stored again (a publisher retrying past the duplicate window) is a redelivery to the consumer.
    await env.publish(customerRegisteredFixtureText);
    const resent = JSON.parse(customerRegisteredFixtureText) as CustomerRegisteredEvent;
    resent.id = 'evt-customer-20251004120500';
    await env.publish(JSON.stringify(resent));
    await env.settled();
    expect(await tableCounts(env.db.pool)).toEqual(before);
    expect(await messagesOn(client, env.config.subjects.customerSaved)).toHaveLength(1);
    expect(await messagesOn(client, env.config.subjects.userSaved)).toHaveLength(3);
  });

  it('accepts a binary-mode CloudEvent (ce-* headers, data as the body)', async () => {
    const event = uniqueEvent({ users: 1 });
    await env.publish(JSON.stringify(event.data), uuidv4(), {
      'ce-specversion': '1.0',
      'ce-type': event.type,
      'ce-source': event.source,
      'ce-id': event.id,
      'ce-subject': event.subject ?? '',
      'content-type': 'application/json',
    });
    await env.settled();
    const rows = await env.db.rows<{ name: string }>('SELECT name FROM companies WHERE id = $1', [event.subject]);
    expect(rows).toEqual([{ name: 'TechCorp Solutions' }]);
  });

  it('acknowledges an event type it does not handle, writing and parking nothing', async () => {
    const before = await tableCounts(env.db.pool);
    const other = { ...uniqueEvent(), type: 'disco.knapscen.something.else' };
    await env.publish(JSON.stringify(other));
    await env.settled();
    expect(await tableCounts(env.db.pool)).toEqual(before);
  });
});

describe('bad input on customer-registered', () => {
  let env: Awaited<ReturnType<typeof setUp>>;
  let taken: string;
  beforeAll(async () => {
    env = await setUp('bad');
    const first = uniqueEvent();
    taken = String(first.data.users[0]?.email);
    await env.publish(JSON.stringify(first));
    await env.settled();
  });
  afterAll(() => env.stop());

  const user = (overrides: Record<string, unknown> = {}) => ({ name: 'Ann Other', email: `${uuidv4()}@example.com`, role: 'customer_account_owner', ...overrides });
  const cases: [string, string, () => string, string?][] = [
    ['MALFORMED_JSON', 'a body that is not JSON', () => '{"specversion": "1.0", '],
    ['INVALID_CLOUDEVENT', 'JSON that is not a CloudEvent', () => JSON.stringify({ name: 'TechCorp', users: [] })],
    ['UNKNOWN_TIER', 'an unknown tier', () => JSON.stringify({ ...uniqueEvent(), data: { name: 'A', subscription_tier: 'gold', users: [user()] } })],
    ['UNKNOWN_ROLE', 'an unknown role', () => JSON.stringify({ ...uniqueEvent(), data: { name: 'A', subscription_tier: 'basic', users: [user({ role: 'root' })] } })],
    ['MISSING_FIELD', 'a missing name', () => JSON.stringify({ ...uniqueEvent(), data: { subscription_tier: 'basic', users: [user()] } })],
    ['FIELD_EMPTY', 'an empty user name', () => JSON.stringify({ ...uniqueEvent(), data: { name: 'A', subscription_tier: 'basic', users: [user({ name: '' })] } })],
    ['FIELD_TOO_LONG', 'an over-long name', () => JSON.stringify({ ...uniqueEvent(), data: { name: 'x'.repeat(65), subscription_tier: 'basic', users: [user()] } })],
    ['INVALID_EMAIL', 'an invalid e-mail', () => JSON.stringify({ ...uniqueEvent(), data: { name: 'A', subscription_tier: 'basic', users: [user({ email: 'no-at-sign' })] } })],
    ['DUPLICATE_EMAIL', 'a repeated e-mail', () => JSON.stringify({ ...uniqueEvent(), data: { name: 'A', subscription_tier: 'basic', users: [user({ email: 'same@example.com' }), user({ email: 'SAME@example.com' })] } })],
    ['EMAIL_TAKEN', 'an e-mail of another company', () => JSON.stringify({ ...uniqueEvent(), data: { name: 'A', subscription_tier: 'basic', users: [user(), user({ email: taken })] } })],
    // Issue #11: inputs that used to be NAKed until max_deliver and lost, or answered by PostgreSQL with an error.
    ['MISSING_ACCOUNT_OWNER', 'no account owner', () => JSON.stringify({ ...uniqueEvent(), data: { name: 'A', subscription_tier: 'basic', users: [user({ role: 'admin_user' })] } })],
    ['INVALID_CHARACTERS', 'a NUL in a user name', () => JSON.stringify({ ...uniqueEvent(), data: { name: 'A', subscription_tier: 'basic', users: [user({ name: 'A\u0000B' })] } })],
    ['FIELD_TOO_LONG', 'a CloudEvent id of 20 KB', () => JSON.stringify({ ...uniqueEvent(), id: randomBytes(10_000).toString('hex') })],
    ['MALFORMED_JSON', 'broken JSON with a Nats-Msg-Id of 20 KB', () => '{"id": ', randomBytes(10_000).toString('hex')],
  ];

  it('parks each at once with its reason code, acknowledges it, and writes nothing else', async () => {
    const before = await tableCounts(env.db.pool);
    const sent = cases.map(([code, , body, msgID]) => ({ code, body: body(), msgID }));
    for (const { body, msgID } of sent) await env.publish(body, msgID);
    await env.settled();
    const letters = await env.db.rows<{ reason_code: string; payload: Buffer; transport: string; source: string; attempts: number; status: string }>(
      'SELECT reason_code, payload, transport, source, attempts, status FROM dead_letters ORDER BY id',
    );
    // Messages of one fetch are settled concurrently, so letters are matched to inputs by their bytes.
    expect(letters).toHaveLength(sent.length);
    for (const { code, body } of sent) {
      const letter = letters.find((candidate) => candidate.payload.toString('utf8') === body);
      // The original bytes, so the letter can be replayed; parked on the first delivery, not after retries.
      expect(letter).toMatchObject({ reason_code: code, transport: 'nats', source: env.config.subjects.customerRegistered, attempts: 1, status: 'parked' });
    }
    expect(await tableCounts(env.db.pool)).toEqual({ ...before, dead_letters: cases.length });
  });
});

describe('knapscen event ids', () => {
  let env: Awaited<ReturnType<typeof setUp>>;
  beforeAll(async () => {
    env = await setUp('sameid');
  });
  afterAll(() => env.stop());

  it('register two companies for two events with one id and different subjects; the same triple again is a duplicate', async () => {
    const first = uniqueEvent();
    const second = { ...uniqueEvent(), id: first.id };
    await env.publish(JSON.stringify(first));
    await env.publish(JSON.stringify(second));
    await env.publish(JSON.stringify(second));
    await env.settled();
    expect(await tableCounts(env.db.pool)).toMatchObject({ companies: 2, company_users: 6, inbox: 2, outbox: 8, dead_letters: 0 });
    const saved = await messagesOn(client, env.config.subjects.customerSaved);
    expect(saved.map((message) => message.json.subject).sort()).toEqual([first.subject, second.subject].sort());
  });
});

describe('several instances consuming at once', () => {
  let env: Awaited<ReturnType<typeof setUp>>;
  beforeAll(async () => {
    env = await setUp('pair', { instances: 2 });
  });
  afterAll(() => env.stop());

  it('create every company once, however often its event is delivered', async () => {
    const events = Array.from({ length: 25 }, () => uniqueEvent());
    // Each event three times: twice as a redelivery of the same id, once re-sent with a new id and the same subject.
    const bodies = events.flatMap((event) => [JSON.stringify(event), JSON.stringify(event), JSON.stringify({ ...event, id: `${event.id}-again` })]);
    await Promise.all(bodies.map((body) => env.publish(body)));
    await env.settled();
    expect(await tableCounts(env.db.pool)).toMatchObject({ companies: 25, company_users: 75, event_store: 25, inbox: 25, outbox: 100, dead_letters: 0 });
    const saved = await messagesOn(client, env.config.subjects.customerSaved);
    expect(saved).toHaveLength(25);
    expect(new Set(saved.map((message) => (message.json.data as { customer_id: string }).customer_id))).toEqual(new Set(events.map((event) => event.subject)));
    expect(await messagesOn(client, env.config.subjects.userSaved)).toHaveLength(75);
  });
});

describe('stream layout', () => {
  it('works with one stream per subject named after the subject (Sveltos JetStream mode), creating none of its own', async () => {
    const jsm = await jetstreamManager(client);
    const subjects = ['persubj-customer-registered', 'persubj-customer-saved', 'persubj-user-saved'];
    for (const subject of subjects) await jsm.streams.add({ name: subject, subjects: [subject] });
    const env = await setUp('persubj', { env: { NATS_ENSURE_STREAM: 'false' } });
    try {
      const event = uniqueEvent();
      await env.publish(JSON.stringify(event));
      await env.settled();
      expect(await messagesOn(client, 'persubj-customer-saved')).toHaveLength(1);
      expect(await messagesOn(client, 'persubj-user-saved')).toHaveLength(3);
      const names: string[] = [];
      for await (const stream of jsm.streams.list()) names.push(stream.config.name);
      expect(names).not.toContain('persubj-onboarding');
      const consumer = await jsm.consumers.info('persubj-customer-registered', 'customer-service');
      expect(consumer.config.filter_subject).toBe('persubj-customer-registered');
    } finally {
      await env.stop();
    }
  });

  it('creates the configured stream with the three subjects when none captures them', async () => {
    const env = await setUp('fresh');
    try {
      const jsm = await jetstreamManager(client);
      const info = await jsm.streams.info('fresh-onboarding');
      expect(info.config.subjects.sort()).toEqual(['fresh-customer-registered', 'fresh-customer-saved', 'fresh-user-saved']);
      const consumer = await jsm.consumers.info('fresh-onboarding', 'customer-service');
      expect(consumer.config.ack_policy).toBe('explicit');
      expect(consumer.config.backoff?.map((nanos) => nanos / 1e6)).toEqual([1000, 2000, 4000, 8000, 16000]);
      expect(consumer.config.max_deliver).toBeGreaterThan(5);
    } finally {
      await env.stop();
    }
  });
});
