/**
 * One Kafka client under the same workload (`bench/kafka-clients/run.ts` starts one process per client, so each
 * process's memory is that client's): the relay's shape out, the consumer's shape in.
 *
 * 1. produce: `--events` messages of ~1 KB JSON, keyed, three headers, in sends of 500 awaited one after the other,
 *    acks=all, idempotent producer (as the outbox relay sends);
 * 2. consume: the same messages in a consumer group, offsets committed manually after each batch (as the service's
 *    consumer does), from the first message produced to the last consumed;
 * 3. latency: a consumer running while 1,000 messages/s are produced for `--rate-seconds` (sends of 10 every 10 ms);
 *    latency = time consumed - time the message was handed to send(), p50/p99/max;
 * peak RSS sampled every 50 ms over the whole process. Prints one JSON line.
 *
 * Plain JavaScript: the clients are loaded from wherever they are installed (`--module-dir`), and two of them are
 * not dependencies of the service. Written by hand because no benchmark tool drives these three client APIs alike.
 */
import { randomUUID } from 'node:crypto';
import process from 'node:process';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval, setTimeout } from 'node:timers';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const { values: args } = parseArgs({
  options: {
    client: { type: 'string' },
    brokers: { type: 'string' },
    topic: { type: 'string' },
    'latency-topic': { type: 'string' },
    events: { type: 'string', default: '50000' },
    rate: { type: 'string', default: '1000' },
    'rate-seconds': { type: 'string', default: '10' },
    'module-dir': { type: 'string' },
  },
});
const brokers = args.brokers.split(',');
const events = Number(args.events);
const BATCH = 500;

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);
sampler.unref();

const padding = 'x'.repeat(700);
function message(sentAt) {
  const id = randomUUID();
  return {
    key: id,
    value: JSON.stringify({ eventId: id, eventType: 'CustomerRegistered', sentAt, payload: { customerId: id, email: `${id}@example.com`, padding } }),
    headers: { eventId: id, eventType: 'CustomerRegistered', traceparent: `00-${id.replace(/-/g, '')}-${id.slice(0, 16).replace(/-/g, '0')}-01` },
  };
}

async function load(name) {
  const dir = args['module-dir'];
  const entries = {
    kafkajs: 'kafkajs/index.js',
    platformatic: '@platformatic/kafka/dist/index.js',
    confluent: '@confluentinc/kafka-javascript/lib/index.js',
  };
  if (dir === undefined) return import(name === 'kafkajs' ? 'kafkajs' : entries[name]);
  return import(pathToFileURL(path.join(dir, 'node_modules', entries[name])).href);
}

/** A client adapter: produce(messages), consume(topic, onBatch) → stop(). */
async function adapter(name) {
  if (name === 'kafkajs' || name === 'confluent') {
    const module = await load(name);
    const lib = name === 'kafkajs' ? (module.default ?? module) : (module.default ?? module).KafkaJS;
    const kafka =
      name === 'kafkajs'
        ? new lib.Kafka({ clientId: 'bench', brokers, logLevel: lib.logLevel.NOTHING })
        : new lib.Kafka({ kafkaJS: { clientId: 'bench', brokers, logLevel: lib.logLevel.NOTHING } });
    const producer =
      name === 'kafkajs'
        ? kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
        : kafka.producer({ kafkaJS: { idempotent: true, acks: -1 }, 'linger.ms': 0 });
    await producer.connect();
    return {
      produce: (topic, messages) => producer.send({ topic, ...(name === 'kafkajs' ? { acks: -1 } : {}), messages }),
      async consume(topic, groupId, onBatch) {
        const consumer =
          name === 'kafkajs'
            ? kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false })
            : kafka.consumer({ kafkaJS: { groupId, fromBeginning: true, autoCommit: false } });
        await consumer.connect();
        await consumer.subscribe(name === 'kafkajs' ? { topic, fromBeginning: true } : { topics: [topic] });
        await consumer.run({
          ...(name === 'kafkajs' ? { autoCommit: false, eachBatchAutoResolve: true, partitionsConsumedConcurrently: 4 } : { partitionsConsumedConcurrently: 4 }),
          eachBatch: async ({ batch }) => {
            const last = batch.messages[batch.messages.length - 1];
            onBatch(batch.messages.map((m) => m.value.toString()));
            await consumer.commitOffsets([{ topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
          },
        });
        return () => consumer.disconnect();
      },
      close: () => producer.disconnect(),
    };
  }
  if (name === 'platformatic') {
    const lib = await load(name);
    const producer = new lib.Producer({ clientId: 'bench', bootstrapBrokers: brokers, serializers: lib.stringSerializers, idempotent: true, acks: lib.ProduceAcks.ALL });
    return {
      produce: (topic, messages) => producer.send({ messages: messages.map((m) => ({ topic, key: m.key, value: m.value, headers: new Map(Object.entries(m.headers)) })) }),
      async consume(topic, groupId, onBatch) {
        const consumer = new lib.Consumer({ clientId: 'bench', groupId, bootstrapBrokers: brokers, deserializers: lib.stringDeserializers, maxWaitTime: 100 });
        const stream = await consumer.consume({ topics: [topic], mode: lib.MessagesStreamModes.EARLIEST, autocommit: false });
        // The stream hands messages one by one; commit (manually) every 500 or when it goes quiet, as batches.
        let pending = [];
        const flush = async () => {
          if (pending.length === 0) return;
          const batch = pending;
          pending = [];
          onBatch(batch.map((m) => m.value));
          await batch[batch.length - 1].commit();
        };
        const timer = setInterval(() => void flush(), 20);
        stream.on('data', (m) => {
          pending.push(m);
          if (pending.length >= BATCH) void flush();
        });
        return async () => {
          clearInterval(timer);
          await stream.close();
          await consumer.close(true);
        };
      },
      close: () => producer.close(),
    };
  }
  throw new Error(`unknown client ${name}`);
}

function percentile(sorted, p) {
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const client = await adapter(args.client);

// 1. produce
const all = Array.from({ length: events }, () => message(0));
const produceStart = performance.now();
for (let index = 0; index < all.length; index += BATCH) await client.produce(args.topic, all.slice(index, index + BATCH));
const produceSeconds = (performance.now() - produceStart) / 1000;

// 2. consume
let consumed = 0;
const consumeStart = performance.now();
let consumeEnd = 0;
const stopConsuming = await client.consume(args.topic, `bench-${randomUUID()}`, (values) => {
  consumed += values.length;
  if (consumed >= events && consumeEnd === 0) consumeEnd = performance.now();
});
while (consumeEnd === 0) await new Promise((resolve) => setTimeout(resolve, 20));
await stopConsuming();
const consumeSeconds = (consumeEnd - consumeStart) / 1000;

// 3. latency at a fixed rate
const latencies = [];
const stopLatency = await client.consume(args['latency-topic'], `bench-${randomUUID()}`, (values) => {
  const now = Date.now();
  for (const value of values) latencies.push(now - JSON.parse(value).sentAt);
});
const rate = Number(args.rate);
const total = rate * Number(args['rate-seconds']);
const perTick = Math.max(1, Math.round(rate / 100));
const rateStart = Date.now();
for (let sent = 0; sent < total; sent += perTick) {
  const due = rateStart + (sent / rate) * 1000;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const now = Date.now();
  await client.produce(args['latency-topic'], Array.from({ length: perTick }, () => message(now)));
}
const deadline = Date.now() + 30_000;
while (latencies.length < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
await stopLatency();
await client.close();
latencies.sort((a, b) => a - b);

process.stdout.write(
  `${JSON.stringify({
    client: args.client,
    node: process.version,
    produced: events,
    producePerSecond: Math.round(events / produceSeconds),
    consumed,
    consumePerSecond: Math.round(events / consumeSeconds),
    latency: { received: latencies.length, expected: total, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? null },
    peakRssMb: Math.round(peakRss / 2 ** 20),
  })}\n`,
);
process.exit(0);
