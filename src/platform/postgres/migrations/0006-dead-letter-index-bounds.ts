import type { Migration } from './migration.js';

/**
 * Parking must always succeed (issue #11): the message id of a NATS letter comes from the input (its CloudEvent id
 * or its Nats-Msg-Id header), and a 20 KB one overflowed the btree row limit of `idx_dead_letters_nats_position`, so the
 * message was NAKed until max_deliver and lost. The index now holds a fixed-size digest of the id; the column keeps
 * the id whole, as the payload keeps the original bytes.
 */
export const deadLetterIndexBounds: Migration = {
  version: 6,
  name: 'dead-letter-index-bounds',
  sql: /* sql */ `
DROP INDEX idx_dead_letters_nats_position;
CREATE UNIQUE INDEX idx_dead_letters_nats_position ON dead_letters (source, message_offset, md5(message_id))
    WHERE transport = 'nats';
`,
};
