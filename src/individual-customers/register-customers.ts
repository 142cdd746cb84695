/**
 * Use case: register individual customers from `UserRegistered` events (SPEC §2, §3 "Individual customer").
 *
 * Load → decide → persist, one transaction per batch (`platform/postgres/load-decide-persist.ts`): what is decided
 * is `domain/registration.ts`, pure; this file maps the inputs to it and its decisions to rows, spans, metrics and
 * log lines. For every new customer one statement writes the customer and preferences rows, its month's number
 * sequence, the `CustomerRegistered` event, the inbox row and the outbox row, and, when the read model is in
 * PostgreSQL, its document (visible on commit). Nothing is written for a duplicate (a redelivered `eventId`, or a
 * second event for a `userId` that already has a customer).
 *
 * Concurrency: each transaction first takes an advisory lock per `userId` and per month of the batch, so "does this
 * user have a customer?", "which number comes next?" and the inserts are atomic across instances. The locks are held
 * until commit, so numbers are gapless (a rollback gives them back) and increase in commit order.
 */
import { createCoalescer } from '../platform/coalesce.js';
import { isolateFailures } from '../platform/isolate-failures.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { logHandled, transportOf } from '../platform/outcome-log.js';
import type { Pool } from '../platform/postgres/database.js';
import { isTransientError } from '../platform/postgres/errors.js';
import { appendEventsStatement } from '../platform/postgres/event-store.js';
import { recordProcessedStatement } from '../platform/postgres/inbox.js';
import { loadDecidePersist } from '../platform/postgres/load-decide-persist.js';
import { enqueueStatement } from '../platform/postgres/outbox.js';
import { InvalidInputError } from '../platform/validation.js';
import { insertCustomersStatements, loadCustomerState, setLastNumbersStatement } from './customer-store.js';
import type { YearMonth } from './domain/customer-number.js';
import type { UserId } from './domain/ids.js';
import { decideRegistrations, monthsOf, type RegistrationCommand } from './domain/registration.js';
import type { UserRegistered } from './user-registered.schema.js';
import { startRegistrationSpans, type RegistrationSpans } from './registration-tracing.js';
import type { RegisterCustomer, RegistrationResult } from './registration.js';
import { customerEventMessage, storedCustomerEvent } from './customer-event-records.js';
import { customerFromRegistered, type ReadModelInTransaction } from './customer-read-model.js';

/** The inbox consumer name of this flow, whatever transport the event arrived on. */
export const INBOX_CONSUMER = 'individual-customers';

export type { RegisterCustomer, RegistrationResult } from './registration.js';

export interface RegisterCustomersDeps {
  readonly pool: Pool;
  readonly numberPrefix: string;
  readonly clock: () => Date;
  /** A new UUID v7. */
  readonly newId: () => string;
  /** Called after a transaction that created customers has committed: wakes the outbox relay and the projector. */
  readonly onCommitted?: () => void;
  /** When the read model is in this PostgreSQL: the documents are written in the registration's transaction. */
  readonly readModel?: ReadModelInTransaction | undefined;
  readonly metrics?: Metrics;
  /** One line per outcome (processed, duplicate at debug, rejected); see `platform/outcome-log.ts`. */
  readonly logger?: Logger;
  /** Most commands of concurrent calls run together in one transaction (default 2,000); see `platform/coalesce.ts`. */
  readonly maxCommandsPerTransaction?: number;
}

export type RegisterCustomers = (commands: readonly RegisterCustomer[]) => Promise<RegistrationResult[]>;

/**
 * Returns the use case. Results come back in the order of `commands`. A batch runs in one transaction; when that
 * transaction fails for a non-transient reason, each command is retried alone so one bad message cannot fail its
 * neighbours. Transient failures of a whole batch are thrown: the caller owns the retry schedule.
 *
 * Calls made while a transaction is in flight (other Kafka partitions, concurrent HTTP requests) share the next
 * transaction (group commit): the per-transaction cost, above all the WAL flush of COMMIT, is paid once for all of
 * them. A failure of a shared transaction runs each call again on its own, so it still reaches only its own caller.
 */
export function createRegisterCustomers(deps: RegisterCustomersDeps): RegisterCustomers {
  const registerInOneTransaction = async (commands: readonly RegisterCustomer[]) => {
    const started = performance.now();
    const spans = startRegistrationSpans(commands, { projecting: deps.readModel !== undefined });
    let results: RegistrationResult[];
    try {
      results = await registerWithin(commands, deps, spans);
    } catch (error) {
      spans.end({ error });
      throw error;
    }
    spans.end({ results });
    if (results.some((result) => result.outcome === 'created')) deps.onCommitted?.();
    record(deps, commands, results, started);
    return results;
  };

  const registerBatch = isolateFailures(registerInOneTransaction, {
    isTransient: isTransientError,
    onFailure: (commands, error) => {
      deps.metrics?.customerCreated.inc({ status: 'failed' }, commands.length);
      for (const command of commands) logFailure(deps, command, error);
    },
    failed: (error, transient): RegistrationResult => ({ outcome: 'failed', error, transient }),
  });
  return createCoalescer(registerBatch, { maxItems: deps.maxCommandsPerTransaction ?? 2_000 });
}

/** Load → decide (`domain/registration.ts`, pure) → persist: `platform/postgres/load-decide-persist.ts`. */
async function registerWithin(
  commands: readonly RegisterCustomer[],
  deps: RegisterCustomersDeps,
  spans: RegistrationSpans,
): Promise<RegistrationResult[]> {
  const registrations = commands.map(toRegistration);
  const months = monthsOf(registrations);
  const { decisions } = await loadDecidePersist(deps.pool, {
    // The months' locks make each number sequence gapless and increasing in commit order, as its row lock would.
    locks: [...registrations.map((registration) => userLockKey(registration.facts.userId)), ...months.map(numberLockKey)],
    sharedLocks: deps.readModel === undefined ? [] : [deps.readModel.lockKey],
    load: (client) =>
      loadCustomerState(client, {
        consumer: INBOX_CONSUMER,
        eventIds: registrations.map((registration) => registration.eventId),
        userIds: registrations.map((registration) => registration.facts.userId),
        months,
      }),
    decide: (state) =>
      decideRegistrations(
        { processed: state.processed, customers: new Map(state.customers.map((customer) => [customer.userId, customer])), lastNumbers: state.lastNumbers },
        registrations,
        { numberPrefix: deps.numberPrefix, newId: deps.newId, now: deps.clock() },
      ),
    writes: ({ decisions: decided, lastNumbers }) => {
      // The stored and published trace context is each command's create_customer_profile span, not the input's.
      const created = decided.flatMap((decision, index) =>
        decision.outcome === 'created' ? [{ ...decision, command: commands[index] as RegisterCustomer, trace: spans.traceOf(index) }] : [],
      );
      // The stored event carries every fact the read model needs to rebuild the document; the published envelope
      // keeps the seed's payload exactly (consumers of customer.events never see this field).
      const stored = created.map(({ command, customer, event, trace }) =>
        storedCustomerEvent(event, 1, { trace, source: command.source }, { ...event.payload, marketingOptIn: customer.preferences.communication.marketing }),
      );
      return [
        setLastNumbersStatement(lastNumbers),
        ...insertCustomersStatements(created.map((item) => item.customer)),
        appendEventsStatement(stored),
        // The document the projector would make of the stored event.
        deps.readModel?.upsertStatement(stored.map(customerFromRegistered)),
        recordProcessedStatement(
          INBOX_CONSUMER,
          created.map(({ command }) => ({ messageId: command.event.eventId.toLowerCase(), messageType: command.event.eventType })),
        ),
        enqueueStatement(created.map(({ event, trace }) => customerEventMessage(event, trace))),
      ];
    },
    // One statement writes the numbers, the customers and the events: each step's span covers it.
    persisting: (write) => spans.writing(write),
  });
  return decisions.map((decision): RegistrationResult =>
    decision.outcome === 'rejected'
      ? { outcome: 'rejected', error: InvalidInputError.of(decision.rejection.code, decision.rejection.field, decision.rejection.message) }
      : decision,
  );
}

function toRegistration({ event }: RegisterCustomer): RegistrationCommand {
  return {
    eventId: event.eventId.toLowerCase(),
    facts: {
      userId: normalizedUserId(event),
      email: event.payload.email,
      firstName: event.payload.firstName,
      lastName: event.payload.lastName,
      marketingOptIn: event.payload.marketingOptIn,
      registeredAt: new Date(event.timestamp),
    },
    causation: { causationId: event.eventId, correlationId: event.correlationId ?? event.eventId },
  };
}

function record(
  deps: RegisterCustomersDeps,
  commands: readonly RegisterCustomer[],
  results: readonly RegistrationResult[],
  startedAt: number,
): void {
  const { metrics, logger } = deps;
  const now = Date.now();
  const seconds = (performance.now() - startedAt) / 1000;
  results.forEach((result, index) => {
    const command = commands[index];
    if (logger !== undefined && command !== undefined) logResult(logger, command, result);
    if (metrics === undefined) return;
    metrics.customerCreated.inc({ status: result.outcome });
    if (result.outcome !== 'created') return;
    metrics.customerCreationDuration.observe(seconds);
    const timestamp = Date.parse(commands[index]?.event.timestamp ?? '');
    if (Number.isFinite(timestamp)) {
      metrics.eventProcessingLag.observe({ event_type: 'UserRegistered' }, Math.max(0, (now - timestamp) / 1000));
    }
  });
}

function logResult(logger: Logger, command: RegisterCustomer, result: RegistrationResult): void {
  const ids = {
    eventId: command.event.eventId,
    correlationId: command.event.correlationId ?? command.event.eventId,
    eventType: command.event.eventType,
    transport: transportOf(command.source),
  };
  const messages = { processed: 'customer registered', duplicate: 'duplicate registration: nothing written', rejected: 'registration rejected' };
  switch (result.outcome) {
    case 'created':
      logHandled(logger, ids, { outcome: 'processed', customerId: result.customer.customerId }, messages);
      return;
    case 'duplicate':
      logHandled(logger, ids, { outcome: 'duplicate', customerId: result.customer.customerId, reason: result.reason }, messages);
      return;
    case 'rejected':
      logHandled(logger, ids, { outcome: 'rejected', reason: result.error.code }, messages);
      return;
    case 'failed':
      logFailureWith(logger, command, result.error);
      return;
  }
}

function logFailure(deps: RegisterCustomersDeps, command: RegisterCustomer, error: unknown): void {
  if (deps.logger !== undefined) logFailureWith(deps.logger, command, error);
}

function logFailureWith(logger: Logger, command: RegisterCustomer, error: unknown): void {
  const transient = isTransientError(error);
  // A transient failure is retried by the caller: a warning, not yet an error.
  logger[transient ? 'warn' : 'error'](
    { outcome: 'failed', transient, eventId: command.event.eventId, correlationId: command.event.correlationId ?? command.event.eventId, err: error },
    'registration failed',
  );
}

function normalizedUserId(event: UserRegistered): UserId {
  return event.payload.userId.toLowerCase() as UserId;
}

/** The advisory lock key of a user (registration and activation of one user serialise on it). */
export function userLockKey(userId: string): string {
  return `customer-user:${userId}`;
}

/** The advisory lock key of a month's number sequence. */
function numberLockKey(month: YearMonth): string {
  return `customer-number:${month}`;
}
