/**
 * Use case: register individual customers from `UserRegistered` events (SPEC §2, §3 "Individual customer").
 *
 * One transaction per batch writes, for every new customer: the customer and preferences rows, a customer number
 * from the month's counter, the `CustomerRegistered` event, the inbox row and the outbox row. Nothing is written
 * for a duplicate (a redelivered `eventId`, or a second event for a `userId` that already has a customer).
 *
 * Concurrency: each transaction first takes an advisory lock per `userId`, so "does this user have a customer?" and
 * the insert are atomic across instances; then it increments the counters of the months it needs. A counter row
 * stays locked until commit, so numbers are gapless (a rollback gives them back) and increase in commit order.
 */
import { createCoalescer } from '../platform/coalesce.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { logHandled, transportOf } from '../platform/outcome-log.js';
import type { Pool, Queryable } from '../platform/postgres/database.js';
import { withTransaction } from '../platform/postgres/database.js';
import { isTransientError } from '../platform/postgres/errors.js';
import { appendEventsStatement } from '../platform/postgres/event-store.js';
import { recordProcessedStatement } from '../platform/postgres/inbox.js';
import { enqueueStatement } from '../platform/postgres/outbox.js';
import { runTogether } from '../platform/postgres/statements.js';
import { InvalidInputError } from '../platform/validation.js';
import { findRegistrationState, insertCustomersStatements } from './customer-store.js';
import { newCustomer } from './domain/customer.js';
import { formatCustomerNumber, yearMonthOf, type YearMonth } from './domain/customer-number.js';
import { customerRegistered } from './domain/events.js';
import type { CustomerId, UserId } from './domain/ids.js';
import type { UserRegistered } from './user-registered.schema.js';
import { startRegistrationSpans, type RegistrationSpans } from './registration-tracing.js';
import type { RegisterCustomer, RegistrationResult } from './registration.js';
import { CUSTOMER_EVENTS } from './outbox.js';

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
    const spans = startRegistrationSpans(commands);
    let results: RegistrationResult[];
    try {
      results = await withTransaction(deps.pool, (client) => registerWithin(client, commands, deps, spans), {
        first: (client) => lockUsersStatement(client, commands.map((command) => normalizedUserId(command.event))),
      });
    } catch (error) {
      spans.end({ error });
      throw error;
    }
    spans.end({ results });
    if (results.some((result) => result.outcome === 'created')) deps.onCommitted?.();
    record(deps, commands, results, started);
    return results;
  };

  const registerBatch = async (commands: readonly RegisterCustomer[]): Promise<RegistrationResult[]> => {
    try {
      return await registerInOneTransaction(commands);
    } catch (error) {
      if (commands.length === 1 || isTransientError(error)) {
        deps.metrics?.customerCreated.inc({ status: 'failed' }, commands.length);
        for (const command of commands) logFailure(deps, command, error);
        throw error;
      }
    }
    const results: RegistrationResult[] = [];
    for (const command of commands) {
      try {
        const [result] = await registerInOneTransaction([command]);
        results.push(result ?? { outcome: 'failed', error: new Error('no result'), transient: false });
      } catch (error) {
        deps.metrics?.customerCreated.inc({ status: 'failed' });
        logFailure(deps, command, error);
        results.push({ outcome: 'failed', error, transient: isTransientError(error) });
      }
    }
    return results;
  };

  return createCoalescer(registerBatch, { maxItems: deps.maxCommandsPerTransaction ?? 2_000 });
}

async function registerWithin(
  client: Queryable,
  commands: readonly RegisterCustomer[],
  deps: RegisterCustomersDeps,
  spans: RegistrationSpans,
): Promise<RegistrationResult[]> {
  const userIds = commands.map((command) => normalizedUserId(command.event));
  const eventIds = commands.map((command) => command.event.eventId.toLowerCase());

  // The user locks were taken with BEGIN (see lockUsersStatement); this statement's snapshot comes after them.
  const state = await findRegistrationState(client, { consumer: INBOX_CONSUMER, eventIds, userIds });
  const processed = state.processed;
  const existing = new Map(state.customers.map((customer) => [customer.userId, customer]));

  // Decide each command; the first command of the batch for a user wins, later ones are duplicates of it.
  type Pending = { readonly index: number; readonly command: RegisterCustomer; readonly yearMonth: YearMonth };
  const pending: Pending[] = [];
  const claimedUsers = new Map<string, number>();
  const claimedEvents = new Set<string>();
  const decisions: (RegistrationResult | { readonly sameAs: number; readonly redelivered: boolean })[] = [];
  commands.forEach((command, index) => {
    const userId = userIds[index] as UserId;
    const eventId = eventIds[index] as string;
    const redelivered = processed.has(eventId) || claimedEvents.has(eventId);
    claimedEvents.add(eventId);
    const customer = existing.get(userId);
    if (customer !== undefined) {
      decisions.push({ outcome: 'duplicate', reason: redelivered ? 'redelivered' : 'user-already-registered', customer });
    } else if (claimedUsers.has(userId)) {
      decisions.push({ sameAs: claimedUsers.get(userId) as number, redelivered });
    } else if (processed.has(eventId)) {
      // The id was used by an event that created a customer for another user: not a redelivery, and not new.
      decisions.push({
        outcome: 'rejected',
        error: InvalidInputError.of('INVALID_VALUE', 'eventId', 'this eventId was already processed for another user'),
      });
    } else {
      claimedUsers.set(userId, index);
      pending.push({ index, command, yearMonth: yearMonthOf(new Date(command.event.timestamp)) });
      decisions.push({ outcome: 'failed', error: undefined, transient: false }); // replaced below
    }
  });

  if (pending.length > 0) {
    const sequences = await spans.step('generate_customer_number', () => allocateNumbers(client, pending.map((item) => item.yearMonth)));
    const now = deps.clock();
    const created = pending.map((item) => {
      const { event } = item.command;
      const sequence = sequences.get(item.yearMonth);
      if (sequence === undefined) throw new Error(`no number allocated for ${item.yearMonth}`);
      sequences.set(item.yearMonth, sequence + 1);
      const customer = newCustomer(
        {
          userId: normalizedUserId(event),
          email: event.payload.email,
          firstName: event.payload.firstName,
          lastName: event.payload.lastName,
          marketingOptIn: event.payload.marketingOptIn,
          registeredAt: new Date(event.timestamp),
        },
        deps.newId() as CustomerId,
        formatCustomerNumber(deps.numberPrefix, item.yearMonth, sequence),
      );
      const domainEvent = customerRegistered(customer, deps.newId(), now, {
        causationId: event.eventId,
        correlationId: event.correlationId ?? event.eventId,
      });
      decisions[item.index] = { outcome: 'created', customer, event: domainEvent };
      // The stored and published trace context is this command's create_customer_profile span, not the input's.
      return { command: { ...item.command, trace: spans.traceOf(item.index) }, customer, domainEvent };
    });

    // Every row of the batch in one statement (one round trip): customers and preferences, events, inbox, outbox.
    const persistCustomer = spans.begin('persist_customer');
    const persistEvent = spans.begin('persist_event'); // the event, its inbox row and its outbox row
    await runTogether(client, [
      ...insertCustomersStatements(created.map((item) => item.customer)),
      appendEventsStatement(
        created.map(({ command, customer, domainEvent }) => ({
          streamType: 'Customer',
          streamId: customer.customerId,
          streamVersion: 1,
          eventId: domainEvent.eventId,
          eventType: domainEvent.eventType,
          eventVersion: domainEvent.eventVersion,
          // The stored event carries every fact the read model needs to rebuild the document; the published envelope
          // keeps the seed's payload exactly (consumers of customer.events never see this field).
          payload: { ...domainEvent.payload, marketingOptIn: customer.preferences.communication.marketing },
          occurredAt: domainEvent.timestamp,
          metadata: {
            correlationId: domainEvent.correlationId,
            causationId: domainEvent.causationId,
            ...(command.trace?.traceparent === undefined ? {} : { traceparent: command.trace.traceparent }),
            ...(command.trace?.tracestate === undefined ? {} : { tracestate: command.trace.tracestate }),
            ...(command.source === undefined ? {} : { source: command.source }),
          },
        })),
      ),
      recordProcessedStatement(
        INBOX_CONSUMER,
        created.map(({ command }) => ({ messageId: command.event.eventId.toLowerCase(), messageType: command.event.eventType })),
      ),
      enqueueStatement(
        created.map(({ command, domainEvent }) => ({
          eventId: domainEvent.eventId,
          destination: CUSTOMER_EVENTS.destination,
          aggregateId: domainEvent.aggregateId,
          key: domainEvent.aggregateId,
          headers: {
            eventType: domainEvent.eventType,
            eventId: domainEvent.eventId,
            correlationId: domainEvent.correlationId,
            causationId: domainEvent.causationId,
            ...(command.trace?.traceparent === undefined ? {} : { traceparent: command.trace.traceparent }),
            'content-type': 'application/json',
          },
          payload: JSON.stringify(domainEvent),
        })),
      ),
    ]);
    persistEvent.end();
    persistCustomer.end();
  }

  return decisions.map((decision) => {
    if (!('sameAs' in decision)) return decision;
    const first = decisions[decision.sameAs];
    if (first === undefined || !('outcome' in first) || first.outcome !== 'created') {
      throw new Error('a batch duplicate must follow the command that created its customer');
    }
    return {
      outcome: 'duplicate',
      reason: decision.redelivered ? 'redelivered' : 'user-already-registered',
      customer: first.customer,
    };
  });
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

/**
 * Transaction-scoped locks, taken in one order everywhere so two batches cannot deadlock on them. Sent with BEGIN, so
 * the values are inlined (escaped); every later statement of the transaction takes its snapshot after the locks.
 */
export function lockUsersStatement(client: { escapeLiteral(value: string): string }, userIds: readonly string[]): string {
  const users = userIds.map((userId) => client.escapeLiteral(userId)).join(',');
  return `SELECT count(pg_advisory_xact_lock(k))
     FROM (SELECT DISTINCT hashtextextended('customer-user:' || u, 0) AS k FROM unnest(ARRAY[${users}]::text[]) AS u ORDER BY 1) AS keys`;
}

/**
 * Increments each month's counter by the numbers it needs (months in sorted order, again against deadlocks) and
 * returns the first number allocated per month.
 */
async function allocateNumbers(client: Queryable, months: readonly YearMonth[]): Promise<Map<YearMonth, number>> {
  const counts = new Map<YearMonth, number>();
  for (const month of months) counts.set(month, (counts.get(month) ?? 0) + 1);
  const sorted = [...counts.keys()].sort();
  const { rows } = await client.query<{ year_month: YearMonth; current_value: number }>(
    `INSERT INTO customer_number_sequences AS s (year_month, current_value)
     SELECT * FROM unnest($1::varchar[], $2::int[])
     ON CONFLICT (year_month) DO UPDATE SET current_value = s.current_value + excluded.current_value
     RETURNING year_month, current_value`,
    [sorted, sorted.map((month) => counts.get(month))],
  );
  return new Map(rows.map((row) => [row.year_month, row.current_value - (counts.get(row.year_month) ?? 0) + 1]));
}
