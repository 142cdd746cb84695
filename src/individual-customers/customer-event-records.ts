/**
 * How a customer event is written, by registration and activation alike: its event-store row and its `customer.events`
 * outbox message.
 */
import { newEventOf, type NewEvent } from '../platform/postgres/event-store.js';
import type { OutboxMessage } from '../platform/postgres/outbox.js';
import type { TraceContext } from '../platform/telemetry/index.js';
import type { CustomerEvent } from './domain/events.js';
import { CUSTOMER_EVENTS } from './outbox.js';

/**
 * The stored form of `event` at `streamVersion` of its customer's stream, with its ids, the trace context of the span
 * that produced it and the source of the input that caused it. `payload` replaces the envelope's when the store keeps
 * more than is published.
 */
export function storedCustomerEvent(
  event: CustomerEvent,
  streamVersion: number,
  cause: { readonly trace: TraceContext; readonly source?: Readonly<Record<string, unknown>> | undefined },
  payload: unknown = event.payload,
): NewEvent {
  const { trace, source } = cause;
  return newEventOf({ ...event, payload }, { streamType: 'Customer', streamId: event.aggregateId, streamVersion }, {
    correlationId: event.correlationId,
    causationId: event.causationId,
    ...(trace.traceparent === undefined ? {} : { traceparent: trace.traceparent }),
    ...(trace.tracestate === undefined ? {} : { tracestate: trace.tracestate }),
    ...(source === undefined ? {} : { source }),
  });
}

/**
 * The `customer.events` message of a customer event: keyed by the customer, with the headers of SPEC §4 "Kafka"
 * (the event's ids, the trace context of the span that produced it), the envelope as the payload.
 */
export function customerEventMessage(event: CustomerEvent, trace: TraceContext): OutboxMessage {
  return {
    eventId: event.eventId,
    destination: CUSTOMER_EVENTS.destination,
    aggregateId: event.aggregateId,
    key: event.aggregateId,
    headers: {
      eventType: event.eventType,
      eventId: event.eventId,
      correlationId: event.correlationId,
      causationId: event.causationId,
      ...(trace.traceparent === undefined ? {} : { traceparent: trace.traceparent }),
      'content-type': 'application/json',
    },
    payload: JSON.stringify(event),
  };
}
