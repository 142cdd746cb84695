/**
 * NATS entry point of the corporate flow: a `customer-registered` message (structured or binary CloudEvent) through
 * the use case, as an outcome the JetStream consumer settles (ack, park). Dead-letter replay uses the same path.
 */
import type { ReplayHandler } from '../platform/dead-letter-replay.js';
import type { HandleOutcome, InboundMessage } from '../platform/nats/consumer.js';
import { decodeCloudEvent } from '../platform/nats/cloudevent-message.js';
import type { Logger } from '../platform/logger.js';
import type { Pool } from '../platform/postgres/database.js';
import { getDeadLetter, resolveDeadLetter, type DeadLetter } from '../platform/postgres/dead-letters.js';
import { parseCustomerRegistered } from './customer-registered.schema.js';
import { CUSTOMER_REGISTERED_TYPE } from './domain/events.js';
import { createRegisterCorporateCustomer, type RegisterCorporateCustomer } from './register-corporate-customer.js';

export type CustomerRegisteredMessage = Pick<InboundMessage, 'subject' | 'data' | 'headers'> & { readonly streamSequence?: number };

export type HandleCustomerRegistered = (message: CustomerRegisteredMessage) => Promise<HandleOutcome>;

export function createCustomerRegisteredHandler(register: RegisterCorporateCustomer, logger: Logger): HandleCustomerRegistered {
  return async (message) => {
    const decoded = decodeCloudEvent(message.headers, message.data);
    if (!decoded.ok) return { status: 'invalid', code: decoded.error.code, message: decoded.error.message };
    const event = decoded.value;
    if (event.type !== CUSTOMER_REGISTERED_TYPE) {
      logger.debug({ eventId: event.id, type: event.type, subject: message.subject }, 'ignored an event type this service does not handle');
      return { status: 'ignored', eventType: event.type };
    }
    const parsed = parseCustomerRegistered(event);
    if (!parsed.ok) return { status: 'invalid', code: parsed.error.code, message: parsed.error.message, messageId: event.id };
    const traceparent = event.extensions.traceparent ?? message.headers.traceparent;
    const tracestate = event.extensions.tracestate ?? message.headers.tracestate;
    const result = await register({
      registration: parsed.value,
      trace: { ...(traceparent === undefined ? {} : { traceparent }), ...(tracestate === undefined ? {} : { tracestate }) },
      source: {
        transport: 'nats',
        subject: message.subject,
        ...(message.streamSequence === undefined ? {} : { streamSequence: message.streamSequence }),
      },
    });
    // The use case has written the outcome line.
    switch (result.outcome) {
      case 'created':
        return { status: 'processed' };
      case 'duplicate':
        return { status: 'duplicate' };
      case 'rejected':
        return { status: 'invalid', code: result.error.code, message: result.error.message, messageId: event.id };
      default:
        return assertNever(result);
    }
  };
}

export type ReplayResult =
  | { readonly status: 'replayed'; readonly outcome: 'processed' | 'duplicate' | 'ignored' }
  | { readonly status: 'still-invalid'; readonly code: string; readonly message: string }
  | { readonly status: 'not-found' }
  | { readonly status: 'not-parked'; readonly current: DeadLetter['status'] }
  | { readonly status: 'not-mine'; readonly transport: string; readonly source: string };

/**
 * Replays one parked NATS letter of the corporate flow through the same path as a live message. A letter that is
 * still invalid stays parked; a replayed one is marked so, and replaying it again does nothing (and the registration
 * itself is idempotent). Transient failures are thrown: the caller may retry.
 */
export async function replayCorporateDeadLetter(
  deps: { readonly pool: Pool; readonly handle: HandleCustomerRegistered; readonly subject?: string },
  id: string,
): Promise<ReplayResult> {
  const letter = await getDeadLetter(deps.pool, id);
  if (letter === undefined) return { status: 'not-found' };
  if (letter.transport !== 'nats' || (deps.subject !== undefined && letter.source !== deps.subject)) {
    return { status: 'not-mine', transport: letter.transport, source: letter.source };
  }
  if (letter.status !== 'parked') return { status: 'not-parked', current: letter.status };
  const outcome = await deps.handle({
    subject: letter.source,
    data: letter.payload,
    headers: letter.headers,
    ...(letter.offset === null ? {} : { streamSequence: Number(letter.offset) }),
  });
  if (outcome.status === 'invalid') return { status: 'still-invalid', code: outcome.code, message: outcome.message };
  // Two concurrent replays: the registration is idempotent, and only one of them marks the letter.
  await resolveDeadLetter(deps.pool, id, 'replayed', `replayed: ${outcome.status}`);
  return { status: 'replayed', outcome: outcome.status };
}

/**
 * The replay of this flow for the `dead-letters replay` registry: `(id) => result`, for letters with transport `nats`
 * parked from `subject`. Publication is left to the running service's relays (they poll the outbox).
 */
export function createCorporateReplay(deps: {
  readonly pool: Pool;
  readonly logger: Logger;
  readonly clock?: () => Date;
  readonly newId: () => string;
  readonly subject?: string;
}): (id: string) => Promise<ReplayResult> {
  const register = createRegisterCorporateCustomer({ pool: deps.pool, clock: deps.clock ?? (() => new Date()), newId: deps.newId, logger: deps.logger });
  const handle = createCustomerRegisteredHandler(register, deps.logger);
  return (id) => replayCorporateDeadLetter({ pool: deps.pool, handle, ...(deps.subject === undefined ? {} : { subject: deps.subject }) }, id);
}

/**
 * The same replay as a handler of the shared `dead-letters replay` registry (`platform/dead-letter-replay.ts`), which
 * selects the letters and marks them resolved.
 */
export function corporateReplayHandler(deps: {
  readonly pool: Pool;
  readonly logger: Logger;
  readonly newId: () => string;
  readonly publishEmails?: boolean;
}): ReplayHandler {
  const register = createRegisterCorporateCustomer({
    pool: deps.pool,
    clock: () => new Date(),
    newId: deps.newId,
    logger: deps.logger,
    ...(deps.publishEmails === undefined ? {} : { publishEmails: deps.publishEmails }),
  });
  const handle = createCustomerRegisteredHandler(register, deps.logger);
  return async (letter) => {
    const outcome = await handle({
      subject: letter.source,
      data: letter.payload,
      headers: letter.headers,
      ...(letter.offset === null ? {} : { streamSequence: Number(letter.offset) }),
    });
    if (outcome.status === 'invalid') return { outcome: 'rejected', reasonCode: outcome.code, message: outcome.message };
    return { outcome: 'replayed', resolution: `replayed: ${outcome.status}` };
  };
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
