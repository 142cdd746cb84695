/**
 * The transactional outbox: messages to publish are written in the same transaction as the events they carry, and a
 * relay publishes them after commit. A crash between commit and publish therefore loses nothing (SPEC §2.5).
 */
import type { Queryable } from './database.js';
import { jsonColumn, jsonElements, type Statement } from './statements.js';

/** A logical destination a flow declares (e.g. `customer-events`); each relay maps it to its broker's topic or subject. */
export type OutboxDestination = string;

/** What a flow declares about one of its destinations: the publication span of each message sent there (SPEC §6). */
export interface OutboxDeclaration {
  readonly destination: OutboxDestination;
  readonly spanName: string;
  /** Events that share the destination with others and have a span of their own, by their `eventType` header. */
  readonly spanNamesByEventType?: Readonly<Record<string, string>>;
}

export interface OutboxMessage {
  readonly eventId: string;
  readonly destination: OutboxDestination;
  /** Messages of one aggregate are published in the order they were written. */
  readonly aggregateId: string;
  readonly key: string | null;
  readonly headers: Readonly<Record<string, string>>;
  /** The exact JSON text to publish. */
  readonly payload: string;
}

export async function enqueue(client: Queryable, messages: readonly OutboxMessage[]): Promise<void> {
  const statement = enqueueStatement(messages);
  if (statement !== undefined) await client.query(statement.text, [...statement.values]);
}

/** The same as a statement to combine with others (`runTogether`); undefined when there is nothing to enqueue. */
export function enqueueStatement(messages: readonly OutboxMessage[]): Statement | undefined {
  if (messages.length === 0) return undefined;
  return {
    text: `INSERT INTO outbox (event_id, destination, aggregate_id, message_key, headers, payload)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], ${jsonElements('$5', 'jsonb')},
                          ${jsonElements('$6', 'json')})`,
    values: [
      messages.map((message) => message.eventId),
      messages.map((message) => message.destination),
      messages.map((message) => message.aggregateId),
      messages.map((message) => message.key),
      jsonColumn(messages.map((message) => JSON.stringify(message.headers))),
      jsonColumn(messages.map((message) => message.payload)),
    ],
  };
}

/** Unpublished messages per destination: the backlog a relay still has to drain (parked ones are dead letters). */
export async function pendingCounts(client: Queryable): Promise<Record<string, number>> {
  const { rows } = await client.query<{ destination: string; pending: string }>(
    'SELECT destination, count(*) AS pending FROM outbox WHERE published_at IS NULL AND parked_at IS NULL GROUP BY destination',
  );
  return Object.fromEntries(rows.map((row) => [row.destination, Number(row.pending)]));
}
