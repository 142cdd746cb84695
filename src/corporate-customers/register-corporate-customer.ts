/**
 * Use case: register a corporate customer from a `disco.knapscen.customer.registered` event (SPEC §2, §3).
 *
 * Load → decide → persist, in one transaction (`platform/postgres/load-decide-persist.ts`), the shape of every flow:
 * what is decided is `domain/registration.ts`, pure; this file maps the input to it and its decision to rows, spans,
 * metrics and log lines. One statement writes the company, all its users, the `CorporateCustomerRegistered` event,
 * the inbox row and the outbox rows (one `customer-saved`, one `user-saved` per user), or nothing. Registrations that
 * arrive together share the transaction (group commit; see `createRegisterCorporateCustomer`). Nothing is written
 * for a duplicate: the same event redelivered (inbox), or another event for a company that exists (re-sent with the
 * same subject).
 *
 * Concurrency: the transaction takes, with BEGIN, advisory locks on the company id and on every e-mail it is about to
 * use, in one sorted order, so "does the company exist / is this e-mail taken?" and the inserts are atomic across
 * instances. The unique index on lower(email) stays as the last line of defence.
 */
import { context, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { createCoalescer } from '../platform/coalesce.js';
import { isolateFailures } from '../platform/isolate-failures.js';
import type { Metrics } from '../platform/metrics.js';
import { logHandled, transportOf, type OutcomeLogger } from '../platform/outcome-log.js';
import type { Pool, Queryable } from '../platform/postgres/database.js';
import { isTransientError } from '../platform/postgres/errors.js';
import { appendEventsStatement, newEventOf } from '../platform/postgres/event-store.js';
import { recordProcessedStatement } from '../platform/postgres/inbox.js';
import { loadDecidePersist } from '../platform/postgres/load-decide-persist.js';
import { enqueueStatement, type OutboxMessage } from '../platform/postgres/outbox.js';
import type { Statement } from '../platform/postgres/statements.js';
import { InvalidInputError, type FieldViolation } from '../platform/validation.js';
import { insertCompaniesStatements, loadCompanyRegistrations } from './company-store.js';
import type { CorporateRegistration } from './customer-registered.schema.js';
import type { Company } from './domain/company.js';
import { CUSTOMER_REGISTERED_TYPE, type CustomerSaved, type UserSaved } from './domain/events.js';
import { decideCompanyRegistration, emailsOf, type CompanyRegistrationDecision } from './domain/registration.js';
import { CUSTOMER_SAVED, USER_SAVED } from './outbox.js';

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
  /** Most registrations of concurrent calls run together in one transaction (default 256); see `platform/coalesce.ts`. */
  readonly maxCommandsPerTransaction?: number;
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

/** A command with the context of its `register_corporate_customer` span, where its persist spans go. */
interface Pending {
  readonly command: RegisterCorporateCustomerCommand;
  readonly context: Context;
}

/** What one command of a batch came to: its decision, or the failure of its own transaction. */
type Settled = { readonly ok: true; readonly result: CorporateRegistrationResult } | { readonly ok: false; readonly error: unknown };

/**
 * Returns the use case. Failures (transient or not) are thrown; the transport owns the retry schedule.
 *
 * Registrations that arrive while a transaction is in flight (the messages of one JetStream fetch, concurrent HTTP
 * requests) share the next transaction (group commit, `platform/coalesce.ts`), up to `maxCommandsPerTransaction`:
 * the locks of all of them with BEGIN, one load, each decided in order against what the ones before it in the batch
 * took (a company or an e-mail taken earlier in the batch counts as taken), one write. A batch that fails runs each
 * registration again in a transaction of its own, so one bad input fails only itself; a transient failure of the
 * whole batch is thrown to every caller, whose transport retries it.
 */
export function createRegisterCorporateCustomer(deps: RegisterCorporateCustomerDeps): RegisterCorporateCustomer {
  const registerBatch = isolateFailures<Pending, Settled>(
    async (items) => (await registerAllWithin(items, deps)).map((result) => ({ ok: true, result })),
    // Each caller records its own failure (span, metrics) when it throws the error it gets back.
    { isTransient: isTransientError, onFailure: () => undefined, failed: (error) => ({ ok: false, error }) },
  );
  const register = createCoalescer(registerBatch, { maxItems: deps.maxCommandsPerTransaction ?? 256 });

  return (command) =>
    tracer.startActiveSpan('register_corporate_customer', async (span) => {
      const started = performance.now();
      span.setAttribute('customer.id', command.registration.companyId);
      try {
        const [refusal, ...moreRefusals] = deps.extraChecks?.(command.registration.company) ?? [];
        let result: CorporateRegistrationResult;
        if (refusal === undefined) {
          const [settled] = await register([{ command, context: context.active() }]);
          if (settled === undefined) throw new Error('no result');
          if (!settled.ok) throw settled.error;
          result = settled.result;
        } else {
          result = { outcome: 'rejected', error: new InvalidInputError([refusal, ...moreRefusals]) };
        }
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

/** Load → decide (`domain/registration.ts`, pure) → persist for a batch: `platform/postgres/load-decide-persist.ts`. */
async function registerAllWithin(items: readonly Pending[], deps: RegisterCorporateCustomerDeps): Promise<CorporateRegistrationResult[]> {
  const registrations = items.map(({ command }) => command.registration);
  const messageIds = registrations.map(inboxMessageId);
  const emails = registrations.map(emailsOf);
  const decisions = await loadDecidePersist(deps.pool, {
    locks: registrations.flatMap((registration, index) => registrationLockKeys(registration.companyId, emails[index] as string[])),
    load: (client) =>
      loadCompanyRegistrations(client, {
        consumer: INBOX_CONSUMER,
        messageIds,
        companyIds: registrations.map((registration) => registration.companyId),
        emails: emails.flat(),
      }),
    decide: (state) => {
      // In order, each against the store and the batch before it: as if they had come one transaction at a time.
      const processed = new Set(state.processed);
      const companies = new Map(state.companies);
      const taken = new Set(state.takenEmails);
      const now = deps.clock();
      return registrations.map((registration, index) => {
        const messageId = messageIds[index] as string;
        const decided = decideCompanyRegistration(
          {
            alreadyProcessed: processed.has(messageId),
            company: companies.get(registration.companyId),
            takenEmails: new Set((emails[index] as string[]).filter((email) => taken.has(email))),
          },
          registration,
          { newId: deps.newId, now, publishEmails: deps.publishEmails !== false },
        );
        if (decided.outcome === 'created') {
          processed.add(messageId);
          companies.set(registration.companyId, decided.company);
          for (const email of emails[index] as string[]) taken.add(email);
        }
        return decided;
      });
    },
    writes: (decided) => writesOf(items, messageIds, decided),
    // One statement writes the companies and the events: each created registration's step spans cover it.
    persisting: (write, decided) =>
      inSpans(
        decided.flatMap((decision, index) => (decision.outcome === 'created' ? [(items[index] as Pending).context] : [])),
        ['persist_corporate_customer', 'persist_event'],
        write,
      ),
  });
  return decisions.map((decision): CorporateRegistrationResult => {
    switch (decision.outcome) {
      case 'created':
        return { outcome: 'created', company: decision.company, customerSaved: decision.customerSaved, userSaved: decision.userSaved };
      case 'duplicate':
        return decision;
      case 'rejected':
        return { outcome: 'rejected', error: new InvalidInputError(decision.rejections) };
    }
  });
}

function writesOf(items: readonly Pending[], messageIds: readonly string[], decisions: readonly CompanyRegistrationDecision[]): (Statement | undefined)[] {
  const created = decisions.flatMap((decision, index) =>
    decision.outcome === 'created' ? [{ ...decision, command: (items[index] as Pending).command, messageId: messageIds[index] as string }] : [],
  );
  if (created.length === 0) return [];
  const outbox = (command: RegisterCorporateCustomerCommand, company: Company, destination: OutboxMessage['destination'], cloudEvent: CustomerSaved | UserSaved): OutboxMessage => ({
    eventId: cloudEvent.id,
    destination,
    // One aggregate for all of a company's events: its user-saved events keep their order too.
    aggregateId: company.customerId,
    key: cloudEvent.subject,
    headers: {
      'content-type': 'application/cloudevents+json',
      ...(command.trace?.traceparent === undefined ? {} : { traceparent: command.trace.traceparent }),
    },
    payload: JSON.stringify(cloudEvent),
  });
  return [
    ...insertCompaniesStatements(created.map(({ company }) => company)),
    appendEventsStatement(
      created.map(({ command: { registration, trace, source }, company, event }) =>
        newEventOf(
          event,
          { streamType: event.aggregateType, streamId: company.customerId, streamVersion: 1 },
          {
            correlationId: registration.eventId,
            causationId: registration.eventId,
            ...(trace?.traceparent === undefined ? {} : { traceparent: trace.traceparent }),
            ...(trace?.tracestate === undefined ? {} : { tracestate: trace.tracestate }),
            source: { ...source, cloudEventSource: registration.source, ...(registration.subject === undefined ? {} : { subject: registration.subject }) },
          },
        ),
      ),
    ),
    recordProcessedStatement(INBOX_CONSUMER, created.map(({ messageId }) => ({ messageId, messageType: CUSTOMER_REGISTERED_TYPE }))),
    enqueueStatement(
      created.flatMap(({ command, company, customerSaved, userSaved }) => [
        outbox(command, company, CUSTOMER_SAVED.destination, customerSaved),
        ...userSaved.map((saved) => outbox(command, company, USER_SAVED.destination, saved)),
      ]),
    ),
  ];
}

/**
 * The advisory locks of a registration: its company and every e-mail it is about to use, so "does the company exist /
 * is this e-mail taken?" and the inserts are atomic across instances (and with `import knapscen`).
 */
export function registrationLockKeys(companyId: string, emails: readonly string[]): string[] {
  return [`company:${companyId}`, ...emails.map((email) => `corporate-email:${email}`)];
}

/**
 * The same locks inside a transaction already begun (`import knapscen`), in the same order as
 * `advisoryLocksStatement`'s, so a registration and an import sharing e-mails cannot deadlock.
 */
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

/** Runs `work` in sibling spans, one per step it does, under each of `parents` (one registration's span each). */
async function inSpans(parents: readonly Context[], names: readonly string[], work: () => Promise<void>): Promise<void> {
  const spans = parents.flatMap((parent) => names.map((name) => tracer.startSpan(name, {}, parent)));
  try {
    await work();
  } catch (error) {
    for (const span of spans) failSpan(span, error);
    throw error;
  } finally {
    for (const span of spans) span.end();
  }
}

function failSpan(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR });
}
