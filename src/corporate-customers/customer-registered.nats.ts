/**
 * NATS entry point of the corporate flow: `customer-registered` messages (structured or binary CloudEvents) through
 * the use case, as the flow's `process` of the shared inbound pipeline (`platform/inbound.ts`), which settles them
 * (ack, park) and replays parked ones through the same path.
 */
import type { ReplayHandler } from '../platform/dead-letter-replay.js';
import { createInboundPipeline, parkIn, type InboundMessage, type InboundPipeline, type Settled } from '../platform/inbound.js';
import { decodeCloudEvent } from '../platform/nats/cloudevent-message.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { Pool } from '../platform/postgres/database.js';
import { traceContextFromHeaders } from '../platform/telemetry/index.js';
import { parseCustomerRegistered } from './customer-registered.schema.js';
import { CUSTOMER_REGISTERED_TYPE } from './domain/events.js';
import { createRegisterCorporateCustomer, type RegisterCorporateCustomer } from './register-corporate-customer.js';

/** Decodes each message and registers it; the outcomes in order. Throws transient failures (the use case's). */
export function customerRegisteredProcess(register: RegisterCorporateCustomer): (messages: readonly InboundMessage[], replayOf?: string) => Promise<Settled[]> {
  const processOne = async (message: InboundMessage, replayOf: string | undefined): Promise<Settled> => {
    const decoded = decodeCloudEvent(message.headers, message.payload);
    if (!decoded.ok) return { outcome: 'rejected', reasonCode: decoded.error.code, message: decoded.error.message };
    const event = decoded.value;
    if (event.type !== CUSTOMER_REGISTERED_TYPE) return { outcome: 'ignored', eventType: event.type, eventId: event.id };
    const parsed = parseCustomerRegistered(event);
    if (!parsed.ok) return { outcome: 'rejected', reasonCode: parsed.error.code, message: parsed.error.message, eventId: event.id, eventType: event.type };
    // The CloudEvent's own distributed-tracing extension, when valid, wins over the message headers.
    const carried = traceContextFromHeaders({ ...event.extensions });
    const trace = carried.traceparent === undefined ? traceContextFromHeaders(message.headers) : carried;
    const result = await register({
      registration: parsed.value,
      trace,
      source: {
        transport: message.transport,
        subject: message.source,
        ...(message.offset === undefined ? {} : { streamSequence: Number(message.offset) }),
        ...(replayOf === undefined ? {} : { replayOfDeadLetter: replayOf }),
      },
    });
    // The use case has written the outcome line.
    switch (result.outcome) {
      case 'created':
        return { outcome: 'handled', resolution: `replayed: processed` };
      case 'duplicate':
        return { outcome: 'handled', resolution: `replayed: duplicate` };
      case 'rejected':
        return { outcome: 'rejected', reasonCode: result.error.code, message: result.error.message, eventId: event.id, eventType: event.type };
      default:
        return assertNever(result);
    }
  };
  return async (messages, replayOf) => {
    const settled: Settled[] = [];
    // One at a time, in order: a company's registration may depend on the one before it (an e-mail moving over).
    for (const message of messages) settled.push(await processOne(message, replayOf));
    return settled;
  };
}

/** The flow's inbound pipeline: live JetStream messages and the replay of parked ones. */
export function customerRegisteredPipeline(deps: {
  readonly register: RegisterCorporateCustomer;
  readonly pool: Pool;
  readonly logger: Logger;
  readonly metrics?: Metrics;
}): InboundPipeline {
  return createInboundPipeline({
    process: customerRegisteredProcess(deps.register),
    park: parkIn(deps.pool),
    logger: deps.logger,
    ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
  });
}

/**
 * The replay of parked NATS letters of the corporate flow for the shared `dead-letters replay` registry
 * (`platform/dead-letter-replay.ts`), which selects the letters and marks them resolved. Publication is left to the
 * running service's relays (they poll the outbox).
 */
export function corporateReplayHandler(deps: {
  readonly pool: Pool;
  readonly logger: Logger;
  readonly newId: () => string;
  readonly publishEmails?: boolean;
  readonly metrics?: Metrics;
}): ReplayHandler {
  const register = createRegisterCorporateCustomer({
    pool: deps.pool,
    clock: () => new Date(),
    newId: deps.newId,
    logger: deps.logger,
    ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
    ...(deps.publishEmails === undefined ? {} : { publishEmails: deps.publishEmails }),
  });
  return customerRegisteredPipeline({ register, pool: deps.pool, logger: deps.logger }).replay;
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
