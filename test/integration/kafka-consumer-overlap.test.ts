/**
 * The batch consumer fetches a partition's next batch while the current one is being handled (issue 17). These
 * tests pin what that must not change: a partition's messages are handled in offset order, each once it succeeded,
 * with nothing skipped, also when a batch fails after the next one was already fetched; and offsets are committed
 * only for what was handled.
 */
import type { Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBatchConsumer, type BatchConsumer } from '../../src/platform/kafka/consumer.js';
import { eventually, offsetsOf, plainKafka, produce, silentLogger, testKafkaClient } from '../support/kafka.js';
import { kafkaDescription, sharedKafka, type TestKafka } from '../support/kafka-test-broker.js';

let broker: TestKafka;
let kafka: Kafka;
let producer: Producer;
const consumers: BatchConsumer[] = [];

beforeAll(async () => {
  broker = await sharedKafka({ 'overlap.in-order': 1, 'overlap.stop': 1 });
  kafka = plainKafka(broker.bootstrapServers);
  producer = kafka.producer();
  await producer.connect();
});
afterAll(async () => {
  await Promise.all(consumers.map((consumer) => consumer.stop()));
  await producer?.disconnect();
  await broker?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const numbered = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, index) => ({ partition: 0, key: 'k', value: String(from + index) }));

describe(`the batch consumer's overlap of fetch and handling [${kafkaDescription}]`, () => {
  it('handles a partition in offset order, nothing skipped, when a batch fails after the next one was fetched', async () => {
    const topic = 'overlap.in-order';
    const handled: number[] = [];
    const attempts = new Map<number, number>();
    let failing = true;
    const groupId = `overlap-order-${Date.now()}`;
    // Two record batches waiting (two produce requests), and fetches small enough to bring one each: the first is
    // handed over with more waiting, so the second is fetched while the first is in hand.
    await produce(producer, topic, numbered(0, 20));
    await produce(producer, topic, numbered(20, 40));
    const consumer = createBatchConsumer({
      kafka: testKafkaClient(broker.bootstrapServers),
      groupId,
      topic,
      logger: silentLogger,
      retryBackoffMs: [300],
      fetchMaxBytes: 1,
      handle: async (messages) => {
        const values = messages.map((message) => Number(message.value?.toString()));
        for (const value of values) attempts.set(value, (attempts.get(value) ?? 0) + 1);
        if (values.includes(5) && failing) {
          // Long enough for the next batch (20–39) to be fetched behind this one; then fail.
          await sleep(1_500);
          failing = false;
          throw new Error('transient failure');
        }
        handled.push(...values);
      },
      onRetriesExhausted: () => Promise.reject(new Error('nothing should run out of retries here')),
    });
    consumers.push(consumer);
    consumer.start();
    await eventually(() => handled.length, (count) => count >= 40, { what: 'all 40 messages handled' });
    await sleep(500);

    // The failed batch was tried twice; the batch fetched behind it was not handled before it.
    expect(handled).toEqual(Array.from({ length: 40 }, (_, index) => index));
    expect(attempts.get(5)).toBe(2);
    await eventually(async () => (await offsetsOf(kafka, groupId, topic))[0]?.committed, (committed) => committed === '40', {
      what: 'offset 40 committed',
    });
  });

  it('on stop, finishes the batch in hand and commits exactly what was handled', async () => {
    const topic = 'overlap.stop';
    const groupId = `overlap-stop-${Date.now()}`;
    const handled: number[] = [];
    let inHand = 0;
    const consumer = createBatchConsumer({
      kafka: testKafkaClient(broker.bootstrapServers),
      groupId,
      topic,
      logger: silentLogger,
      retryBackoffMs: [300],
      maxBatchSize: 10,
      // Two record batches, one a fetch: the first is handed over with the second waiting.
      fetchMaxBytes: 1,
      handle: async (messages) => {
        inHand += 1;
        await sleep(400);
        handled.push(...messages.map((message) => Number(message.value?.toString())));
        inHand -= 1;
      },
      onRetriesExhausted: () => Promise.resolve(),
    });
    await produce(producer, topic, numbered(0, 50));
    await produce(producer, topic, numbered(50, 100));
    consumer.start();
    await consumer.joined();
    await eventually(() => handled.length >= 10 && inHand > 0, (inProgress) => inProgress, { what: 'a chunk in hand' });
    await consumer.stop();

    expect(inHand).toBe(0);
    expect(handled.length).toBeLessThan(100);
    expect(handled).toEqual(Array.from({ length: handled.length }, (_, index) => index));
    expect((await offsetsOf(kafka, groupId, topic))[0]?.committed).toBe(String(handled.length));
  });
});
