/**
 * The inbox records input messages whose effect has committed, in the same transaction as that effect. A message
 * id found here has been processed: a redelivery is recognised without touching business tables.
 */
import type { Statement } from './statements.js';

export interface InboxEntry {
  readonly messageId: string;
  readonly messageType: string;
}

/**
 * Records `entries` as processed, as a statement to combine with the effect's (`runTogether`); a conflicting row means
 * a concurrent transaction processed the same message. Undefined when there is nothing to record.
 */
export function recordProcessedStatement(consumer: string, entries: readonly InboxEntry[]): Statement | undefined {
  if (entries.length === 0) return undefined;
  return {
    text: `INSERT INTO inbox (consumer, message_id, message_type)
     SELECT $1, * FROM unnest($2::text[], $3::text[])
     ON CONFLICT DO NOTHING`,
    values: [consumer, entries.map((entry) => entry.messageId), entries.map((entry) => entry.messageType)],
  };
}
