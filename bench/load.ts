/**
 * Offered load and observed output on Kafka: `UserRegistered` events produced to the input topic (as fast as the
 * producer goes, or at a fixed rate, each stamped with the moment it is sent), and every `CustomerRegistered` read
 * back from the output topic with the broker timestamp the relay's producer gave it.
 */
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { v4 as uuidv4 } from 'uuid';
import { createUserRegisteredGenerator, type GeneratedUserRegistered } from '../src/individual-customers/user-registered.generator.js';

export interface LoadShape {
  /** Events to send, duplicates and invalid ones included. */
  readonly events: number;
  /** Share of events that are redeliveries of an earlier event (same eventId). */
  readonly duplicateShare: number;
  /** Share of events that fail the schema (an invalid e-mail). */
  readonly invalidShare: number;
}

export interface SentLoad {
  readonly firstSentAt: number;
  readonly lastSentAt: number;
  readonly sent: number;
  /** Distinct valid users: the customers the run must end with. */
  readonly expectedCustomers: number;
  readonly invalid: number;
}

type Envelope = GeneratedUserRegistered;

export interface Load {
  readonly producer: Producer;
  /** Sends one `UserActivated` per user, as fast as the producer goes; returns when each was sent (epoch ms). */
  activate(userIds: readonly string[], onProgress?: (sent: number) => void): Promise<Map<string, number>>;
  /** Sends `shape.events` as fast as the producer goes (`rate` undefined) or at `rate` events per second. */
  send(shape: LoadShape, rate?: number, onProgress?: (sent: number) => void): Promise<SentLoad>;
  close(): Promise<void>;
}

export async function connectLoad(brokers: readonly string[], topic: string): Promise<Load> {
  const kafka = new Kafka({ clientId: 'bench-load', brokers: [...brokers], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const earlier: Envelope[] = [];
  let stamp = Date.now();
  const generate = createUserRegisteredGenerator({ clock: () => new Date(stamp) });

  function next(now: number, shape: LoadShape): { value: string; key: string; valid: boolean; fresh: boolean } {
    const roll = Math.random();
    if (roll < shape.duplicateShare && earlier.length > 0) {
      const again = earlier[Math.floor(Math.random() * earlier.length)] as Envelope;
      return { value: JSON.stringify(again), key: again.payload.userId, valid: true, fresh: false };
    }
    stamp = now;
    const event = generate();
    if (roll < shape.duplicateShare + shape.invalidShare) {
      const broken = { ...event, payload: { ...event.payload, email: 'not-an-email' } };
      return { value: JSON.stringify(broken), key: event.payload.userId, valid: false, fresh: false };
    }
    if (earlier.length < 10_000) earlier.push(event);
    return { value: JSON.stringify(event), key: event.payload.userId, valid: true, fresh: true };
  }

  return {
    producer,
    async send(shape, rate, onProgress) {
      let sent = 0;
      let expectedCustomers = 0;
      let invalid = 0;
      const firstSentAt = Date.now();
      const batch = (count: number) => {
        const now = Date.now();
        const messages = [];
        for (let i = 0; i < count; i += 1) {
          const message = next(now, shape);
          if (message.fresh) expectedCustomers += 1;
          if (!message.valid) invalid += 1;
          messages.push({ key: message.key, value: message.value, headers: { 'content-type': 'application/json' } });
        }
        sent += count;
        return producer.send({ topic, acks: -1, messages });
      };
      if (rate === undefined) {
        // Full speed: a few batches of 1,000 in flight keep the producer busy without unbounded buffering.
        const inFlight = new Set<Promise<unknown>>();
        while (sent < shape.events) {
          const request = batch(Math.min(1000, shape.events - sent));
          inFlight.add(request);
          void request.finally(() => inFlight.delete(request));
          if (inFlight.size >= 4) await Promise.race(inFlight);
          onProgress?.(sent);
        }
        await Promise.all(inFlight);
      } else {
        // Fixed rate: a small batch every tick, each event stamped when its batch is sent.
        const tickMs = 10;
        const started = Date.now();
        const pending: Promise<unknown>[] = [];
        while (sent < shape.events) {
          const due = Math.min(shape.events, Math.floor(((Date.now() - started) / 1000) * rate));
          if (due > sent) pending.push(batch(due - sent));
          onProgress?.(sent);
          await new Promise((resolve) => setTimeout(resolve, tickMs));
        }
        await Promise.all(pending);
      }
      return { firstSentAt, lastSentAt: Date.now(), sent, expectedCustomers, invalid };
    },
    async activate(userIds, onProgress) {
      const sentAt = new Map<string, number>();
      const inFlight = new Set<Promise<unknown>>();
      for (let index = 0; index < userIds.length; index += 1000) {
        const now = Date.now();
        const timestamp = new Date(now).toISOString();
        const messages = userIds.slice(index, index + 1000).map((userId) => {
          sentAt.set(userId, now);
          return userActivatedMessage(userId, timestamp);
        });
        const request = producer.send({ topic, acks: -1, messages });
        inFlight.add(request);
        void request.finally(() => inFlight.delete(request));
        if (inFlight.size >= 4) await Promise.race(inFlight);
        onProgress?.(Math.min(userIds.length, index + 1000));
      }
      await Promise.all(inFlight);
      return sentAt;
    },
    close: () => producer.disconnect(),
  };
}

/** A `UserActivated` for `userId` as the identity service sends it: keyed by the user, stamped `timestamp`. */
export function userActivatedMessage(userId: string, timestamp: string): { key: string; value: string; headers: Record<string, string> } {
  return {
    key: userId,
    value: JSON.stringify({
      eventId: uuidv4(),
      eventType: 'UserActivated',
      eventVersion: '1.0',
      timestamp,
      aggregateId: userId,
      aggregateType: 'User',
      correlationId: uuidv4(),
      payload: { userId, activatedAt: timestamp, activationMethod: 'EMAIL_VERIFICATION' },
    }),
    headers: { 'content-type': 'application/json', eventType: 'UserActivated' },
  };
}

export interface Published {
  readonly eventType: string;
  readonly customerId: string;
  readonly userId: string;
  /** Broker timestamp: when the relay produced it. */
  readonly publishedAt: number;
  /** The input event's timestamp (the customer's registeredAt). */
  readonly registeredAt: number;
}

export interface OutputWatch {
  /** CustomerRegistered events. */
  readonly received: Published[];
  /** CustomerActivated events. */
  readonly activated: Published[];
  close(): Promise<void>;
}

/** Reads every `CustomerRegistered` on `topic` from the beginning, with a consumer group of its own. */
export async function watchOutput(brokers: readonly string[], topic: string): Promise<OutputWatch> {
  const kafka = new Kafka({ clientId: 'bench-watch', brokers: [...brokers], logLevel: logLevel.NOTHING });
  const consumer: Consumer = kafka.consumer({ groupId: `bench-${uuidv4()}`, maxBytes: 32 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const received: Published[] = [];
  const activated: Published[] = [];
  await consumer.run({
    partitionsConsumedConcurrently: 8,
    eachBatch: ({ batch }) => {
      for (const message of batch.messages) {
        const event = JSON.parse(message.value?.toString() ?? '{}') as {
          eventType?: string;
          payload?: { customerId?: string; userId?: string; registeredAt?: string };
        };
        const published = {
          eventType: event.eventType ?? '',
          customerId: event.payload?.customerId ?? '',
          userId: event.payload?.userId ?? '',
          publishedAt: Number(message.timestamp),
          registeredAt: Date.parse(event.payload?.registeredAt ?? ''),
        };
        (published.eventType === 'CustomerActivated' ? activated : received).push(published);
      }
      return Promise.resolve();
    },
  });
  return { received, activated, close: () => consumer.disconnect() };
}
