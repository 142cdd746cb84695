/**
 * Use case: activate customers from `UserActivated` events (SPEC §3 "Activation", US-0002-06).
 *
 * Load → decide (`domain/activation.ts`, pure) → persist, in one transaction per batch
 * (`platform/postgres/load-decide-persist.ts`): one statement writes the customer row (status, verified e-mail, last
 * activity), the `CustomerActivated` event (the next version of the customer's stream), the inbox row and the outbox
 * row, and, when the read model is in PostgreSQL and holds the customer's previous document, the activated document
 * (made of that one as the projector would: ACTIVE visible on commit; otherwise the projector applies it). A duplicate
 * (redelivery, or a customer already active) and a user without a customer write nothing; the caller decides what
 * "not found" means for its transport (Kafka retries, HTTP answers 409).
 *
 * The transaction takes the same per-user advisory lock as registration, so an activation and the registration of the
 * same user serialise; and since an activation can only see a committed registration, its outbox row comes after the
 * registration's, and the relay (which publishes in outbox order) sends `CustomerActivated` after `CustomerRegistered`.
 */
import { context, trace, type Span } from '@opentelemetry/api';
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
import { contextFromTraceContext, inSpan, markFailed, traceContextOfSpan, tracer, type TraceContext } from '../platform/telemetry/index.js';
import { activateCustomersStatement, loadCustomerState } from './customer-store.js';
import { decideActivations, type ActivateCustomer } from './domain/activation.js';
import type { Customer } from './domain/customer.js';
import type { CustomerActivated } from './domain/events.js';
import { INBOX_CONSUMER, userLockKey } from './register-customers.js';
import type { UserActivated } from './user-activated.schema.js';
import { customerEventMessage, storedCustomerEvent } from './customer-event-records.js';
import { customerAfterActivated, type ReadModelInTransaction } from './customer-read-model.js';
import type { CustomerId } from './domain/ids.js';

export interface ActivateCustomerCommand {
  readonly event: UserActivated;
  /** W3C trace context of the span that consumed the event. */
  readonly trace?: TraceContext;
  /** Where the input came from (transport, topic, partition, offset…), kept in the event metadata. */
  readonly source?: Readonly<Record<string, unknown>>;
}

export type ActivationResult =
  | { readonly outcome: 'activated'; readonly customer: Customer; readonly event: CustomerActivated }
  | { readonly outcome: 'duplicate'; readonly reason: 'redelivered' | 'already-active'; readonly customer: Customer }
  | { readonly outcome: 'customer-not-found' }
  | { readonly outcome: 'failed'; readonly error: unknown; readonly transient: boolean };

export type ActivateCustomers = (commands: readonly ActivateCustomerCommand[]) => Promise<ActivationResult[]>;

export interface ActivateCustomersDeps {
  readonly pool: Pool;
  readonly clock: () => Date;
  /** A new UUID v7. */
  readonly newId: () => string;
  /** Called after a transaction that activated customers has committed: wakes the outbox relay and the projector. */
  readonly onCommitted?: () => void;
  /** When the read model is in this PostgreSQL: the documents are written in the activation's transaction. */
  readonly readModel?: ReadModelInTransaction | undefined;
  readonly metrics?: Metrics;
  readonly logger?: Logger;
  readonly maxCommandsPerTransaction?: number;
}

/**
 * Returns the use case; results come back in the order of `commands`. Concurrent calls share a transaction (group
 * commit, `platform/coalesce.ts`); a shared transaction that fails for a non-transient reason runs each command alone,
 * and transient failures are thrown for the caller's retry schedule.
 */
export function createActivateCustomers(deps: ActivateCustomersDeps): ActivateCustomers {
  const inOneTransaction = async (commands: readonly ActivateCustomerCommand[]): Promise<ActivationResult[]> => {
    const spans = commands.map((command) =>
      tracer().startSpan(
        'activate_customer_profile',
        { attributes: { 'messaging.message.id': command.event.eventId, 'customer_service.event_type': command.event.eventType } },
        command.trace === undefined ? context.active() : contextFromTraceContext(command.trace),
      ),
    );
    let results: ActivationResult[];
    try {
      results = await activateWithin(commands, deps, spans);
    } catch (error) {
      for (const span of spans) {
        markFailed(span, error);
        span.end();
      }
      throw error;
    }
    spans.forEach((span, index) => {
      const result = results[index];
      if (result !== undefined) span.setAttribute('customer_service.outcome', result.outcome);
      if (result !== undefined && 'customer' in result) span.setAttribute('customer.id', result.customer.customerId);
      span.end();
    });
    if (results.some((result) => result.outcome === 'activated')) deps.onCommitted?.();
    record(deps, commands, results);
    return results;
  };

  const activateBatch = isolateFailures(inOneTransaction, {
    isTransient: isTransientError,
    onFailure: (commands, error) => {
      deps.metrics?.customerActivated.inc({ status: 'failed' }, commands.length);
      for (const command of commands) logFailure(deps.logger, command, error);
    },
    failed: (error, transient): ActivationResult => ({ outcome: 'failed', error, transient }),
  });
  return createCoalescer(activateBatch, { maxItems: deps.maxCommandsPerTransaction ?? 2_000 });
}

/** Load → decide (`domain/activation.ts`, pure) → persist: `platform/postgres/load-decide-persist.ts`. */
async function activateWithin(
  commands: readonly ActivateCustomerCommand[],
  deps: ActivateCustomersDeps,
  spans: readonly Span[],
): Promise<ActivationResult[]> {
  const activations = commands.map(toActivation);
  const eventIds = commands.map((command) => command.event.eventId.toLowerCase());
  const { readModel } = deps;
  const { decisions } = await loadDecidePersist(deps.pool, {
    locks: activations.map((activation) => userLockKey(activation.userId)),
    sharedLocks: readModel === undefined ? [] : [readModel.lockKey],
    load: (client) =>
      loadCustomerState(client, {
        consumer: INBOX_CONSUMER,
        eventIds,
        userIds: activations.map((activation) => activation.userId),
        months: [],
        documents: readModel !== undefined,
      }),
    decide: (state) => ({
      decisions: decideActivations(
        {
          processed: state.processed,
          customers: new Map(state.customers.map((customer) => [customer.userId, customer])),
          streamVersions: state.streamVersions,
        },
        activations,
        { newId: deps.newId, now: deps.clock() },
      ),
      documents: state.documents,
    }),
    writes: ({ decisions: decided, documents }) => {
      const activated = decided.flatMap((decision, index) =>
        decision.outcome === 'activated' ? [{ ...decision, index, command: commands[index] as ActivateCustomerCommand, trace: traceOf(spans, index) }] : [],
      );
      const stored = activated.map(({ command, event, streamVersion, trace }) => storedCustomerEvent(event, streamVersion, { trace, source: command.source }));
      // The projector's rule applied to the document the previous event left; a customer whose document is not there
      // at that version (an adopted row, or a registration the projector has not reached) is left to the projector.
      const evolved = stored.flatMap((event) => {
        const previous = documents.get(event.streamId as CustomerId);
        return previous?.version === event.streamVersion - 1 ? [customerAfterActivated(previous, event)] : [];
      });
      // The customer row, the event, its inbox row, its outbox row and its document.
      return [
        activateCustomersStatement(activated.map((item) => item.customer)),
        appendEventsStatement(stored),
        readModel?.upsertStatement(evolved),
        recordProcessedStatement(
          INBOX_CONSUMER,
          activated.map(({ index, command }) => ({ messageId: eventIds[index] as string, messageType: command.event.eventType })),
        ),
        enqueueStatement(activated.map(({ event, trace }) => customerEventMessage(event, trace))),
      ];
    },
    persisting: (write, { decisions: decided }) => {
      // A child of the span of the first command the batch activates; `project_read_model` beside it when the
      // statement writes the documents too.
      const first = spans[decided.findIndex((decision) => decision.outcome === 'activated')];
      const parent = first === undefined ? context.active() : trace.setSpan(context.active(), first);
      return inSpan('persist_event', { parent }, () => (readModel === undefined ? write() : inSpan('project_read_model', { parent }, write)));
    },
  });
  return decisions.map((decision): ActivationResult =>
    decision.outcome === 'activated' ? { outcome: 'activated', customer: decision.customer, event: decision.event } : decision,
  );
}

function toActivation({ event }: ActivateCustomerCommand): ActivateCustomer {
  return {
    eventId: event.eventId,
    userId: event.payload.userId.toLowerCase(),
    activatedAt: new Date(event.payload.activatedAt),
    causation: { causationId: event.eventId, correlationId: event.correlationId ?? event.eventId },
  };
}

function traceOf(spans: readonly Span[], index: number): TraceContext {
  const span = spans[index];
  return span === undefined ? {} : traceContextOfSpan(span);
}

function record(deps: ActivateCustomersDeps, commands: readonly ActivateCustomerCommand[], results: readonly ActivationResult[]): void {
  const now = Date.now();
  results.forEach((result, index) => {
    const command = commands[index];
    if (command === undefined) return;
    const status = result.outcome === 'customer-not-found' ? 'not_found' : result.outcome;
    deps.metrics?.customerActivated.inc({ status });
    if (result.outcome === 'activated') {
      const timestamp = Date.parse(command.event.timestamp);
      if (Number.isFinite(timestamp)) deps.metrics?.eventProcessingLag.observe({ event_type: 'UserActivated' }, Math.max(0, (now - timestamp) / 1000));
    }
    if (deps.logger !== undefined) logResult(deps.logger, command, result);
  });
}

function fieldsOf(command: ActivateCustomerCommand) {
  return {
    eventId: command.event.eventId,
    correlationId: command.event.correlationId ?? command.event.eventId,
    eventType: command.event.eventType,
    transport: transportOf(command.source),
  };
}

function logResult(logger: Logger, command: ActivateCustomerCommand, result: ActivationResult): void {
  const fields = fieldsOf(command);
  const messages = { processed: 'customer activated', duplicate: 'duplicate activation: nothing written' };
  switch (result.outcome) {
    case 'activated':
      logHandled(logger, fields, { outcome: 'processed', customerId: result.customer.customerId }, messages);
      return;
    case 'duplicate':
      logHandled(logger, fields, { outcome: 'duplicate', customerId: result.customer.customerId, reason: result.reason }, messages);
      return;
    case 'customer-not-found':
      // Not yet an outcome: Kafka retries it (and parks it at the end), HTTP answers 409.
      logger.info({ ...fields, reason: 'CUSTOMER_NOT_FOUND' }, 'activation of a user without a customer: nothing written');
      return;
    case 'failed':
      logFailure(logger, command, result.error);
      return;
    default:
      assertNever(result);
  }
}

function logFailure(logger: Logger | undefined, command: ActivateCustomerCommand, error: unknown): void {
  if (logger === undefined) return;
  const transient = isTransientError(error);
  logger[transient ? 'warn' : 'error']({ outcome: 'failed', transient, ...fieldsOf(command), err: error }, 'activation failed');
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
