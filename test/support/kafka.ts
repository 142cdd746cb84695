/** Helpers for tests against the Kafka-protocol mock broker with the real client (kafkajs). */
import { Kafka, logLevel, type IHeaders, type Producer } from 'kafkajs';
import { createKafkaClient, headersOf, type KafkaClient } from '../../src/platform/kafka/client.js';
import { testLogger } from './run-logs.js';

/** The service's logger into the run's log directory (see run-logs.ts); the name is older than that. */
export const silentLogger = testLogger();

export function testKafkaClient(brokers: readonly string[], clientId = 'customer-service-test'): KafkaClient {
  return createKafkaClient({ brokers, clientId }, silentLogger);
}

/** A plain client for the test's own producing and checking, independent of the code under test. */
export function plainKafka(brokers: readonly string[]): Kafka {
  return new Kafka({ clientId: 'test-harness', brokers: [...brokers], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
}

export interface OutgoingMessage {
  readonly key?: string | null;
  readonly value: string | Buffer | null;
  readonly headers?: IHeaders;
  readonly partition?: number;
}

export async function produce(producer: Producer, topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
  for (let index = 0; index < messages.length; index += 500) {
    await producer.send({ topic, acks: -1, messages: messages.slice(index, index + 500).map((message) => ({ ...message })) });
  }
}

export interface ReadMessage {
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: string;
  readonly headers: Record<string, string>;
}

/** Reads every message of `topic` from the beginning until `count` have arrived (fresh group, nothing committed). */
export async function readTopic(kafka: Kafka, topic: string, count: number, timeoutMs = 30_000): Promise<ReadMessage[]> {
  const consumer = kafka.consumer({ groupId: `reader-${topic}-${Date.now()}-${Math.random()}`, maxWaitTimeInMs: 100 });
  const messages: ReadMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${messages.length} of ${count} messages from ${topic}`)), timeoutMs);
      void consumer.run({
        autoCommit: false,
        eachMessage: ({ partition, message }) => {
          messages.push({
            partition,
            offset: message.offset,
            key: message.key?.toString() ?? null,
            value: message.value?.toString() ?? '',
            headers: headersOf(message.headers),
          });
          if (messages.length >= count) {
            clearTimeout(timer);
            resolve();
          }
          return Promise.resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

/** For each partition of `topic`: the group's committed offset and the end of the partition. */
export async function offsetsOf(kafka: Kafka, groupId: string, topic: string): Promise<{ partition: number; committed: string; end: string }[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const ends = await admin.fetchTopicOffsets(topic);
    return ends
      .map((end) => ({
        partition: end.partition,
        committed: committed?.partitions.find((item) => item.partition === end.partition)?.offset ?? '-1',
        end: end.high,
      }))
      .sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}

/** Messages in `topic` so far (the sum of its partitions' end offsets). */
export async function topicSize(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, partition) => sum + Number(partition.high), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Resolves when `condition` holds, polling; fails with `describe()` after `timeoutMs`. */
export async function eventually<T>(
  probe: () => T | Promise<T>,
  condition: (value: T) => boolean,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (condition(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? 'a condition'}; last value: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
