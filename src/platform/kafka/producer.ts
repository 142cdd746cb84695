/**
 * Publishes outbox messages to one topic: the `publish` of an outbox relay (`platform/postgres/outbox-relay.ts`).
 *
 * `acks: -1` (all in-sync replicas) and, by default, the idempotent producer: when the client resends a batch whose
 * acknowledgement it never saw (a dropped connection, a leader change), the broker recognises the producer id and
 * sequence numbers and does not append it twice. That narrows duplicates to the outbox's own redelivery (a crash
 * between send and `published_at`, or a fresh producer after a failed send), which carries the same `eventId` for
 * consumers to dedupe on. `KAFKA_IDEMPOTENT_PRODUCER=false` turns it off for brokers that refuse it (older clusters
 * without the IdempotentWrite ACL, librdkafka's mock).
 *
 * Topics are never created from here (`allowAutoTopicCreation: false`, even where the broker would): a topic created
 * on first use gets the broker's default partitions and replication, not what the operators planned. A missing topic
 * fails the send; the rows stay in the outbox until it exists.
 *
 * Ordering: the relay hands over messages in outbox order and awaits each send, so messages of one key (one
 * aggregate) reach their partition in order.
 */
import { SpanKind, SpanStatusCode, trace, type Link } from '@opentelemetry/api';
import type { Producer } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { PendingMessage } from '../postgres/outbox-relay.js';
import type { KafkaClient } from './client.js';

const tracer = trace.getTracer('customer-service');
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface KafkaPublisherOptions {
  readonly kafka: KafkaClient;
  readonly topic: string;
  readonly logger: Logger;
  /** Name of the span around each batch sent (the per-message `publish_*` spans of SPEC §6 are the relay's). */
  readonly spanName: string;
  /** Time the broker has to acknowledge a send before it counts as failed. */
  readonly timeoutMs?: number;
  /** The idempotent producer (default true). */
  readonly idempotent?: boolean;
}

export interface KafkaPublisher {
  publish(messages: readonly PendingMessage[]): Promise<void>;
  disconnect(): Promise<void>;
}

export function createKafkaPublisher(options: KafkaPublisherOptions): KafkaPublisher {
  let producer: Producer | undefined;
  let connecting: Promise<Producer> | undefined;

  const connected = (): Promise<Producer> => {
    if (producer !== undefined) return Promise.resolve(producer);
    connecting ??= (async () => {
      // Our relay owns the longer retry schedule: fail a send quickly so the backlog, not a hidden queue, shows the outage.
      // Idempotence needs one request in flight per connection for kafkajs to keep the sequence numbers in order.
      const idempotent = options.idempotent ?? true;
      const created = options.kafka.producer({
        allowAutoTopicCreation: false,
        idempotent,
        ...(idempotent ? { maxInFlightRequests: 1 } : {}),
        retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2_000 },
      });
      try {
        await created.connect();
        producer = created;
        return created;
      } finally {
        connecting = undefined;
      }
    })();
    return connecting;
  };

  const reset = async () => {
    const current = producer;
    producer = undefined;
    await current?.disconnect().catch(() => undefined);
  };

  return {
    async publish(messages) {
      if (messages.length === 0) return;
      const links: Link[] = messages.flatMap((message) => {
        const match = TRACEPARENT.exec(message.headers.traceparent ?? '');
        return match === null
          ? []
          : [{ context: { traceId: match[1] as string, spanId: match[2] as string, traceFlags: parseInt(match[3] as string, 16), isRemote: true } }];
      });
      await tracer.startActiveSpan(
        options.spanName,
        {
          kind: SpanKind.PRODUCER,
          links,
          attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': options.topic, 'messaging.batch.message_count': messages.length },
        },
        async (span) => {
          try {
            const current = await connected();
            await current.send({
              topic: options.topic,
              acks: -1,
              timeout: options.timeoutMs ?? 10_000,
              messages: messages.map((message) => ({ key: message.key, value: message.payload, headers: { ...message.headers } })),
            });
          } catch (error) {
            span.recordException(error as Error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
            // A fresh producer after a failure: kafkajs can keep stale broker connections around after an outage.
            await reset();
            throw error;
          } finally {
            span.end();
          }
        },
      );
    },
    async disconnect() {
      await connecting?.catch(() => undefined);
      await reset();
    },
  };
}
