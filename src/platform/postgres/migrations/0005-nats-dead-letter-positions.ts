import type { Migration } from './migration.js';

/**
 * A JetStream message is parked at most once: if the service dies after parking but before acknowledging, the
 * redelivery (same subject, stream sequence and message id) finds its letter already there (`park` skips it). The
 * message id is part of the key so that a recreated stream, whose sequences start again, cannot hide a new letter.
 */
export const natsDeadLetterPositions: Migration = {
  version: 5,
  name: 'nats-dead-letter-positions',
  sql: /* sql */ `
CREATE UNIQUE INDEX idx_dead_letters_nats_position ON dead_letters (source, message_offset, message_id)
    WHERE transport = 'nats';
`,
};
