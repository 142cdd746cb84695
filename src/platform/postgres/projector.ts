/**
 * Projects the event store into a read model, in an order that is safe under concurrent commits, with a durable
 * checkpoint per projection (SPEC §2.6). Generic: a `Projection` supplies what to do with the events.
 *
 * Why not "global_position > checkpoint": positions are taken when a row is inserted, not when its transaction
 * commits. Transaction A may take position 10, B position 11, and B commit first; a reader that saw 11 and moved its
 * checkpoint there would never see 10. Instead the projector reads only events of transactions that are certainly
 * finished, those with `transaction_id < pg_snapshot_xmin(pg_current_snapshot())` (every transaction below the
 * snapshot's xmin has committed or aborted, and a transaction that writes later gets a larger id), ordered by
 * `(transaction_id, global_position)`. That order never grows below an event already read, so the checkpoint
 * `(transaction_id, global_position)` of the last applied event is exact.
 *
 * Each batch is one PostgreSQL transaction: read the checkpoint, read events, apply them, move the checkpoint. A
 * read model in PostgreSQL writes with the same transaction, so documents and checkpoint commit together; another
 * store (MongoDB) must apply idempotently, because a crash after its writes and before the commit replays the batch.
 * A failed write rolls the batch back and is retried with backoff: the checkpoint never passes an unapplied event.
 *
 * Several instances may run a projector: a transaction-level advisory lock per projection makes one batch run at a
 * time, whoever takes it; the others wait for the next wake or poll. A rebuild takes the same lock to switch over.
 */
import { trace } from '@opentelemetry/api';
import { sleepWhile } from '../sleep.js';
import type { Logger } from '../logger.js';
import { contextFromTraceContext, markFailed, type TraceContext } from '../telemetry/index.js';
import type { Metrics } from '../metrics.js';
import type { WakeSignal } from '../wake-signal.js';
import type { Pool, Queryable } from './database.js';

export interface StoredEvent {
  readonly globalPosition: string;
  /** The id of the transaction that appended the event (xid8, as a decimal string). */
  readonly transactionId: string;
  readonly streamType: string;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly eventId: string;
  readonly eventType: string;
  readonly eventVersion: string;
  readonly payload: unknown;
  readonly recordedAt: Date;
  /** The W3C trace context stored with the event (the span that wrote it), when there was one. */
  readonly trace: TraceContext;
}

/** Where a batch goes: a generation of the read model, and the projector's transaction. */
export interface ProjectionTarget {
  readonly generation: number;
  /** True for the generation that serves reads; false for one a rebuild is filling. */
  readonly active: boolean;
  /** The batch's transaction: a read model in PostgreSQL writes with it so its documents commit with the checkpoint. */
  readonly client: Queryable;
}

/** What a read model supplies to be projected. */
export interface Projection {
  /** Checkpoint key, e.g. `customers`. */
  readonly name: string;
  /** Event types this projection applies; every other type is skipped and counted, never a stuck projector. */
  readonly eventTypes: ReadonlySet<string>;
  /**
   * The events of `events` (in order) the target does not have yet. Present when writers put documents into the read
   * model in their own transactions (`projectionWritersLockKey`): the projector then passes those events by, moving
   * its checkpoint without writing them again. Absent: every event is applied.
   */
  pending?(events: readonly StoredEvent[], target: ProjectionTarget): Promise<readonly StoredEvent[]>;
  /** Applies `events` in order. Must be idempotent: after a crash the same events are applied again. */
  apply(events: readonly StoredEvent[], target: ProjectionTarget): Promise<void>;
  /** Empties a generation before a rebuild fills it (and creates what it needs: collections, indexes). */
  resetGeneration(target: ProjectionTarget): Promise<void>;
  /**
   * Makes `next` serve reads instead of `previous`; runs inside the switch-over transaction, once `next` has caught up
   * with `previous`'s checkpoint. A projection with `pending` also carries over what writers put into `previous` in
   * their own transactions beyond `next`'s checkpoint (none is in flight: the switch holds their lock).
   */
  activate(next: ProjectionTarget, previous: ProjectionTarget): Promise<void>;
  /** Removes the documents of a generation that no longer serves (after a switch-over, or an abandoned rebuild). */
  dropGeneration(generation: number): Promise<void>;
}

export interface Checkpoint {
  readonly transactionId: string;
  readonly globalPosition: string;
}

export interface BatchResult {
  /** Events read (applied and skipped). */
  readonly read: number;
  readonly checkpoint: Checkpoint;
  /** The events applied, for callers that measure visibility (not those `pending` found already written). */
  readonly applied: readonly StoredEvent[];
  /** True when committed events wait behind an older transaction still in flight (perhaps another instance's). */
  readonly heldBack: boolean;
}

export interface ProjectorOptions {
  readonly pool: Pool;
  readonly projection: Projection;
  readonly wake: WakeSignal;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly batchSize?: number;
  /** How often to look for commits made by other instances (local commits wake the projector at once). */
  readonly pollIntervalMs?: number;
  readonly maxBackoffMs?: number;
  /** Called after each committed batch: what was applied is now visible. */
  readonly onBatch?: (result: BatchResult) => void;
}

export interface Projector {
  start(): void;
  /** Stops after the current batch. */
  stop(): Promise<void>;
  /** Runs one batch now (tests, tools); resolves with what it did, or undefined when another instance held the lock. */
  runBatch(): Promise<BatchResult | undefined>;
}

/**
 * The order and the commit-safe horizon of every read; see the module comment. The text copy of the id has its own
 * name: "ORDER BY transaction_id" would otherwise sort by an output column of that name, as text ('1000' < '999').
 */
export const READ_EVENTS_SQL = `
  SELECT global_position, transaction_id::text AS xid_text, stream_type, stream_id, stream_version, event_id,
         event_type, event_version, payload, recorded_at,
         metadata->>'traceparent' AS traceparent, metadata->>'tracestate' AS tracestate
  FROM event_store
  WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
    AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  ORDER BY transaction_id, global_position
  LIMIT $3`;

/** Committed events beyond the horizon: the transaction holding the horizon back may never wake this projector. */
const HELD_BACK_SQL = `
  SELECT EXISTS (
    SELECT 1 FROM event_store
    WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
      AND transaction_id >= pg_snapshot_xmin(pg_current_snapshot())) AS held_back`;

const tracer = trace.getTracer('customer-service');
const HELD_BACK_RETRY_MS = 10;

/** Advisory lock key of a projection, in a range no other lock of this service uses. */
export function projectionLockKey(name: string): number {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) % 100_000;
  return 7_419_400_000 + hash;
}

/**
 * Advisory lock key (text, hashed like the use cases' keys) that a transaction writing a projection's documents itself
 * holds shared until it commits. A rebuild's switch-over holds it exclusively: such a writer then writes the old
 * generation and commits before the switch, or writes the new one after it, and the active generation it loads from
 * is the one it writes to.
 */
export function projectionWritersLockKey(name: string): string {
  return `projection-writers:${name}`;
}

/** Creates generation 1 as the active one unless the projection already has an active generation. */
export async function ensureProjection(client: Queryable, name: string): Promise<void> {
  await client.query(
    `INSERT INTO projection_checkpoints (projection, generation, state)
     SELECT $1, coalesce(max(generation), 0) + 1, 'active' FROM projection_checkpoints WHERE projection = $1
     ON CONFLICT DO NOTHING`,
    [name],
  );
}

interface GenerationRow {
  generation: number;
  state: 'active' | 'building' | 'retired';
  transaction_id: string;
  global_position: string;
}

/** Reads a generation's row: the active one, or a given generation. */
export async function readGeneration(
  client: Queryable,
  name: string,
  which: 'active' | number,
): Promise<GenerationRow | undefined> {
  const { rows } = await client.query<GenerationRow>(
    `SELECT generation, state, transaction_id::text AS transaction_id, global_position
     FROM projection_checkpoints WHERE projection = $1 AND ${which === 'active' ? "state = 'active'" : 'generation = $2'}`,
    which === 'active' ? [name] : [name, which],
  );
  return rows[0];
}

/** True when checkpoint `a` is at or beyond `b` in projection order. */
export function isAtOrBeyond(a: Checkpoint, b: Checkpoint): boolean {
  const ax = BigInt(a.transactionId);
  const bx = BigInt(b.transactionId);
  return ax > bx || (ax === bx && BigInt(a.globalPosition) >= BigInt(b.globalPosition));
}

/**
 * One batch into `generation`, inside the caller's transaction (which holds whatever lock it needs): reads events
 * after the generation's checkpoint, applies those the projection handles, moves the checkpoint past all of them.
 */
export async function projectBatch(
  client: Queryable,
  projection: Projection,
  row: GenerationRow,
  options: { batchSize: number; metrics?: Metrics | undefined },
): Promise<BatchResult> {
  const { rows } = await client.query<{
    global_position: string;
    xid_text: string;
    stream_type: string;
    stream_id: string;
    stream_version: number;
    event_id: string;
    event_type: string;
    event_version: string;
    payload: unknown;
    recorded_at: Date;
    traceparent: string | null;
    tracestate: string | null;
  }>(READ_EVENTS_SQL, [row.transaction_id, row.global_position, options.batchSize]);
  const checkpoint = { transactionId: row.transaction_id, globalPosition: row.global_position };
  const last = rows.at(-1);
  if (last === undefined) {
    const held = await client.query<{ held_back: boolean }>(HELD_BACK_SQL, [row.transaction_id, row.global_position]);
    return { read: 0, checkpoint, applied: [], heldBack: held.rows[0]?.held_back === true };
  }
  const events: StoredEvent[] = rows.map((r) => ({
    globalPosition: r.global_position,
    transactionId: r.xid_text,
    streamType: r.stream_type,
    streamId: r.stream_id,
    streamVersion: r.stream_version,
    eventId: r.event_id,
    eventType: r.event_type,
    eventVersion: r.event_version,
    payload: r.payload,
    recordedAt: r.recorded_at,
    trace: {
      ...(r.traceparent === null ? {} : { traceparent: r.traceparent }),
      ...(r.tracestate === null ? {} : { tracestate: r.tracestate }),
    },
  }));
  const handled = events.filter((event) => projection.eventTypes.has(event.eventType));
  for (const event of events) {
    if (!projection.eventTypes.has(event.eventType)) {
      options.metrics?.readModelSkippedEvents.inc({ projection: projection.name, event_type: event.eventType });
    }
  }
  const target: ProjectionTarget = { generation: row.generation, active: row.state === 'active', client };
  const applied = handled.length === 0 || projection.pending === undefined ? handled : await projection.pending(handled, target);
  if (applied.length > 0) {
    // One span per applied event, a child of the span that stored it, so projection is part of the registration's
    // trace (SPEC §6); an idle poll makes none.
    const spans = applied.map((event) =>
      tracer.startSpan(
        'project_read_model',
        {
          attributes: {
            'projection.name': projection.name,
            'projection.generation': row.generation,
            'projection.batch_events': applied.length,
            'messaging.message.id': event.eventId,
          },
        },
        contextFromTraceContext(event.trace),
      ),
    );
    try {
      await projection.apply(applied, target);
    } catch (error) {
      for (const span of spans) markFailed(span, error);
      throw error;
    } finally {
      for (const span of spans) span.end();
    }
  }
  await client.query(
    `UPDATE projection_checkpoints SET transaction_id = $3::xid8, global_position = $4, updated_at = NOW()
     WHERE projection = $1 AND generation = $2`,
    [projection.name, row.generation, last.xid_text, last.global_position],
  );
  return {
    read: events.length,
    checkpoint: { transactionId: last.xid_text, globalPosition: last.global_position },
    applied,
    heldBack: false,
  };
}

export function createProjector(options: ProjectorOptions): Projector {
  const { pool, projection, metrics } = options;
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const maxBackoffMs = options.maxBackoffMs ?? 10_000;
  const lockKey = projectionLockKey(projection.name);
  let running = false;
  let loop: Promise<void> | undefined;
  let ensured = false;
  let lagMeasuredAt = 0;

  async function runBatch(): Promise<BatchResult | undefined> {
    const client = await pool.connect();
    let broken = false;
    // A connection lost mid-batch (server restart, terminated session) also emits 'error' on the client; the failing
    // query reports it, and an unlistened 'error' would take the process down.
    const onConnectionError = () => {
      broken = true;
    };
    client.on('error', onConnectionError);
    try {
      if (!ensured) {
        await ensureProjection(client, projection.name);
        ensured = true;
      }
      // One round trip for BEGIN, the commit mode and the lock (no parameters: the key is a number of our own).
      // The lock is transaction-level: released by COMMIT or ROLLBACK, and by the server if this process dies. The
      // read model is derived data: a batch lost in a server crash is replayed from the checkpoint, which is lost with
      // it (same WAL). Not waiting for the flush keeps a busy projector from doubling the fsyncs of the writers.
      const begun = (await client.query(
        `BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_try_advisory_xact_lock(${String(lockKey)}) AS locked`,
      )) as unknown as { rows: { locked?: boolean }[] }[];
      if (begun.at(-1)?.rows[0]?.locked !== true) {
        await client.query('ROLLBACK');
        return undefined;
      }
      const row = await readGeneration(client, projection.name, 'active');
      if (row === undefined) throw new Error(`projection ${projection.name} has no active generation`);
      const started = performance.now();
      const result = await projectBatch(client, projection, row, { batchSize, metrics });
      await client.query('COMMIT');
      if (result.read > 0) {
        metrics?.readModelProjectionDuration.observe((performance.now() - started) / 1000);
        const now = Date.now();
        for (const event of result.applied) {
          metrics?.readModelVisibleDelay.observe(Math.max(0, (now - event.recordedAt.getTime()) / 1000));
        }
        options.onBatch?.(result);
      }
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      client.off('error', onConnectionError);
      client.release(broken);
    }
  }

  /**
   * Lag behind the head of the event store, at most once a second (it counts the events not yet projected), measured
   * whatever the batch did: a stuck projector is exactly when the figure matters. Instances that are not the one
   * projecting report the same figure, from the shared checkpoint.
   */
  async function measureLag(): Promise<void> {
    if (metrics === undefined || Date.now() - lagMeasuredAt < 1_000) return;
    lagMeasuredAt = Date.now();
    try {
      const { rows } = await pool.query<{ events: number; seconds: number | null }>(
        `SELECT count(*)::int AS events, extract(epoch FROM clock_timestamp() - min(e.recorded_at))::float8 AS seconds
         FROM projection_checkpoints c
         JOIN event_store e ON (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)
         WHERE c.projection = $1 AND c.state = 'active'`,
        [projection.name],
      );
      metrics.readModelLagEvents.set({ projection: projection.name }, rows[0]?.events ?? 0);
      metrics.readModelLagSeconds.set({ projection: projection.name }, Math.max(0, rows[0]?.seconds ?? 0));
    } catch (error) {
      options.logger.debug({ err: error, projection: projection.name }, 'could not measure projection lag');
    }
  }

  async function run(): Promise<void> {
    let backoffMs = 0;
    while (running) {
      try {
        const result = await runBatch();
        await measureLag();
        backoffMs = 0;
        // A full batch means more is waiting; events held back by an open transaction are worth a quick look again;
        // otherwise wait for a local commit or the poll timer.
        if (result?.heldBack === true) await options.wake.wait(Math.min(pollIntervalMs, HELD_BACK_RETRY_MS));
        else if (result === undefined || result.read < batchSize) await options.wake.wait(pollIntervalMs);
      } catch (error) {
        metrics?.readModelWriteFailures.inc({ projection: projection.name });
        await measureLag();
        backoffMs = Math.min(maxBackoffMs, backoffMs === 0 ? 100 : backoffMs * 2);
        options.logger.warn({ err: error, projection: projection.name, retryInMs: backoffMs }, 'projection batch failed; will retry');
        await sleepWhile(backoffMs, () => running);
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
    runBatch,
  };
}
