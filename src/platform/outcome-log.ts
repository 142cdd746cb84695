/**
 * One log line per input outcome (SPEC §6), the same shape for every flow and transport, so an operator can follow
 * an event by `eventId` or `correlationId` and count outcomes from the logs alone. Personal data never goes in
 * here: ids only (the logger redacts e-mails and names anyway).
 *
 * Levels: a processed or ignored event is `info`; a duplicate is `debug` (SPEC §2.1: expected, not an error);
 * a rejected (invalid) or parked input is `warn`; an unexpected failure is `error`.
 */
/** The part of a pino logger this needs (the service's logger, or a Fastify request's). */
export type OutcomeLogger = Readonly<Record<'debug' | 'info' | 'warn' | 'error', (fields: object, message: string) => void>>;

export type Outcome = 'processed' | 'duplicate' | 'ignored' | 'rejected' | 'parked' | 'failed';

export interface OutcomeFields {
  readonly eventId?: string;
  readonly correlationId?: string;
  readonly customerId?: string;
  /** `kafka`, `nats`, `http` or `job`. */
  readonly transport?: string;
  /** The input's type, e.g. `UserRegistered`. */
  readonly eventType?: string;
  /** Why: a reason code for rejected/parked/ignored, the duplicate kind for duplicates. */
  readonly reason?: string;
  readonly [extra: string]: unknown;
}

const LEVEL = {
  processed: 'info',
  duplicate: 'debug',
  ignored: 'info',
  rejected: 'warn',
  parked: 'warn',
  failed: 'error',
} as const satisfies Record<Outcome, 'debug' | 'info' | 'warn' | 'error'>;

export function logOutcome(logger: OutcomeLogger, outcome: Outcome, fields: OutcomeFields, message = `event ${outcome}`): void {
  logger[LEVEL[outcome]]({ outcome, ...fields }, message);
}

/** The ids of one input, the same for every flow and transport. */
export interface InputIds {
  readonly eventId: string;
  readonly correlationId: string;
  readonly eventType: string;
  /** `kafka`, `nats`, `http` or `job`; from the command's `source.transport`. */
  readonly transport: string | undefined;
}

/** What a use case decided about one input: the part of its result that the outcome line reports. */
export type HandledOutcome =
  | { readonly outcome: 'processed'; readonly customerId: string }
  | { readonly outcome: 'duplicate'; readonly customerId: string; readonly reason: string }
  | { readonly outcome: 'rejected'; readonly reason: string };

/**
 * The outcome line of an input a use case handled, written by the use case of every flow (so every transport, Job
 * mode and dead-letter replay get it); transports add only what they decide themselves (parked, ignored).
 */
export function logHandled(
  logger: OutcomeLogger,
  ids: InputIds,
  handled: HandledOutcome,
  messages: { readonly processed: string; readonly duplicate: string; readonly rejected?: string },
): void {
  switch (handled.outcome) {
    case 'processed':
      logOutcome(logger, 'processed', { ...ids, customerId: handled.customerId }, messages.processed);
      return;
    case 'duplicate':
      logOutcome(logger, 'duplicate', { ...ids, customerId: handled.customerId, reason: handled.reason }, messages.duplicate);
      return;
    case 'rejected':
      logOutcome(logger, 'rejected', { ...ids, reason: handled.reason }, messages.rejected);
      return;
  }
}

/** `source.transport` of a command, when it names one. */
export function transportOf(source: Readonly<Record<string, unknown>> | undefined): string | undefined {
  return typeof source?.transport === 'string' ? source.transport : undefined;
}
