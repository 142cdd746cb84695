/**
 * The retry policy of the JetStream consumer (SPEC §2.4), against a real nats-server: NAK with the schedule's delay
 * for transient failures, park after the last retry, park at once for anything else, and keep slow messages alive.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInboundPipeline, type InboundMessage, type Settled } from '../../src/platform/inbound.js';
import { createJetStreamConsumer } from '../../src/platform/nats/consumer.js';
import { ensurePullConsumer, ensureStreams } from '../../src/platform/nats/streams.js';
import type { NewDeadLetter } from '../../src/platform/postgres/dead-letters.js';
import { eventually } from '../support/eventually.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';
import { testLogger } from '../support/run-logs.js';

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
const logger = testLogger();

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await server?.close();
});

const transient = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

let counter = 0;

/**
 * A stream + consumer of their own, a consumer whose inbound pipeline runs `handle`, and what it parked (recorded in
 * memory instead of the dead-letter store: this is about the transport's policy, not the store).
 */
async function consumerWith(handle: (message: InboundMessage) => Promise<Settled>, retryDelaysMs = [150, 300], instances = 1, batchSize?: number) {
  counter += 1;
  const subject = `policy-${counter}`;
  await ensureStreams(jsm, { stream: subject, subjects: [subject], create: true });
  await ensurePullConsumer(jsm, { stream: subject, durable: 'customer-service', subject, backoffMs: retryDelaysMs, maxDeliver: retryDelaysMs.length + 3 });
  const parked: NewDeadLetter[] = [];
  const create = () => createJetStreamConsumer({
    js: jetstream(nc),
    stream: subject,
    durable: 'customer-service',
    pipeline: createInboundPipeline({
      process: async (messages) => Promise.all(messages.map(handle)),
      park: (letters) => {
        parked.push(...letters);
        return Promise.resolve();
      },
      logger,
    }),
    retryDelaysMs,
    logger,
    spanName: 'consume_test_event',
    ...(batchSize === undefined ? {} : { batchSize }),
  });
  const running = Array.from({ length: instances }, create);
  for (const instance of running) instance.start();
  const consumer = { stop: () => Promise.all(running.map((instance) => instance.stop())) };
  const idle = () =>
    eventually(async () => {
      const info = await jsm.consumers.info(subject, 'customer-service');
      return info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq > 0;
    }, 'every message settled');
  const info = () => jsm.consumers.info(subject, 'customer-service');
  return { subject, parked, consumer, running, idle, info, publish: (body: string) => jetstream(nc).publish(subject, body) };
}

describe('JetStream consumer retry policy', () => {
  it('redelivers after a transient failure with the delay of the schedule, then succeeds', async () => {
    const deliveries: number[] = [];
    const setup = await consumerWith(() => {
      deliveries.push(Date.now());
      if (deliveries.length <= 2) throw transient();
      return Promise.resolve({ outcome: 'handled', resolution: 'processed' });
    });
    try {
      await setup.publish('{}');
      await setup.idle();
      expect(deliveries).toHaveLength(3);
      const [first = 0, second = 0, third = 0] = deliveries;
      // A NAK without a delay would redeliver at once.
      expect(second - first).toBeGreaterThanOrEqual(140);
      expect(third - second).toBeGreaterThanOrEqual(290);
      expect(setup.parked).toEqual([]);
    } finally {
      await setup.consumer.stop();
    }
  });

  it('parks the message as RETRIES_EXHAUSTED after the last retry, and acknowledges it', async () => {
    let deliveries = 0;
    const setup = await consumerWith(() => {
      deliveries += 1;
      throw transient();
    });
    try {
      await setup.publish('{"poison": true}');
      await setup.idle();
      expect(deliveries).toBe(3);
      expect(setup.parked).toHaveLength(1);
      expect(setup.parked[0]).toMatchObject({ transport: 'nats', source: setup.subject, reasonCode: 'RETRIES_EXHAUSTED', attempts: 3 });
      expect(setup.parked[0]?.payload.toString()).toBe('{"poison": true}');
    } finally {
      await setup.consumer.stop();
    }
  });

  it('parks a non-transient failure at once, without retrying', async () => {
    let deliveries = 0;
    const setup = await consumerWith(() => {
      deliveries += 1;
      throw new TypeError('a bug');
    });
    try {
      await setup.publish('{}');
      await setup.idle();
      expect(deliveries).toBe(1);
      expect(setup.parked[0]).toMatchObject({ reasonCode: 'PROCESSING_FAILED', errorMessage: 'a bug', attempts: 1 });
    } finally {
      await setup.consumer.stop();
    }
  });

  it('parks invalid input at once with its reason code', async () => {
    const setup = await consumerWith(() => Promise.resolve({ outcome: 'rejected', reasonCode: 'UNKNOWN_TIER', message: 'data.subscription_tier: must be one of …' }));
    try {
      await setup.publish('{}');
      await setup.idle();
      expect(setup.parked).toMatchObject([{ reasonCode: 'UNKNOWN_TIER', attempts: 1 }]);
    } finally {
      await setup.consumer.stop();
    }
  });

  it('keeps a message that takes longer than the ack wait from being redelivered', async () => {
    let deliveries = 0;
    // The first backoff step (here 1 s) is the ack wait; the handler takes 2.5 s. A second, idle instance would get
    // the message if it were redelivered.
    const setup = await consumerWith(async () => {
      deliveries += 1;
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      return { outcome: 'handled', resolution: 'processed' };
    }, [1000, 2000], 2);
    try {
      await setup.publish('{}');
      await setup.idle();
      expect(deliveries).toBe(1);
    } finally {
      await setup.consumer.stop();
    }
  });
});

/** A handler that holds each message until the test releases it: `held` lists the payloads in the order they came. */
function holding() {
  const held: string[] = [];
  const releases = new Map<string, () => void>();
  const handled: string[] = [];
  return {
    held,
    handled,
    handle: async (message: InboundMessage): Promise<Settled> => {
      const body = message.payload.toString();
      held.push(body);
      await new Promise<void>((resolve) => releases.set(body, resolve));
      handled.push(body);
      return { outcome: 'handled', resolution: 'processed' };
    },
    release: (...bodies: string[]) => {
      for (const body of bodies) releases.get(body)?.();
    },
  };
}

describe('JetStream consumer batches', () => {
  // The ack wait is the first step of the schedule (1 s): held messages live on their heartbeats.
  const schedule = [1000, 2000];

  it('fetches the next batch while one is being processed, with two batches in hand at most', async () => {
    const handler = holding();
    const setup = await consumerWith(handler.handle, schedule, 1, 2);
    try {
      for (const body of ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']) await setup.publish(body);
      // Fetched while m1 and m2 are still in hand.
      await eventually(() => Promise.resolve(handler.held.length >= 4), 'a second batch fetched during the first');
      expect(handler.held).toEqual(['m1', 'm2', 'm3', 'm4']);
      // No third batch until the first is settled, however long it takes (the heartbeats keep all four alive).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(handler.held).toEqual(['m1', 'm2', 'm3', 'm4']);
      expect((await setup.info()).num_ack_pending).toBe(4);
      handler.release('m1', 'm2');
      await eventually(() => Promise.resolve(handler.held.length === 6), 'the third batch fetched once the first is settled');
      handler.release('m3', 'm4', 'm5', 'm6');
      await setup.idle();
      expect(handler.handled).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
      expect(setup.parked).toEqual([]);
    } finally {
      handler.release(...handler.held);
      await setup.consumer.stop();
    }
  });

  it('settles both batches in hand before a stop resolves', async () => {
    const handler = holding();
    const setup = await consumerWith(handler.handle, schedule, 1, 2);
    for (const body of ['s1', 's2', 's3', 's4']) await setup.publish(body);
    await eventually(() => Promise.resolve(handler.held.length === 4), 'two batches in hand');
    let stopped = false;
    const stopping = setup.consumer.stop().then(() => (stopped = true));
    handler.release('s1', 's2');
    await eventually(async () => (await setup.info()).num_ack_pending === 2, 'the first batch acknowledged');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stopped).toBe(false);
    handler.release('s3', 's4');
    await stopping;
    // Acknowledged (with the server's confirmation) by the time stop() resolves.
    expect((await setup.info()).num_ack_pending).toBe(0);
    expect(handler.handled).toEqual(['s1', 's2', 's3', 's4']);
  });
});
