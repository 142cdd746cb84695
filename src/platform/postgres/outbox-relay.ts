/**
 * Publishes outbox messages of one destination, in outbox order, at least once. Shared by every transport: the
 * transport supplies only `publish`.
 *
 * Several instances may run a relay for the same destination: a session-level advisory lock makes one of them the
 * publisher and the others stand-bys, which keeps per-aggregate order without coordination. The publisher is woken
 * right after a local commit and polls for commits made by other instances.
 *
 * A broker outage stops the relay at the first message it could not publish (order is kept), counts the attempt,
 * and retries with exponential backoff; the backlog stays in the table and drains when the broker is back.
 */
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import type pg from 'pg';
import { sleepWhile } from '../sleep.js';
import type { Logger } from '../logger.js';
import { contextFromHeaders, markFailed, tracer, withTraceHeaders } from '../telemetry/index.js';
import type { WakeSignal } from '../wake-signal.js';
import type { Pool } from './database.js';
import type { OutboxDestination } from './outbox.js';

export interface PendingMessage {
  readonly id: string;
  readonly eventId: string;
  readonly aggregateId: string;
  readonly key: string | null;
  readonly headers: Readonly<Record<string, string>>;
  /** The exact JSON text written by the use case. */
  readonly payload: string;
}

export interface OutboxRelayOptions {
  readonly pool: Pool;
  readonly destination: OutboxDestination;
  /** Publishes `messages` in order; resolves once the broker has acknowledged all of them, throws otherwise. */
  readonly publish: (messages: readonly PendingMessage[]) => Promise<void>;
  readonly wake: WakeSignal;
  readonly logger: Logger;
  readonly batchSize?: number;
  readonly pollIntervalMs?: number;
  readonly maxBackoffMs?: number;
  /** Called after each published batch (metrics). */
  readonly onPublished?: (messages: readonly PendingMessage[]) => void;
  readonly onError?: (error: unknown) => void;
  /** Name of the span per published message, as the flow declares it (SPEC §6); `publish <destination>` otherwise. */
  readonly spanName?: string;
  /** Spans of events that share the destination with others, by their `eventType` header (the flow's declaration). */
  readonly spanNamesByEventType?: Readonly<Record<string, string>>;
}

export interface OutboxRelay {
  /** Runs until `stop()`; resolves when the loop has finished its current batch. */
  start(): void;
  stop(): Promise<void>;
  /** Publishes whatever is pending now, once (Job mode, tests, shutdown). Returns how many were published. */
  drain(): Promise<number>;
}

// Lock keys: one per destination, in a range no other lock of this service uses.
const LOCK_BASE = 7_419_300_000;

export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const lockKey = LOCK_BASE + hashDestination(options.destination);
  const spanName = options.spanName ?? `publish ${options.destination}`;
  const spanNamesByEventType = options.spanNamesByEventType ?? {};
  let running = false;
  let loop: Promise<void> | undefined;

  async function publishBatch(client: pg.PoolClient | Pool): Promise<number> {
    const { rows } = await client.query<{
      id: string;
      event_id: string;
      aggregate_id: string;
      message_key: string | null;
      headers: Record<string, string>;
      payload: string;
    }>(
      `SELECT id, event_id, aggregate_id, message_key, headers, payload::text AS payload
       FROM outbox WHERE destination = $1 AND published_at IS NULL ORDER BY id LIMIT $2`,
      [options.destination, batchSize],
    );
    if (rows.length === 0) return 0;
    const messages = rows.map((row) => ({
      id: row.id,
      eventId: row.event_id,
      aggregateId: row.aggregate_id,
      key: row.message_key,
      headers: row.headers,
      payload: row.payload,
    }));
    // One span per message, a child of the span that stored it (its `traceparent` header), and the message goes out
    // with that span as its parent: the consumer downstream continues the same trace.
    const spans = messages.map((message) =>
      tracer().startSpan(
        eventSpanName(spanNamesByEventType, message.headers.eventType) ?? spanName,
        {
          kind: SpanKind.PRODUCER,
          attributes: { 'messaging.message.id': message.eventId, 'messaging.destination.name': options.destination },
        },
        contextFromHeaders(message.headers),
      ),
    );
    const outgoing = messages.map((message, index) => {
      const span = spans[index];
      return span === undefined ? message : { ...message, headers: withTraceHeaders(message.headers, trace.setSpan(ROOT_CONTEXT, span)) };
    });
    try {
      await options.publish(outgoing);
    } catch (error) {
      for (const span of spans) markFailed(span, error);
      const first = messages[0];
      await client
        .query('UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1', [first?.id, String(error)])
        .catch(() => undefined);
      throw error;
    } finally {
      for (const span of spans) span.end();
    }
    await client.query('UPDATE outbox SET published_at = NOW(), attempts = attempts + 1 WHERE id = ANY($1::bigint[])', [
      messages.map((message) => message.id),
    ]);
    options.onPublished?.(messages);
    return messages.length;
  }

  async function run(): Promise<void> {
    let backoffMs = 0;
    while (running) {
      let leader: pg.PoolClient | undefined;
      try {
        leader = await options.pool.connect();
        const { rows } = await leader.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [lockKey]);
        if (rows[0]?.locked !== true) {
          leader.release();
          leader = undefined;
          await options.wake.wait(pollIntervalMs * 4);
          continue;
        }
        while (running) {
          const published = await publishBatch(leader);
          backoffMs = 0;
          if (published < batchSize) await options.wake.wait(pollIntervalMs);
        }
        await leader.query('SELECT pg_advisory_unlock($1)', [lockKey]);
      } catch (error) {
        options.onError?.(error);
        backoffMs = Math.min(maxBackoffMs, backoffMs === 0 ? 500 : backoffMs * 2);
        options.logger.warn({ err: error, destination: options.destination, retryInMs: backoffMs }, 'outbox relay failed; will retry');
        // A broken connection releases the session lock with it; let the pool discard it.
        leader?.release(true);
        leader = undefined;
        await sleepWhile(backoffMs, () => running);
      } finally {
        leader?.release();
      }
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      options.wake.notify();
      await loop;
    },
    async drain() {
      let total = 0;
      for (;;) {
        const published = await publishBatch(options.pool);
        total += published;
        if (published < batchSize) return total;
      }
    },
  };
}

function eventSpanName(byEventType: Readonly<Record<string, string>>, eventType: string | undefined): string | undefined {
  return eventType !== undefined && Object.hasOwn(byEventType, eventType) ? byEventType[eventType] : undefined;
}

function hashDestination(destination: string): number {
  let hash = 0;
  for (const char of destination) hash = (hash * 31 + char.charCodeAt(0)) % 10_000;
  return hash;
}
