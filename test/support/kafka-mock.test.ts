import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startKafkaMock, type KafkaMock } from './kafka-mock.js';

let mock: KafkaMock;
beforeAll(async () => {
  mock = await startKafkaMock({ topics: { 'kafka-mock-test': 2 } });
});
afterAll(() => mock?.stop());

it('serves produce and consumer-group consume to kafkajs', async () => {
  const kafka = new Kafka({ clientId: 'kafka-mock-test', brokers: mock.bootstrapServers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  // The mock delays a group's first join by 3 s; maxWaitTimeInMs keeps disconnect() fast.
  const consumer = kafka.consumer({ groupId: `kafka-mock-test-${Date.now()}`, maxWaitTimeInMs: 100 });
  try {
    await producer.connect();
    await producer.send({
      topic: 'kafka-mock-test',
      acks: -1,
      messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
    });

    const received: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: 'kafka-mock-test', fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: ({ message }) => {
          received.push(message.value?.toString() ?? '');
          if (received.length === 10) resolve();
          return Promise.resolve();
        },
      });
    });
    expect(received.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`).sort());
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
});

it('simulates an outage with brokersDown/brokersUp', async () => {
  const kafka = new Kafka({
    clientId: 'kafka-mock-test',
    brokers: mock.bootstrapServers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 1, initialRetryTime: 50 },
  });
  const producer = kafka.producer();
  await producer.connect();
  try {
    await mock.brokersDown();
    await expect(producer.send({ topic: 'kafka-mock-test', messages: [{ value: 'lost' }] })).rejects.toThrow();
    await mock.brokersUp();
    await producer.send({ topic: 'kafka-mock-test', messages: [{ value: 'ok' }] });
  } finally {
    await producer.disconnect();
  }
});
