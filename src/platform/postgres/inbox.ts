/**
 * The inbox records input messages whose effect has committed, in the same transaction as that effect. A message
 * id found here has been processed: a redelivery is recognised without touching business tables.
 */
import type { Queryable } from './database.js';
import type { Statement } from './statements.js';

export interface InboxEntry {
  readonly messageId: string;
  readonly messageType: string;
}

/** Which of `messageIds` the `consumer` has already processed. */
export async function findProcessed(client: Queryable, consumer: string, messageIds: readonly string[]): Promise<Set<string>> {
  if (messageIds.length === 0) return new Set();
  const { rows } = await client.query<{ message_id: string }>(
    'SELECT message_id FROM inbox WHERE consumer = $1 AND message_id = ANY($2::text[])',
    [consumer, messageIds],
  );
  return new Set(rows.map((row) => row.message_id));
}

/** Records `entries` as processed; a conflicting row means a concurrent transaction processed the same message. */
export async function recordProcessed(client: Queryable, consumer: string, entries: readonly InboxEntry[]): Promise<number> {
  const statement = recordProcessedStatement(consumer, entries);
  if (statement === undefined) return 0;
  const result = await client.query(statement.text, [...statement.values]);
  return result.rowCount ?? 0;
}

/** The same as a statement to combine with others (`runTogether`); undefined when there is nothing to record. */
export function recordProcessedStatement(consumer: string, entries: readonly InboxEntry[]): Statement | undefined {
  if (entries.length === 0) return undefined;
  return {
    text: `INSERT INTO inbox (consumer, message_id, message_type)
     SELECT $1, * FROM unnest($2::text[], $3::text[])
     ON CONFLICT DO NOTHING`,
    values: [consumer, entries.map((entry) => entry.messageId), entries.map((entry) => entry.messageType)],
  };
}
