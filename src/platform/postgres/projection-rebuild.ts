/**
 * Rebuilds a projection from the event store into a fresh generation while the active one keeps serving reads and
 * the live projector keeps it current; then switches over in one transaction.
 *
 * The switch takes the projection's advisory lock (so the live projector pauses between two batches), brings the new
 * generation up to the active one's checkpoint (both read the store in the same order, so "checkpoint at or beyond"
 * means "has applied everything the active one has"), lets the read model activate it, and flips the two rows. Reads
 * therefore never go back in time at the switch.
 *
 * Safe to interrupt and rerun: an interrupted rebuild leaves a 'building' generation that nothing reads; the next run
 * drops it and starts again. Two rebuilds of one projection cannot run at once (a session lock; the second fails).
 *
 * Writers that put documents into the active generation in their own transactions (the PostgreSQL customer read
 * model) hold `projectionWritersLockKey` shared; the switch holds it exclusively, so none is in flight while it runs
 * and each writes either the old generation before it or the new one after. What they wrote beyond the checkpoint the
 * new generation reached is carried over by the projection's `activate`.
 */
import type { Logger } from '../logger.js';
import type { Pool } from './database.js';
import { withTransaction } from './database.js';
import {
  ensureProjection,
  isAtOrBeyond,
  projectBatch,
  projectionLockKey,
  projectionWritersLockKey,
  readGeneration,
  type Projection,
} from './projector.js';

export interface RebuildReport {
  readonly projection: string;
  readonly previousGeneration: number;
  readonly generation: number;
  readonly events: number;
}

export class RebuildInProgressError extends Error {
  override readonly name = 'RebuildInProgressError';
}

export async function rebuildProjection(
  pool: Pool,
  projection: Projection,
  options: { logger: Logger; batchSize?: number; onProgress?: (events: number) => void },
): Promise<RebuildReport> {
  const batchSize = options.batchSize ?? 1_000;
  const guard = await pool.connect();
  const guardKey = projectionLockKey(`${projection.name}:rebuild`);
  try {
    const { rows } = await guard.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [guardKey]);
    if (rows[0]?.locked !== true) throw new RebuildInProgressError(`a rebuild of ${projection.name} is already running`);
    try {
      await ensureProjection(pool, projection.name);
      const generation = await startGeneration(pool, projection);
      options.logger.info({ projection: projection.name, generation }, 'rebuilding projection into a fresh generation');

      // The bulk of the work, without the live projector's lock. It ends once the new generation has caught up with
      // the active one (or with the head): under a steady stream of writes "nothing left to read" may never come.
      let events = 0;
      for (;;) {
        const { read, caughtUp } = await withTransaction(pool, async (client) => {
          const row = await readGeneration(client, projection.name, generation);
          if (row?.state !== 'building') throw new Error(`generation ${generation} of ${projection.name} is no longer building`);
          const batch = await projectBatch(client, projection, row, { batchSize });
          const active = await readGeneration(client, projection.name, 'active');
          const reached =
            active !== undefined &&
            isAtOrBeyond(batch.checkpoint, { transactionId: active.transaction_id, globalPosition: active.global_position });
          return { read: batch.read, caughtUp: reached };
        });
        events += read;
        if (read > 0) options.onProgress?.(events);
        if (read < batchSize || caughtUp) break;
      }

      const previousGeneration = await withTransaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [projectionLockKey(projection.name)]);
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [projectionWritersLockKey(projection.name)]);
        const active = await readGeneration(client, projection.name, 'active');
        if (active === undefined) throw new Error(`projection ${projection.name} has no active generation`);
        const activeCheckpoint = { transactionId: active.transaction_id, globalPosition: active.global_position };
        // The live projector is paused; catch up to exactly where it stopped (or beyond).
        for (;;) {
          const row = await readGeneration(client, projection.name, generation);
          if (row === undefined) throw new Error(`generation ${generation} of ${projection.name} vanished`);
          if (isAtOrBeyond({ transactionId: row.transaction_id, globalPosition: row.global_position }, activeCheckpoint)) break;
          const batch = await projectBatch(client, projection, row, { batchSize });
          events += batch.read;
          if (batch.read === 0) throw new Error('the new generation cannot reach the active checkpoint');
        }
        await projection.activate(
          { generation, active: true, client },
          { generation: active.generation, active: false, client },
        );
        await client.query(
          `UPDATE projection_checkpoints SET state = 'retired', updated_at = NOW() WHERE projection = $1 AND generation = $2`,
          [projection.name, active.generation],
        );
        await client.query(
          `UPDATE projection_checkpoints SET state = 'active', updated_at = NOW() WHERE projection = $1 AND generation = $2`,
          [projection.name, generation],
        );
        return active.generation;
      });
      options.logger.info({ projection: projection.name, generation, previousGeneration, events }, 'switched to the rebuilt generation');

      await projection.dropGeneration(previousGeneration);
      await pool.query(`DELETE FROM projection_checkpoints WHERE projection = $1 AND state = 'retired'`, [projection.name]);
      return { projection: projection.name, previousGeneration, generation, events };
    } finally {
      await guard.query('SELECT pg_advisory_unlock($1)', [guardKey]);
    }
  } finally {
    guard.release();
  }
}

/** Drops what an interrupted rebuild left (and retired generations), then registers a fresh, empty generation. */
async function startGeneration(pool: Pool, projection: Projection): Promise<number> {
  const { rows: leftovers } = await pool.query<{ generation: number }>(
    `SELECT generation FROM projection_checkpoints WHERE projection = $1 AND state <> 'active'`,
    [projection.name],
  );
  for (const { generation } of leftovers) {
    await projection.dropGeneration(generation);
    await pool.query('DELETE FROM projection_checkpoints WHERE projection = $1 AND generation = $2', [projection.name, generation]);
  }
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<{ generation: number }>(
      `INSERT INTO projection_checkpoints (projection, generation, state)
       SELECT $1, max(generation) + 1, 'building' FROM projection_checkpoints WHERE projection = $1
       RETURNING generation`,
      [projection.name],
    );
    const generation = rows[0]?.generation;
    if (generation === undefined) throw new Error(`could not register a new generation of ${projection.name}`);
    await projection.resetGeneration({ generation, active: false, client });
    return generation;
  });
}
