/**
 * The dead-letter store: input that could not be processed, kept with its original bytes and headers, the reason,
 * and what became of it. Every transport parks here, so one CLI (`dead-letters list|show|replay|discard`) serves all.
 */
import type { Queryable } from './database.js';

export type DeadLetterStatus = 'parked' | 'replayed' | 'discarded';

export interface NewDeadLetter {
  /** `kafka`, `nats`, `http` or `job`. */
  readonly transport: string;
  /** Topic, subject or path the message came from. */
  readonly source: string;
  readonly partition?: number | null;
  readonly offset?: string | null;
  readonly key?: Buffer | null;
  readonly headers?: Readonly<Record<string, string>>;
  readonly payload: Buffer;
  readonly messageId?: string | null;
  readonly reasonCode: string;
  readonly errorMessage: string;
  readonly attempts?: number;
  readonly firstFailedAt?: Date;
}

export interface DeadLetter extends Required<Omit<NewDeadLetter, 'firstFailedAt'>> {
  readonly id: string;
  readonly status: DeadLetterStatus;
  readonly firstFailedAt: Date;
  readonly parkedAt: Date;
  readonly resolvedAt: Date | null;
  readonly resolution: string | null;
}

interface DeadLetterRow {
  id: string;
  transport: string;
  source: string;
  partition: number | null;
  message_offset: string | null;
  message_key: Buffer | null;
  headers: Record<string, string>;
  payload: Buffer;
  message_id: string | null;
  reason_code: string;
  error_message: string;
  attempts: number;
  status: DeadLetterStatus;
  first_failed_at: Date;
  parked_at: Date;
  resolved_at: Date | null;
  resolution: string | null;
}

/**
 * Parks `letters`; returns the ids of those newly parked. A Kafka message already parked from the same topic,
 * partition and offset is not parked twice (a redelivery after a crash before the offset commit).
 */
export async function park(client: Queryable, letters: readonly NewDeadLetter[]): Promise<string[]> {
  if (letters.length === 0) return [];
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO dead_letters (transport, source, partition, message_offset, message_key, headers, payload, message_id,
                               reason_code, error_message, attempts, first_failed_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::bytea[], $6::jsonb[], $7::bytea[], $8::text[],
                          $9::text[], $10::text[], $11::int[], $12::timestamptz[])
     ON CONFLICT DO NOTHING
     RETURNING id`,
    [
      letters.map((letter) => letter.transport),
      letters.map((letter) => letter.source),
      letters.map((letter) => letter.partition ?? null),
      letters.map((letter) => letter.offset ?? null),
      letters.map((letter) => letter.key ?? null),
      letters.map((letter) => JSON.stringify(letter.headers ?? {})),
      letters.map((letter) => letter.payload),
      letters.map((letter) => letter.messageId ?? null),
      letters.map((letter) => letter.reasonCode),
      letters.map((letter) => letter.errorMessage),
      letters.map((letter) => letter.attempts ?? 1),
      letters.map((letter) => (letter.firstFailedAt ?? new Date()).toISOString()),
    ],
  );
  return rows.map((row) => row.id);
}

export interface DeadLetterFilter {
  readonly status?: DeadLetterStatus;
  readonly reasonCode?: string;
  readonly transport?: string;
  readonly limit?: number;
}

export async function listDeadLetters(client: Queryable, filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
  const { rows } = await client.query<DeadLetterRow>(
    `SELECT * FROM dead_letters
     WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR reason_code = $2) AND ($3::text IS NULL OR transport = $3)
     ORDER BY id LIMIT $4`,
    [filter.status ?? null, filter.reasonCode ?? null, filter.transport ?? null, filter.limit ?? 100],
  );
  return rows.map(fromRow);
}

export async function getDeadLetter(client: Queryable, id: string): Promise<DeadLetter | undefined> {
  const { rows } = await client.query<DeadLetterRow>('SELECT * FROM dead_letters WHERE id = $1', [id]);
  return rows[0] === undefined ? undefined : fromRow(rows[0]);
}

/** Marks a parked letter resolved; false when it was not parked (already replayed or discarded, or unknown). */
export async function resolveDeadLetter(
  client: Queryable,
  id: string,
  status: Exclude<DeadLetterStatus, 'parked'>,
  resolution: string,
): Promise<boolean> {
  const result = await client.query(
    `UPDATE dead_letters SET status = $2, resolution = $3, resolved_at = NOW() WHERE id = $1 AND status = 'parked'`,
    [id, status, resolution],
  );
  return result.rowCount === 1;
}

/** Parked letters per reason code. */
export async function parkedCounts(client: Queryable): Promise<Record<string, number>> {
  const { rows } = await client.query<{ reason_code: string; parked: string }>(
    `SELECT reason_code, count(*) AS parked FROM dead_letters WHERE status = 'parked' GROUP BY reason_code`,
  );
  return Object.fromEntries(rows.map((row) => [row.reason_code, Number(row.parked)]));
}

function fromRow(row: DeadLetterRow): DeadLetter {
  return {
    id: row.id,
    transport: row.transport,
    source: row.source,
    partition: row.partition,
    offset: row.message_offset,
    key: row.message_key,
    headers: row.headers,
    payload: row.payload,
    messageId: row.message_id,
    reasonCode: row.reason_code,
    errorMessage: row.error_message,
    attempts: row.attempts,
    status: row.status,
    firstFailedAt: row.first_failed_at,
    parkedAt: row.parked_at,
    resolvedAt: row.resolved_at,
    resolution: row.resolution,
  };
}
