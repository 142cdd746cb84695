/**
 * Event payloads and outbox messages reach PostgreSQL as one JSON array parameter (`jsonColumn`), not as array
 * literals: each row must still get its own value, in order, and the outbox its exact text (SPEC §2.5: the relay
 * publishes the bytes the use case wrote).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appendEvents } from '../../src/platform/postgres/event-store.js';
import { enqueue } from '../../src/platform/postgres/outbox.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE event_store, outbox');
});

/** Texts that an array literal or a JSON array could get wrong: quotes, backslashes, commas, braces, non-ASCII, spacing. */
const awkward = [
  { name: 'O"Brien \\ "quoted"', note: 'a,b {c} [d]' },
  { name: 'Zoë 𝄞 日本', note: '\u0001 tab\t newline\n' },
  { name: '', note: 'NULL' },
  { list: [1, 2.5, -0, true, null], nested: { deep: { deeper: ['x'] } } },
];

describe('JSON columns sent as one JSON array', () => {
  it('stores each event payload and metadata in its own row, in order', async () => {
    const events = awkward.map((payload, index) => ({
      streamType: 'Test',
      streamId: randomUUID(),
      streamVersion: 1,
      eventId: randomUUID(),
      eventType: 'TestHappened',
      eventVersion: '1',
      payload,
      metadata: { correlationId: `c-${index}`, causationId: `m-${index}`, traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` },
      occurredAt: new Date(Date.UTC(2026, 11, 2, 12, 0, index)).toISOString(),
    }));
    await appendEvents(db.pool, events);
    const rows = await db.rows<{ event_id: string; payload: unknown; metadata: { correlationId: string } }>(
      'SELECT event_id, payload, metadata FROM event_store ORDER BY global_position',
    );
    expect(rows.map((row) => row.event_id)).toEqual(events.map((event) => event.eventId));
    expect(rows.map((row) => row.payload)).toEqual(awkward.map((payload) => JSON.parse(JSON.stringify(payload)) as unknown));
    expect(rows.map((row) => row.metadata.correlationId)).toEqual(['c-0', 'c-1', 'c-2', 'c-3']);
  });

  it('keeps the exact text of every outbox payload, spacing and key order included', async () => {
    const payloads = [
      '{"b":1,"a":2}',
      '{ "spaced" : [ 1 ,2 ] }',
      JSON.stringify(awkward[0]),
      JSON.stringify(awkward[1]),
      '"just a string"',
      '{"escaped":"\\u00e9\\n","raw":"é"}',
    ];
    const messages = payloads.map((payload, index) => ({
      eventId: randomUUID(),
      destination: 'test-destination',
      aggregateId: `aggregate-${index}`,
      key: index === 2 ? null : `key-${index}`,
      headers: { eventType: 'TestHappened', quote: 'a"b\\c' },
      payload,
    }));
    await enqueue(db.pool, messages);
    const rows = await db.rows<{ event_id: string; message_key: string | null; headers: Record<string, string>; payload: string }>(
      'SELECT event_id, message_key, headers, payload::text AS payload FROM outbox ORDER BY id',
    );
    expect(rows.map((row) => row.payload)).toEqual(payloads);
    expect(rows.map((row) => row.event_id)).toEqual(messages.map((message) => message.eventId));
    expect(rows.map((row) => row.message_key)).toEqual(messages.map((message) => message.key));
    expect(rows[0]?.headers).toEqual({ eventType: 'TestHappened', quote: 'a"b\\c' });
  });

  it('refuses a payload that is not one JSON value, writing nothing', async () => {
    const message = { eventId: randomUUID(), destination: 'd', aggregateId: 'a', key: null, headers: {}, payload: '{"a":1},{"b":2}' };
    const other = { ...message, eventId: randomUUID(), payload: '{}' };
    await expect(enqueue(db.pool, [message, other])).rejects.toThrow();
    expect(await db.rows('SELECT 1 FROM outbox')).toHaveLength(0);
  });
});
