import type { Migration } from './migration.js';

/**
 * A Kafka message is parked at most once per topic, partition and offset: if the service dies after parking but
 * before committing the offset, the redelivered message finds its letter already there (`park` skips it).
 */
export const kafkaDeadLetterPositions: Migration = {
  version: 4,
  name: 'kafka-dead-letter-positions',
  sql: /* sql */ `
CREATE UNIQUE INDEX idx_dead_letters_kafka_position ON dead_letters (source, partition, message_offset)
    WHERE transport = 'kafka';
`,
};
