import type { Migration } from './migration.js';
import { initial } from './0001-initial.js';
import { readModel } from './0002-read-model.js';
import { corporateCustomers } from './0003-corporate-customers.js';
import { kafkaDeadLetterPositions } from './0004-kafka-dead-letter-positions.js';
import { natsDeadLetterPositions } from './0005-nats-dead-letter-positions.js';
import { deadLetterIndexBounds } from './0006-dead-letter-index-bounds.js';
import { outboxParking } from './0007-outbox-parking.js';

/** Every migration, in version order. Never edit one that has shipped: add the next version. */
export const migrations: readonly Migration[] = [initial, readModel, corporateCustomers, kafkaDeadLetterPositions, natsDeadLetterPositions, deadLetterIndexBounds, outboxParking];
