import type { Migration } from './migration.js';

/**
 * A message the broker refuses for good (too large, topic gone, not authorised) is parked after the retry schedule
 * instead of blocking its destination's relay forever (issue #13). The row stays in the outbox, marked parked, and a
 * dead letter (transport `outbox`, offset = the outbox id) makes it visible and re-publishable through the same
 * `dead-letters` CLI as parked input. The pending index leaves parked rows out, so the relay's query skips them.
 */
export const outboxParking: Migration = {
  version: 7,
  name: 'outbox-parking',
  sql: /* sql */ `
ALTER TABLE outbox ADD COLUMN parked_at TIMESTAMPTZ;
DROP INDEX idx_outbox_pending;
CREATE INDEX idx_outbox_pending ON outbox (destination, id) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE UNIQUE INDEX idx_dead_letters_outbox_row ON dead_letters (message_offset) WHERE transport = 'outbox' AND status = 'parked';
`,
};
