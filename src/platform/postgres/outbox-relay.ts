/**
 * Publishes outbox messages of one destination, in outbox order, at least once. Shared by every transport: the
 * transport supplies only `publish`.
 *
 * Several instances may run a relay for the same destination: a session-level advisory lock makes one of them the
 * publisher and the others stand-bys, which keeps per-aggregate order without coordination. The publisher is woken
 * right after a local commit and polls for commits made by other instances.
 *
 * A broker outage stops the relay at the first message it could not publish (order is kept), counts the attempt,
 * and retries with exponential backoff for as long as it lasts; the backlog stays in the table and drains in order when
 * the broker is back. Nothing is ever parked because of an outage.
 *
 * A broker that answers and refuses a message (`PublishRefusedError`: too large, topic deleted, not authorised) is
 * different: retrying cannot help until an operator acts, and waiting forever would block every later message of the
 * destination. The relay then sends one message at a time through the refused batch, so the refusal is pinned on
 * the message that causes it; that message is retried along `refusalRetryBackoffMs` and then parked: the row is
 * marked `parked_at` (the relay skips it) and a dead letter (transport `outbox`, offset = outbox id) shows it in
 * `dead-letters list` and the `dead_letters_parked` gauge. `dead-letters replay` unparks the row and the relay
 * publishes it again. A refused batch may have been written in part (Kafka accepts or refuses per partition); those
 * messages go out again during the isolation: at least once, with the same `eventId`, as after any failed send.
 */
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import type pg from 'pg';
import { sleepWhile } from '../sleep.js';
import type { Logger } from '../logger.js';
import { contextFromHeaders, markFailed, tracer, withTraceHeaders } from '../telemetry/index.js';
import type { WakeSignal } from '../wake-signal.js';
import type { Pool, Queryable } from './database.js';
import { park } from './dead-letters.js';
import type { OutboxDestination } from './outbox.js';

/**
 * Thrown by a transport's `publish` when the broker answered and refused the message itself (too large, unknown or
 * deleted topic, not authorised): a retry cannot succeed until someone changes the message, the topic or the ACLs.
 * Connection errors, timeouts and leader elections are not refusals: they are an outage, retried as long as it lasts.
 */
export class PublishRefusedError extends Error {
  constructor(
    /** The dead letter's reason code, e.g. `MESSAGE_TOO_LARGE`. */
    readonly reasonCode: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'PublishRefusedError';
  }
}

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
  /** Waits before each retry of a message the broker refused; after the last one it is parked. */
  readonly refusalRetryBackoffMs?: readonly number[];
  /** Called when a refused message was parked (logs, metrics). */
  readonly onParked?: (message: PendingMessage, error: PublishRefusedError) => void;
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

/**
 * Marks a published batch, without waiting for the WAL flush: `set_config(…, true)` makes this one statement's
 * implicit transaction commit asynchronously and leaves the session (a pooled connection the registrations use
 * next) at the server's `synchronous_commit`. A mark lost in a server crash means the batch is published again, with
 * the same eventIds, as after a crash between the send and the mark: at least once either way. Waiting cost a WAL
 * flush per relay batch, beside the registrations' own (issue 17).
 */
export const MARK_PUBLISHED_SQL = `
  UPDATE outbox SET published_at = NOW(), attempts = attempts + 1
  FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
  WHERE id = ANY($1::bigint[])`;

// Lock keys: one per destination, in a range no other lock of this service uses.
const LOCK_BASE = 7_419_300_000;

export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const lockKey = LOCK_BASE + hashDestination(options.destination);
  const spanName = options.spanName ?? `publish ${options.destination}`;
  const spanNamesByEventType = options.spanNamesByEventType ?? {};
  const refusalSchedule = options.refusalRetryBackoffMs ?? [1000, 2000, 4000, 8000, 16000];
  let running = false;
  let loop: Promise<void> | undefined;
  // After a refused batch: one message at a time through this outbox id, to find the message the broker refuses.
  let isolateThrough: bigint | undefined;
  // The message refused last, and how often in a row (an outage in between does not reset it, a success does).
  let refused: { id: string; attempts: number; firstFailedAt: Date } | undefined;

  /** Marks the row parked and records it as a dead letter, in one transaction. */
  async function parkRow(client: pg.PoolClient | Pool, message: PendingMessage, error: PublishRefusedError, attempts: number, firstFailedAt: Date) {
    const inTransaction = async (tx: Queryable) => {
      await tx.query('UPDATE outbox SET parked_at = NOW(), last_error = $2 WHERE id = $1', [message.id, error.message]);
      await park(tx, [
        {
          transport: 'outbox',
          source: options.destination,
          offset: message.id,
          key: message.key === null ? null : Buffer.from(message.key),
          headers: message.headers,
          payload: Buffer.from(message.payload),
          messageId: message.eventId,
          reasonCode: error.reasonCode,
          errorMessage: error.message,
          attempts,
          firstFailedAt,
        },
      ]);
    };
    const tx = 'release' in client ? client : await client.connect();
    try {
      await tx.query('BEGIN');
      await inTransaction(tx);
      await tx.query('COMMIT');
    } catch (failure) {
      await tx.query('ROLLBACK').catch(() => undefined);
      throw failure;
    } finally {
      if (tx !== client) tx.release();
    }
  }

  /**
   * A refusal of `messages`: isolates a refused batch, or counts the refusal of the single message and parks it once
   * the schedule has run out. Returns how long to wait before the next attempt.
   */
  async function onRefused(client: pg.PoolClient | Pool, messages: readonly PendingMessage[], error: PublishRefusedError): Promise<number> {
    const first = messages[0] as PendingMessage;
    if (messages.length > 1) {
      isolateThrough = BigInt((messages[messages.length - 1] as PendingMessage).id);
      options.logger.warn({ err: error, destination: options.destination, messages: messages.length }, 'the broker refused a batch; sending it one message at a time');
      return 0;
    }
    if (refused?.id !== first.id) refused = { id: first.id, attempts: 0, firstFailedAt: new Date() };
    refused.attempts += 1;
    if (refused.attempts <= refusalSchedule.length) {
      const waitMs = refusalSchedule[refused.attempts - 1] as number;
      options.logger.warn(
        { err: error, destination: options.destination, outboxId: first.id, eventId: first.eventId, attempt: refused.attempts, retryInMs: waitMs },
        'the broker refused a message; retrying',
      );
      return waitMs;
    }
    await parkRow(client, first, error, refused.attempts, refused.firstFailedAt);
    options.logger.error(
      { destination: options.destination, outboxId: first.id, eventId: first.eventId, reasonCode: error.reasonCode, attempts: refused.attempts, reason: error.message },
      'the broker kept refusing a message: parked as a dead letter (dead-letters replay publishes it again)',
    );
    options.onParked?.(first, error);
    refused = undefined;
    return 0;
  }

  /** Publishes the next batch; `waitMs` set when the broker refused it (retry after that wait). */
  async function publishNext(client: pg.PoolClient | Pool): Promise<{ published: number; full: boolean; waitMs?: number }> {
    const limit = isolateThrough === undefined ? batchSize : 1;
    try {
      const published = await publishBatch(client, limit);
      if (published === 0) isolateThrough = undefined;
      return { published, full: published === limit };
    } catch (error) {
      if (!(error instanceof RefusedBatch)) throw error;
      return { published: 0, full: true, waitMs: await onRefused(client, error.messages, error.refusal) };
    }
  }

  async function publishBatch(client: pg.PoolClient | Pool, limit = batchSize): Promise<number> {
    const { rows } = await client.query<{
      id: string;
      event_id: string;
      aggregate_id: string;
      message_key: string | null;
      headers: Record<string, string>;
      payload: string;
    }>(
      `SELECT id, event_id, aggregate_id, message_key, headers, payload::text AS payload
       FROM outbox WHERE destination = $1 AND published_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT $2`,
      [options.destination, limit],
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
      throw error instanceof PublishRefusedError ? new RefusedBatch(messages, error) : error;
    } finally {
      for (const span of spans) span.end();
    }
    await client.query(MARK_PUBLISHED_SQL, [messages.map((message) => message.id)]);
    const last = messages[messages.length - 1] as PendingMessage;
    if (isolateThrough !== undefined && BigInt(last.id) >= isolateThrough) isolateThrough = undefined;
    if (refused !== undefined && messages.some((message) => message.id === refused?.id)) refused = undefined;
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
          const { full, waitMs } = await publishNext(leader);
          backoffMs = 0;
          if (waitMs !== undefined) await sleepWhile(waitMs, () => running);
          else if (!full) await options.wake.wait(pollIntervalMs);
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
      // Once, for a Job or a shutdown: a failure (refusal included) is the caller's; nothing is parked from here.
      let total = 0;
      for (;;) {
        const published = await publishBatch(options.pool).catch((error: unknown) => {
          throw error instanceof RefusedBatch ? error.refusal : error;
        });
        total += published;
        if (published < batchSize) return total;
      }
    },
  };
}

/** A batch the broker refused (internal: carries the messages to `onRefused`). */
class RefusedBatch extends Error {
  constructor(
    readonly messages: readonly PendingMessage[],
    readonly refusal: PublishRefusedError,
  ) {
    super(refusal.message, { cause: refusal });
  }
}

function eventSpanName(byEventType: Readonly<Record<string, string>>, eventType: string | undefined): string | undefined {
  return eventType !== undefined && Object.hasOwn(byEventType, eventType) ? byEventType[eventType] : undefined;
}

function hashDestination(destination: string): number {
  let hash = 0;
  for (const char of destination) hash = (hash * 31 + char.charCodeAt(0)) % 10_000;
  return hash;
}
