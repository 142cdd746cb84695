/** The registration use case wired to a test database, with a controllable clock. */
import { v7 as uuidv7 } from 'uuid';
import { parseUserRegistered, type UserRegistered } from '../../src/individual-customers/user-registered.schema.js';
import { createRegisterCustomers, type RegisterCustomers } from '../../src/individual-customers/register-customers.js';
import { createActivateCustomers, type ActivateCustomers } from '../../src/individual-customers/activate-customers.js';
import type { ReadModelInTransaction } from '../../src/individual-customers/customer-read-model.js';
import type { Logger } from '../../src/platform/logger.js';
import type { Metrics } from '../../src/platform/metrics.js';
import type { Pool } from '../../src/platform/postgres/database.js';
import { testLogger } from './run-logs.js';

export function registerCustomersOn(
  pool: Pool,
  options: { onCommitted?: () => void; metrics?: Metrics; logger?: Logger; readModel?: ReadModelInTransaction } = {},
): RegisterCustomers {
  return createRegisterCustomers({
    pool,
    numberPrefix: 'ACME',
    clock: () => new Date('2026-01-02T10:30:02Z'),
    newId: () => uuidv7(),
    readModel: options.readModel,
    ...(options.onCommitted === undefined ? {} : { onCommitted: options.onCommitted }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    logger: options.logger ?? testLogger(),
  });
}

/** The activation use case wired to a test database, with the same fixed clock. */
export function activateCustomersOn(
  pool: Pool,
  options: { onCommitted?: () => void; metrics?: Metrics; logger?: Logger; readModel?: ReadModelInTransaction } = {},
): ActivateCustomers {
  return createActivateCustomers({
    pool,
    clock: () => new Date('2026-01-02T11:00:02Z'),
    newId: () => uuidv7(),
    readModel: options.readModel,
    ...(options.onCommitted === undefined ? {} : { onCommitted: options.onCommitted }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    logger: options.logger ?? testLogger(),
  });
}

/** Parses a test event, failing the test if it is not valid. */
export function valid(event: unknown): UserRegistered {
  const parsed = parseUserRegistered(event);
  if (!parsed.ok) throw parsed.error;
  return parsed.value;
}
