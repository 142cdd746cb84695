/** Appends domain events to the event store. Shared by every flow; always called inside the caller's transaction. */
import type { Queryable } from './database.js';
import { jsonColumn, jsonElements, type Statement } from './statements.js';

export interface EventMetadata {
  readonly correlationId: string;
  readonly causationId: string;
  /** W3C trace context of the operation that caused the event, when there was one. */
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** Where the causing message came from, e.g. `{ transport: 'kafka', topic, partition, offset }`. */
  readonly source?: Readonly<Record<string, unknown>>;
}

export interface NewEvent {
  readonly streamType: string;
  readonly streamId: string;
  /** The stream version this event takes: 1 for the first event of a stream. UNIQUE(stream_id, stream_version) makes
   * a concurrent writer of the same version fail instead of forking the stream. */
  readonly streamVersion: number;
  readonly eventId: string;
  readonly eventType: string;
  readonly eventVersion: string;
  readonly payload: unknown;
  readonly metadata: EventMetadata;
  readonly occurredAt: string;
}

/** What every domain event envelope carries that the store keeps. */
export interface EventEnvelopeFields {
  readonly eventId: string;
  readonly eventType: string;
  readonly eventVersion: string;
  readonly timestamp: string;
  readonly payload: unknown;
}

/** The stored form of a domain event: `event`'s fields at `streamVersion` of its stream, with `metadata`. */
export function newEventOf(
  event: EventEnvelopeFields,
  stream: { readonly streamType: string; readonly streamId: string; readonly streamVersion: number },
  metadata: EventMetadata,
): NewEvent {
  const { eventId, eventType, eventVersion, payload } = event;
  return { ...stream, eventId, eventType, eventVersion, payload, occurredAt: event.timestamp, metadata };
}

/** Appends `events` with one statement; returns their global positions in the same order. */
export async function appendEvents(client: Queryable, events: readonly NewEvent[]): Promise<string[]> {
  const statement = appendEventsStatement(events);
  if (statement === undefined) return [];
  const { rows } = await client.query<{ global_position: string }>(`${statement.text} RETURNING global_position`, [...statement.values]);
  return rows.map((row) => row.global_position);
}

/** The append as a statement to combine with others (`runTogether`); undefined when there is nothing to append. */
export function appendEventsStatement(events: readonly NewEvent[]): Statement | undefined {
  if (events.length === 0) return undefined;
  return {
    text: `INSERT INTO event_store
       (stream_type, stream_id, stream_version, event_id, event_type, event_version, payload, metadata, occurred_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::uuid[], $5::text[], $6::text[], ${jsonElements('$7', 'jsonb')},
                          ${jsonElements('$8', 'jsonb')}, $9::timestamptz[])`,
    values: [
      events.map((event) => event.streamType),
      events.map((event) => event.streamId),
      events.map((event) => event.streamVersion),
      events.map((event) => event.eventId),
      events.map((event) => event.eventType),
      events.map((event) => event.eventVersion),
      jsonColumn(events.map((event) => JSON.stringify(event.payload))),
      jsonColumn(events.map((event) => JSON.stringify(event.metadata))),
      events.map((event) => event.occurredAt),
    ],
  };
}
