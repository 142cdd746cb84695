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
  const publishOne = (message: PendingMessage) => {
    const headers = natsHeaders();
    for (const [name, value] of Object.entries(message.headers)) headers.set(name, value);
    return options.js.publish(options.subject, encoder.encode(message.payload), {
      msgID: message.eventId,
      headers,
      timeout: options.timeoutMs ?? 5_000,
    });
  };
  return (messages) =>
    tracer.startActiveSpan(options.spanName, async (span) => {
      span.setAttributes({ 'messaging.system': 'nats', 'messaging.destination.name': options.subject, 'messaging.batch.message_count': messages.length });
      try {
        await publishInAggregateOrder(messages, publishOne);
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    });
}

/**
 * Sends a batch with its acks awaited together, except that a message waits for the ack of the one before it of the
 * same aggregate. The stream stores what it acknowledges, whatever failed before it in the batch (a message it
 * refuses, a timeout): were a later message of an aggregate sent before an earlier one's ack, a failure of the earlier
 * one would leave the later stored ahead of it, and the relay's retry of the batch would store the earlier one behind
 * it. Chained per aggregate, a failure holds back the rest of its aggregate instead. After the first failure nothing
 * more is sent (the relay retries the whole batch; the stream drops what it already has as duplicates); it is thrown
 * once the sends in flight have settled.
 */
async function publishInAggregateOrder<M extends Pick<PendingMessage, 'aggregateId'>>(messages: readonly M[], send: (message: M) => Promise<unknown>): Promise<void> {
  const chains = new Map<string, M[]>();
  for (const message of messages) {
    const chain = chains.get(message.aggregateId);
    if (chain === undefined) chains.set(message.aggregateId, [message]);
    else chain.push(message);
  }
  let failure: { readonly error: unknown } | undefined;
  await Promise.all(
    [...chains.values()].map(async (chain) => {
      for (const message of chain) {
        if (failure !== undefined) return;
        try {
          await send(message);
        } catch (error) {
          failure ??= { error };
          return;
        }
      }
    }),
  );
  if (failure !== undefined) throw failure.error;
}
