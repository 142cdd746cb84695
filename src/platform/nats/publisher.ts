/**
 * Publishes outbox messages to one JetStream subject with `Nats-Msg-Id` = the event id, so a re-publish after a crash
 * or a failed batch is recognised as a duplicate by the stream (within its duplicate window). Plugs into the outbox
 * relay as its `publish`.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { PendingMessage } from '../postgres/outbox-relay.js';

const tracer = trace.getTracer('customer-service');

export interface JetStreamPublisherOptions {
  readonly js: JetStreamClient;
  readonly subject: string;
  /** Span of one batch sent, e.g. `send customer-saved` (the relay opens the per-message `publish_*` spans). */
  readonly spanName: string;
  readonly timeoutMs?: number;
}

export function createJetStreamPublisher(options: JetStreamPublisherOptions): (messages: readonly PendingMessage[]) => Promise<void> {
  const encoder = new TextEncoder();
  return (messages) =>
    tracer.startActiveSpan(options.spanName, async (span) => {
      span.setAttributes({ 'messaging.system': 'nats', 'messaging.destination.name': options.subject, 'messaging.batch.message_count': messages.length });
      try {
        // Sent in order on one connection, so the stream stores them in order; the acks are awaited together.
        await Promise.all(
          messages.map((message) => {
            const headers = natsHeaders();
            for (const [name, value] of Object.entries(message.headers)) headers.set(name, value);
            return options.js.publish(options.subject, encoder.encode(message.payload), {
              msgID: message.eventId,
              headers,
              timeout: options.timeoutMs ?? 5_000,
            });
          }),
        );
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    });
}
