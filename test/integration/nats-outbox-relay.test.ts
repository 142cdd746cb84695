/**
 * The outbox relay publishing to JetStream (SPEC §2.5: at least once, in per-aggregate order), against a real
 * nats-server and PostgreSQL: what a failure in the middle of a batch leaves on the stream.
 */
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJetStreamPublisher } from '../../src/platform/nats/publisher.js';
import { enqueue, type OutboxMessage } from '../../src/platform/postgres/outbox.js';
import { createOutboxRelay } from '../../src/platform/postgres/outbox-relay.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { messagesOn } from '../support/corporate.js';
import { eventually } from '../support/eventually.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let db: TestDatabase;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  db = await createTestDatabase();
});
afterAll(async () => {
  await nc?.close();
  await server?.close();
  await db?.drop();
});

const MAX_MESSAGE_BYTES = 1_024;

function message(destination: string, aggregateId: string, name: string, bytes = 10): OutboxMessage & { readonly name: string } {
  return {
    name,
    eventId: randomUUID(),
    destination,
    aggregateId,
    key: aggregateId,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ name, padding: 'x'.repeat(bytes) }),
  };
}

describe('outbox relay to JetStream', () => {
  it('keeps each aggregate in order when a message in the middle of a batch fails, and publishes each message once', async () => {
    const subject = 'relay-order';
    // The stream refuses messages over 1 KiB until an operator raises the limit: a failure of one message of a batch.
    await jsm.streams.add({ name: subject, subjects: [subject], max_msg_size: MAX_MESSAGE_BYTES });
    const messages = [
      message(subject, 'a', 'a1'),
      message(subject, 'b', 'b1'),
      message(subject, 'a', 'a2', 2 * MAX_MESSAGE_BYTES),
      message(subject, 'c', 'c1'),
      message(subject, 'a', 'a3'),
      message(subject, 'b', 'b2'),
    ];
    await enqueue(db.pool, messages);
    const relay = createOutboxRelay({
      pool: db.pool,
      destination: subject,
      publish: createJetStreamPublisher({ js: jetstream(nc), subject, spanName: `send ${subject}` }),
      wake: createWakeSignal(),
      logger: testLogger(),
      maxBackoffMs: 200,
    });
    const stored = async () => (await messagesOn(nc, subject)).map((stored) => (stored.json as { name: string }).name);
    const attempts = async () => Number((await db.rows<{ n: number }>('SELECT max(attempts) AS n FROM outbox WHERE destination = $1', [subject]))[0]?.n);
    relay.start();
    try {
      await eventually(async () => (await attempts()) >= 3, 'the batch tried three times');
      // Sent, a3 would be stored ahead of a2, which the retries store once the stream takes it.
      expect(await stored()).not.toContain('a3');

      await jsm.streams.update(subject, { max_msg_size: -1 });
      await eventually(async () => (await db.rows('SELECT 1 FROM outbox WHERE destination = $1 AND published_at IS NULL', [subject])).length === 0, 'all published');
      const order = await stored();
      expect([...order].sort()).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'c1']);
      for (const aggregate of ['a', 'b']) {
        const ofAggregate = order.filter((name) => name.startsWith(aggregate));
        expect(ofAggregate, `aggregate ${aggregate} in outbox order`).toEqual([...ofAggregate].sort());
      }
    } finally {
      await relay.stop();
    }
  });
});
