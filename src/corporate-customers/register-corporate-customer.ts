/**
 * Use case: register a corporate customer from a `disco.knapscen.customer.registered` event (SPEC §2, §3).
 *
 * One transaction writes the company, all its users, the `CorporateCustomerRegistered` event, the inbox row and the
 * outbox rows (one `customer-saved`, one `user-saved` per user), or nothing. Nothing is written for a duplicate: the
 * same event redelivered (inbox), or another event for a company that exists (re-sent with the same subject).
 *
 * Concurrency: the transaction first takes advisory locks on the company id and on every e-mail it is about to use,
 * in one sorted order, so "does the company exist / is this e-mail taken?" and the inserts are atomic across
 * instances. The unique index on lower(email) stays as the last line of defence.
 */
import { SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { Metrics } from '../platform/metrics.js';
import type { Pool, Queryable } from '../platform/postgres/database.js';
import { withTransaction } from '../platform/postgres/database.js';
import { appendEvents } from '../platform/postgres/event-store.js';
import { findProcessed, recordProcessed } from '../platform/postgres/inbox.js';
import { enqueue, type OutboxMessage } from '../platform/postgres/outbox.js';
import { InvalidInputError, type FieldViolation } from '../platform/validation.js';
import { findCompany, insertCompany, takenEmails } from './company-store.js';
import type { CorporateRegistration } from './customer-registered.schema.js';
import { emailKey, formatInstant, newCompany, type Company } from './domain/company.js';
import {
  corporateCustomerRegistered,
  CUSTOMER_REGISTERED_TYPE,
  customerSaved,
  userSaved,
  type CustomerSaved,
  type UserSaved,
} from './domain/events.js';
import { CUSTOMER_SAVED, USER_SAVED } from './outbox.js';
import { logHandled, transportOf, type OutcomeLogger } from '../platform/outcome-log.js';

/** The inbox consumer name of this flow, whatever transport the event arrived on. */
export const INBOX_CONSUMER = 'corporate-customers';

export interface RegisterCorporateCustomerCommand {
  readonly registration: CorporateRegistration;
  /** W3C trace context of the incoming message; kept in the event metadata and forwarded on publication. */
  readonly trace?: { readonly traceparent?: string; readonly tracestate?: string };
  /** Where the input came from (transport, subject, stream sequence…), kept in the event metadata. */
  readonly source?: Readonly<Record<string, unknown>>;
}

export type CorporateRegistrationResult =
  | { readonly outcome: 'created'; readonly company: Company; readonly customerSaved: CustomerSaved; readonly userSaved: readonly UserSaved[] }
  | { readonly outcome: 'duplicate'; readonly reason: 'redelivered' | 'company-already-registered'; readonly company: Company }
  | { readonly outcome: 'rejected'; readonly error: InvalidInputError };

export interface RegisterCorporateCustomerDeps {
  readonly pool: Pool;
  readonly clock: () => Date;
  /** A new UUID v7. */
  readonly newId: () => string;
  /** Called after a registration has committed: wakes the outbox relays. */
  readonly onCommitted?: () => void;
  readonly metrics?: Metrics;
  /**
   * What else a registration must satisfy to be accepted, checked before anything is written: the knapscen mirror's
   * column limits while it is on (`knapscenViolations`).
   */
  readonly extraChecks?: (company: CorporateRegistration['company']) => FieldViolation[];
  /** False: `customer-saved` and `user-saved` are written to the outbox without e-mail addresses (NATS_PUBLISH_EMAILS). */
  readonly publishEmails?: boolean;
  /** One line per outcome (processed, duplicate at debug, rejected), as every flow writes it: `platform/outcome-log.ts`. */
  readonly logger?: OutcomeLogger;
}

export type RegisterCorporateCustomer = (command: RegisterCorporateCustomerCommand) => Promise<CorporateRegistrationResult>;

/**
 * The inbox key: a corporate input is identified by (`source`, `id`, `subject`). knapscen's ids have one-second
 * resolution (`evt-customer-<YYYYMMDDHHMMSS>`), so two companies sent in the same second share an id and differ only by
 * subject; both must be registered. An event without a subject keeps the (`source`, `id`) key of earlier versions.
 */
export function inboxMessageId(registration: Pick<CorporateRegistration, 'source' | 'eventId' | 'subject'>): string {
  return JSON.stringify(
    registration.subject === undefined ? [registration.source, registration.eventId] : [registration.source, registration.eventId, registration.subject],
  );
}

const tracer = trace.getTracer('customer-service');

/** Returns the use case. Failures (transient or not) are thrown; the transport owns the retry schedule. */
export function createRegisterCorporateCustomer(deps: RegisterCorporateCustomerDeps): RegisterCorporateCustomer {
  return (command) =>
    tracer.startActiveSpan('register_corporate_customer', async (span) => {
      const started = performance.now();
      span.setAttribute('customer.id', command.registration.companyId);
      try {
        const [refusal, ...moreRefusals] = deps.extraChecks?.(command.registration.company) ?? [];
        const result: CorporateRegistrationResult =
          refusal === undefined
            ? await withTransaction(deps.pool, (client) => registerWithin(client, command, deps))
            : { outcome: 'rejected', error: new InvalidInputError([refusal, ...moreRefusals]) };
        if (result.outcome === 'created') deps.onCommitted?.();
        record(deps, command, result, started);
        span.setAttribute('registration.outcome', result.outcome);
        return result;
      } catch (error) {
        deps.metrics?.customerCreated.inc({ status: 'failed' });
        failSpan(span, error);
        throw error;
      } finally {
        span.end();
      }
    });
}

async function registerWithin(
  client: Queryable,
  command: RegisterCorporateCustomerCommand,
  deps: RegisterCorporateCustomerDeps,
): Promise<CorporateRegistrationResult> {
  const { registration } = command;
  const emails = registration.company.users.map((user) => emailKey(user.email));
  await lockRegistration(client, [`company:${registration.companyId}`, ...emails.map((email) => `corporate-email:${email}`)]);

  const messageId = inboxMessageId(registration);
  const redelivered = (await findProcessed(client, INBOX_CONSUMER, [messageId])).has(messageId);
  const existing = await findCompany(client, registration.companyId);
  if (existing !== undefined) {
    return { outcome: 'duplicate', reason: redelivered ? 'redelivered' : 'company-already-registered', company: existing };
  }
  if (redelivered) {
    // The inbox row and the company commit together, and the company id follows from the key: only a company removed
    // by hand since gets here. Registering it again would resurrect it behind the operator's back.
    return {
      outcome: 'rejected',
      error: InvalidInputError.of('INVALID_VALUE', 'id', 'this event id was already processed for another company'),
    };
  }

  const taken = await takenEmails(client, emails);
  const violations = emails.flatMap((email, index): FieldViolation[] =>
    taken.has(email) ? [{ code: 'EMAIL_TAKEN', field: `data.users.${index}.email`, message: 'is already used by a user of another company' }] : [],
  );
  const [firstViolation, ...otherViolations] = violations;
  if (firstViolation !== undefined) return { outcome: 'rejected', error: new InvalidInputError([firstViolation, ...otherViolations]) };

  const now = deps.clock();
  const registeredAt = registration.time === undefined ? formatInstant(now) : formatInstant(new Date(registration.time));
  const company = newCompany(registration.company, registration.companyId, deps.newId, registeredAt);
  const publish = { includeEmails: deps.publishEmails !== false };
  const saved = customerSaved(company, deps.newId(), now, publish);
  const usersSaved = company.users.map((user) => userSaved(company, user, deps.newId(), now, publish));
  const domainEvent = corporateCustomerRegistered(company, deps.newId(), now);

  await inSpan('persist_corporate_customer', () => insertCompany(client, company));
  await inSpan('persist_event', () =>
    appendEvents(client, [
      {
        streamType: domainEvent.aggregateType,
        streamId: company.customerId,
        streamVersion: 1,
        eventId: domainEvent.eventId,
        eventType: domainEvent.eventType,
        eventVersion: domainEvent.eventVersion,
        payload: domainEvent.payload,
        occurredAt: domainEvent.timestamp,
        metadata: {
          correlationId: registration.eventId,
          causationId: registration.eventId,
          ...(command.trace?.traceparent === undefined ? {} : { traceparent: command.trace.traceparent }),
          ...(command.trace?.tracestate === undefined ? {} : { tracestate: command.trace.tracestate }),
          source: { ...command.source, cloudEventSource: registration.source, ...(registration.subject === undefined ? {} : { subject: registration.subject }) },
        },
      },
    ]),
  );
  await recordProcessed(client, INBOX_CONSUMER, [{ messageId, messageType: CUSTOMER_REGISTERED_TYPE }]);
  const headers: Record<string, string> = {
    'content-type': 'application/cloudevents+json',
    ...(command.trace?.traceparent === undefined ? {} : { traceparent: command.trace.traceparent }),
  };
  const outbox = (destination: OutboxMessage['destination'], event: CustomerSaved | UserSaved): OutboxMessage => ({
    eventId: event.id,
    destination,
    // One aggregate for all of a company's events: its user-saved events keep their order too.
    aggregateId: company.customerId,
    key: event.subject,
    headers,
    payload: JSON.stringify(event),
  });
  await enqueue(client, [outbox(CUSTOMER_SAVED.destination, saved), ...usersSaved.map((event) => outbox(USER_SAVED.destination, event))]);
  return { outcome: 'created', company, customerSaved: saved, userSaved: usersSaved };
}

/** Transaction-scoped locks, in sorted order so two registrations sharing e-mails cannot deadlock. */
export async function lockRegistration(client: Queryable, keys: readonly string[]): Promise<void> {
  await client.query(
    `SELECT count(pg_advisory_xact_lock(k))
     FROM (SELECT DISTINCT hashtextextended(key, 0) AS k FROM unnest($1::text[]) AS key ORDER BY 1) AS keys`,
    [keys],
  );
}

function record(
  deps: RegisterCorporateCustomerDeps,
  command: RegisterCorporateCustomerCommand,
  result: CorporateRegistrationResult,
  startedAt: number,
): void {
  if (deps.logger !== undefined) logResult(deps.logger, command, result);
  const { metrics } = deps;
  if (metrics === undefined) return;
  metrics.customerCreated.inc({ status: result.outcome });
  if (result.outcome !== 'created') return;
  metrics.customerCreationDuration.observe((performance.now() - startedAt) / 1000);
  const timestamp = Date.parse(command.registration.time ?? '');
  if (Number.isFinite(timestamp)) {
    metrics.eventProcessingLag.observe({ event_type: CUSTOMER_REGISTERED_TYPE }, Math.max(0, (Date.now() - timestamp) / 1000));
  }
}

function logResult(logger: OutcomeLogger, command: RegisterCorporateCustomerCommand, result: CorporateRegistrationResult): void {
  const { registration } = command;
  // A CloudEvent carries no correlation id of its own: its id is where the chain starts.
  const ids = { eventId: registration.eventId, correlationId: registration.eventId, eventType: CUSTOMER_REGISTERED_TYPE, transport: transportOf(command.source) };
  const messages = {
    processed: 'corporate customer registered',
    duplicate: 'duplicate corporate registration: nothing written',
    rejected: 'corporate registration rejected',
  };
  switch (result.outcome) {
    case 'created':
      logHandled(logger, ids, { outcome: 'processed', customerId: result.company.customerId }, messages);
      return;
    case 'duplicate':
      logHandled(logger, ids, { outcome: 'duplicate', customerId: result.company.customerId, reason: result.reason }, messages);
      return;
    case 'rejected':
      logHandled(logger, ids, { outcome: 'rejected', reason: result.error.code }, messages);
      return;
  }
}

async function inSpan<T>(name: string, work: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, async (span) => {
    try {
      return await work();
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

function failSpan(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR });
}
