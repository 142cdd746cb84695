/**
 * Publishes outbox messages to one topic: the `publish` of an outbox relay (`platform/postgres/outbox-relay.ts`).
 *
 * Plain produce with `acks: -1` (all in-sync replicas). Not the idempotent producer: the outbox already gives
 * at-least-once with a stable `eventId` (header and key) that consumers dedupe on, and the test broker does not
 * support it. Ordering: the relay hands over messages in outbox order and awaits each send, so messages of one
 * key (one aggregate) reach their partition in order.
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
}

export interface KafkaPublisher {
  /** The payload is the outbox's JSON text, or its encoded form (Avro: `KAFKA_VALUE_FORMAT=avro`). */
  publish(messages: readonly (Omit<PendingMessage, 'payload'> & { readonly payload: string | Buffer })[]): Promise<void>;
  disconnect(): Promise<void>;
}

export function createKafkaPublisher(options: KafkaPublisherOptions): KafkaPublisher {
  let producer: Producer | undefined;
  let connecting: Promise<Producer> | undefined;

  const connected = (): Promise<Producer> => {
    if (producer !== undefined) return Promise.resolve(producer);
    connecting ??= (async () => {
      // Our relay owns the longer retry schedule: fail a send quickly so the backlog, not a hidden queue, shows the outage.
      const created = options.kafka.producer({ allowAutoTopicCreation: true, retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2_000 } });
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
