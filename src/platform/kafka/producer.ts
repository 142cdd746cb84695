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
 * on first use gets the broker's default partitions and replication, not what the operators planned. A topic missing
 * since start fails the send as an outage: the rows stay in the outbox until it exists (deployments create topics
 * after or alongside the service).
 *
 * Refusals: when the broker answers that it will not take a message (too large, not authorised, invalid record,
 * policy) or the topic, once seen, is gone from the cluster's metadata, the send fails with `PublishRefusedError`;
 * the relay retries it along its schedule and then parks that message. Everything else (connection refused, timeouts,
 * leader elections, "this server does not host this topic-partition" during a leader change) is an outage and is
 * retried for as long as it lasts.
 *
 * Ordering: the relay hands over messages in outbox order and awaits each send, so messages of one key (one
 * aggregate) reach their partition in order.
 *
 * Every partition is checked off against the broker's answer. kafkajs 2.2.4 resolves a send that lost messages when a
 * partition's leader moved, during the send's retries, to a broker that had already answered for other partitions: it
 * never sends that partition again (seen in `kafka-leader-change.test.ts`). So this module assigns partitions itself
 * (kafkajs' default, Java-compatible partitioner over the topic's metadata) and resends what was not acknowledged.
 */
import { SpanKind, SpanStatusCode, trace, type Link } from '@opentelemetry/api';
import { Partitioners, type Admin, type Message, type PartitionMetadata, type Producer } from 'kafkajs';
import type { Logger } from '../logger.js';
import { PublishRefusedError, type PendingMessage } from '../postgres/outbox-relay.js';
import type { KafkaClient } from './client.js';

const tracer = trace.getTracer('customer-service');
const METADATA_MAX_AGE_MS = 60_000;
const PARTITION_ROUNDS = 3;
/** Kafka error types that refuse the message itself: retrying the same message cannot succeed. */
const REFUSALS: ReadonlySet<string> = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'POLICY_VIOLATION',
]);
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
  /** The payload is the outbox's JSON text, or its encoded form (Avro: `KAFKA_VALUE_FORMAT=avro`). */
  publish(messages: readonly (Omit<PendingMessage, 'payload'> & { readonly payload: string | Buffer })[]): Promise<void>;
  disconnect(): Promise<void>;
}

export function createKafkaPublisher(options: KafkaPublisherOptions): KafkaPublisher {
  let producer: Producer | undefined;
  let connecting: Promise<Producer> | undefined;
  let admin: Admin | undefined;
  let metadata: { partitions: PartitionMetadata[]; at: number } | undefined;
  // Whether the topic has existed since this publisher started: only then is "unknown topic" a refusal.
  let topicSeen = false;
  const partitionOf = Partitioners.DefaultPartitioner();

  /** The broker's refusal in `error` (or its causes) as a `PublishRefusedError`, or undefined for an outage. */
  const refusalIn = async (error: unknown): Promise<PublishRefusedError | undefined> => {
    const types: string[] = [];
    for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth += 1) {
      const type = (cause as { type?: unknown }).type;
      if (typeof type === 'string') types.push(type);
    }
    const type = types.find((candidate) => REFUSALS.has(candidate));
    if (type !== undefined) return new PublishRefusedError(type, `Kafka refused the message for ${options.topic}: ${type} (${errorMessage(error)})`, { cause: error });
    const unknownTopic = types.includes('UNKNOWN_TOPIC_OR_PARTITION') || (error instanceof Error && error.message.includes('has no partitions'));
    if (!unknownTopic || !topicSeen) return undefined;
    // A node that has not learnt of a topic yet (leader change, new broker) answers the same: ask the cluster.
    const exists = await topicExists().catch(() => true);
    return exists ? undefined : new PublishRefusedError('UNKNOWN_TOPIC', `Kafka topic ${options.topic} no longer exists (it did when the relay started)`, { cause: error });
  };

  const topicExists = async (): Promise<boolean> => {
    admin ??= options.kafka.admin();
    await admin.connect();
    return (await admin.listTopics()).includes(options.topic);
  };

  /** The topic's partitions, cached for a minute and dropped after a failure. A missing topic fails the send. */
  const partitions = async (): Promise<PartitionMetadata[]> => {
    if (metadata !== undefined && Date.now() - metadata.at < METADATA_MAX_AGE_MS) return metadata.partitions;
    admin ??= options.kafka.admin();
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata({ topics: [options.topic] });
    const found = topics[0]?.partitions ?? [];
    if (found.length === 0) throw new Error(`Kafka topic ${options.topic} has no partitions`);
    metadata = { partitions: found, at: Date.now() };
    topicSeen = true;
    return found;
  };

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
    metadata = undefined;
    await current?.disconnect().catch(() => undefined);
  };

  /** Sends `outgoing` (partitions assigned) until the broker has acknowledged every partition, for a few rounds. */
  const sendAll = async (current: Producer, outgoing: (Message & { partition: number })[]): Promise<void> => {
    let pending = outgoing;
    for (let round = 1; ; round += 1) {
      const results = await current.send({ topic: options.topic, acks: -1, timeout: options.timeoutMs ?? 10_000, messages: pending });
      const acknowledged = new Set(results.filter((result) => result.errorCode === 0).map((result) => result.partition));
      const missing = pending.filter((message) => !acknowledged.has(message.partition));
      if (missing.length === 0) return;
      const missingPartitions = [...new Set(missing.map((message) => message.partition))];
      if (round >= PARTITION_ROUNDS) {
        throw new Error(`Kafka did not acknowledge partitions ${missingPartitions.join(', ')} of ${options.topic} after ${round} sends`);
      }
      options.logger.warn({ topic: options.topic, partitions: missingPartitions, messages: missing.length }, 'send resolved without these partitions; sending them again');
      pending = missing;
    }
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
            const partitionMetadata = await partitions();
            const outgoing = messages.map((message) => {
              const record: Message = { key: message.key, value: message.payload, headers: keepingTraceparent(message.headers) };
              return { ...record, partition: partitionOf({ topic: options.topic, partitionMetadata, message: record }) };
            });
            await sendAll(current, outgoing);
          } catch (error) {
            span.recordException(error as Error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
            // A fresh producer after a failure: kafkajs can keep stale broker connections around after an outage.
            await reset();
            throw (await refusalIn(error)) ?? error;
          } finally {
            span.end();
          }
        },
      );
    },
    async disconnect() {
      await connecting?.catch(() => undefined);
      await reset();
      await admin?.disconnect().catch(() => undefined);
      admin = undefined;
    },
  };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A copy of a message's headers whose `traceparent` cannot be overwritten. It is the relay's publish span (a child of
 * the span that stored the event), which the consumer downstream continues (SPEC §6). The Kafka client's
 * instrumentation (platform/telemetry/instrumentations.ts) writes its own `send` span's context into every message it
 * sends, a span of the relay batch's trace, not the event's: that write is ignored (the send span stays in the batch's
 * trace). A message without a traceparent takes the instrumentation's.
 */
function keepingTraceparent(headers: Readonly<Record<string, string>>): Record<string, string> {
  const copy: Record<string, string> = { ...headers };
  const traceparent = headers.traceparent;
  if (traceparent === undefined) return copy;
  Object.defineProperty(copy, 'traceparent', { enumerable: true, get: () => traceparent, set: () => undefined });
  return copy;
}
