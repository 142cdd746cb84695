/**
 * The database limit for the registration workload: pgbench runs, against the same PostgreSQL and schema, scripts that
 * do the writes of one registration (inbox row, month counter, customer, preferences, event, outbox row), one per
 * transaction and 100 per transaction (server-side generate_series: the fastest way to send them).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const SINGLE = /* sql */ `
BEGIN;
INSERT INTO inbox (consumer, message_id, message_type) VALUES ('pgbench', gen_random_uuid()::text, 'UserRegistered');
INSERT INTO customer_number_sequences AS s (year_month, current_value) VALUES ('209901', 1)
  ON CONFLICT (year_month) DO UPDATE SET current_value = s.current_value + 1 RETURNING current_value AS n \\gset
WITH c AS (
  INSERT INTO customers (id, user_id, customer_number, first_name, last_name, display_name, email, registered_at, last_activity_at)
  VALUES (gen_random_uuid(), gen_random_uuid(), 'BENCH-209901-' || lpad(:n::text, 6, '0'), 'Jane', 'Doe', 'Jane Doe',
          'jane.doe@example.com', now(), now())
  RETURNING id
), p AS (
  INSERT INTO customer_preferences (customer_id) SELECT id FROM c RETURNING customer_id
), e AS (
  INSERT INTO event_store (stream_type, stream_id, stream_version, event_id, event_type, event_version, payload, metadata, occurred_at)
  SELECT 'Customer', id::text, 1, gen_random_uuid(), 'CustomerRegistered', '1.0',
         '{"customerId":"x","email":"jane.doe@example.com","firstName":"Jane","lastName":"Doe"}', '{"correlationId":"x"}', now()
  FROM c RETURNING event_id
)
INSERT INTO outbox (event_id, destination, aggregate_id, message_key, headers, payload)
SELECT event_id, 'pgbench', 'x', 'x', '{"eventType":"CustomerRegistered"}', '{"eventType":"CustomerRegistered","payload":{}}' FROM e;
COMMIT;
`;

const BATCH = /* sql */ `
BEGIN;
INSERT INTO inbox (consumer, message_id, message_type)
  SELECT 'pgbench', gen_random_uuid()::text, 'UserRegistered' FROM generate_series(1, 100);
INSERT INTO customer_number_sequences AS s (year_month, current_value) VALUES ('209902', 100)
  ON CONFLICT (year_month) DO UPDATE SET current_value = s.current_value + 100 RETURNING current_value AS n \\gset
WITH c AS (
  INSERT INTO customers (id, user_id, customer_number, first_name, last_name, display_name, email, registered_at, last_activity_at)
  SELECT gen_random_uuid(), gen_random_uuid(), 'BENCH-209902-' || lpad((:n - 100 + i)::text, 6, '0'), 'Jane', 'Doe', 'Jane Doe',
         'jane.doe@example.com', now(), now()
  FROM generate_series(1, 100) AS i
  RETURNING id
), p AS (
  INSERT INTO customer_preferences (customer_id) SELECT id FROM c RETURNING customer_id
), e AS (
  INSERT INTO event_store (stream_type, stream_id, stream_version, event_id, event_type, event_version, payload, metadata, occurred_at)
  SELECT 'Customer', id::text, 1, gen_random_uuid(), 'CustomerRegistered', '1.0',
         '{"customerId":"x","email":"jane.doe@example.com","firstName":"Jane","lastName":"Doe"}', '{"correlationId":"x"}', now()
  FROM c RETURNING event_id
)
INSERT INTO outbox (event_id, destination, aggregate_id, message_key, headers, payload)
SELECT event_id, 'pgbench', 'x', 'x', '{"eventType":"CustomerRegistered"}', '{"eventType":"CustomerRegistered","payload":{}}' FROM e;
COMMIT;
`;

export interface PgbenchResult {
  /** Registrations per second with one registration per transaction. */
  readonly singlePerSecond: number;
  /** Registrations per second with 100 registrations per transaction. */
  readonly batch100PerSecond: number;
  readonly clients: number;
  readonly seconds: number;
}

export function findPgbench(): string | undefined {
  const candidates = ['/usr/lib/postgresql/18/bin/pgbench', '/usr/lib/postgresql/17/bin/pgbench', '/usr/lib/postgresql/16/bin/pgbench', '/usr/lib/postgresql/15/bin/pgbench', '/usr/bin/pgbench'];
  return candidates.find((candidate) => existsSync(candidate));
}

/** Runs both scripts against `connectionString` (a migrated database) and cleans up the rows they wrote. */
export async function runPgbench(connectionString: string, options: { clients?: number; seconds?: number } = {}): Promise<PgbenchResult> {
  const pgbench = findPgbench();
  if (pgbench === undefined) throw new Error('pgbench not found: apt-get install -y postgresql-contrib (or postgresql-client)');
  const clients = options.clients ?? 8;
  const seconds = options.seconds ?? 10;
  const dir = await mkdtemp(path.join(tmpdir(), 'pgbench-'));
  try {
    await writeFile(path.join(dir, 'single.sql'), SINGLE);
    await writeFile(path.join(dir, 'batch.sql'), BATCH);
    const tps = async (script: string, scriptClients: number) => {
      const { stdout } = await run(
        pgbench,
        ['-n', '-c', String(scriptClients), '-j', '2', '-T', String(seconds), '-f', path.join(dir, script), connectionString],
        { maxBuffer: 16 * 1024 * 1024 },
      );
      const match = /tps = ([\d.]+)/.exec(stdout);
      if (match?.[1] === undefined) throw new Error(`could not read pgbench output:\n${stdout}`);
      return Number(match[1]);
    };
    const singlePerSecond = await tps('single.sql', clients);
    // Batches contend on the same counter row; 2 clients keep the 2 cores busy without queueing on that lock.
    const batch100PerSecond = (await tps('batch.sql', 2)) * 100;
    return { singlePerSecond, batch100PerSecond, clients, seconds };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
