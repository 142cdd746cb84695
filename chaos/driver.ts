/**
 * The driver offers registrations of both flows through every way in (individual over Kafka, corporate over
 * JetStream, both over HTTP), with redeliveries, re-sends, activations and poison messages mixed in, and writes down
 * in the ledger what it offered and what each transport answered. It retries what a transport did not acknowledge,
 * as a real producer would: an input counts as accepted once the broker acknowledged it or the API answered 2xx.
 */
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import { connect as connectNats } from '@nats-io/transport-node';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { v4 as uuidv4 } from 'uuid';
import { userActivated, userRegistered } from '../test/support/events.js';
import { uniqueEvent } from '../test/support/corporate.js';
import { malformed } from './malformed.js';
import { INPUT_TOPIC, type Instance } from './cluster.js';
import { random } from './schedule.js';

export type Transport = 'kafka' | 'nats' | 'http';
export type Flow = 'individual' | 'corporate' | 'activation';
export type Variant = 'new' | 'redelivery' | 'resend' | 'poison';

export interface Offer {
  readonly id: number;
  readonly transport: Transport;
  readonly flow: Flow;
  readonly variant: Variant;
  /** The user id (individual, activation) or the CloudEvent (source, subject, id) of a corporate input. */
  readonly key: string;
  readonly body: string | Buffer;
  readonly cloudEvent?: { readonly source: string; readonly subject?: string; readonly id: string };
  /** accepted: acknowledged (broker) or 2xx (HTTP); rejected: a 4xx with a reason; failed: no final answer. */
  outcome?: 'accepted' | 'rejected' | 'failed';
  /** HTTP status and problem code, when HTTP answered. */
  answer?: string;
  attempts: number;
}

export interface DriverOptions {
  readonly seed: number;
  readonly inputs: number;
  readonly ratePerSecond: number;
  readonly bootstrapServers: readonly string[];
  readonly natsUrl: string;
  readonly instances: readonly Instance[];
  readonly log: (line: string) => void;
}

export interface Driver {
  /** Resolves when every input was offered and every transport gave its final answer. */
  readonly done: Promise<void>;
  readonly ledger: readonly Offer[];
  offered(): number;
  stop(): Promise<void>;
}

const NATS_SUBJECT = 'customer-registered';

export async function startDriver(options: DriverOptions): Promise<Driver> {
  const next = random(options.seed ^ 0x5eed);
  const ledger: Offer[] = [];
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;

  const kafka = new Kafka({ clientId: 'chaos-driver', brokers: [...options.bootstrapServers], logLevel: logLevel.NOTHING, requestTimeout: 5_000, retry: { retries: 3 } });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const nc = await connectNats({ servers: options.natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const js = jetstream(nc, { timeout: 5_000 });

  const offer = (transport: Transport, flow: Flow, variant: Variant, key: string, body: string | Buffer, cloudEvent?: Offer['cloudEvent']): Offer => {
    const entry: Offer = { id: ledger.length, transport, flow, variant, key, body, ...(cloudEvent === undefined ? {} : { cloudEvent }), attempts: 0 };
    ledger.push(entry);
    return entry;
  };

  // What may be redelivered, re-sent or activated: valid inputs offered earlier, per transport.
  const sentUsers: Offer[] = [];
  const acceptedKafkaUsers: string[] = [];
  const sentCompanies: Offer[] = [];
  const month = () => `2026-0${1 + Math.floor(next() * 3)}-1${Math.floor(next() * 10)}T10:30:01Z`;

  const individual = (transport: Transport): Offer => {
    const roll = next();
    const earlier = sentUsers.filter((entry) => entry.transport === transport);
    if (roll < 0.07 && earlier.length > 0) {
      const again = pick(earlier);
      return offer(transport, 'individual', 'redelivery', again.key, again.body);
    }
    if (roll < 0.11 && earlier.length > 0) {
      const again = pick(earlier);
      return offer(transport, 'individual', 'resend', again.key, JSON.stringify(userRegistered({ userId: again.key, timestamp: month() })));
    }
    if (roll < 0.15) return poison(transport, 'individual');
    if (roll < 0.2 && transport === 'kafka' && acceptedKafkaUsers.length > 0) {
      const userId = pick(acceptedKafkaUsers);
      return offer(transport, 'activation', 'new', userId, JSON.stringify(userActivated(userId)));
    }
    const event = userRegistered({ timestamp: month() });
    const entry = offer(transport, 'individual', 'new', event.payload.userId, JSON.stringify(event));
    sentUsers.push(entry);
    return entry;
  };

  const corporate = (transport: Transport): Offer => {
    const roll = next();
    const earlier = sentCompanies.filter((entry) => entry.transport === transport);
    if (roll < 0.07 && earlier.length > 0) {
      const again = pick(earlier);
      return offer(transport, 'corporate', 'redelivery', again.key, again.body, again.cloudEvent);
    }
    if (roll < 0.11 && earlier.length > 0) {
      const again = pick(earlier);
      const event: Record<string, unknown> = { ...(JSON.parse(again.body.toString()) as Record<string, unknown>), id: `evt-resend-${uuidv4()}` };
      const cloudEvent = { source: String(event.source), subject: again.cloudEvent?.subject, id: String(event.id) } as Offer['cloudEvent'];
      return offer(transport, 'corporate', 'resend', again.key, JSON.stringify(event), cloudEvent);
    }
    if (roll < 0.15) return poison(transport, 'corporate');
    const event = uniqueEvent({ users: 1 + Math.floor(next() * 3) });
    const cloudEvent = { source: event.source, ...(event.subject === undefined ? {} : { subject: event.subject }), id: event.id };
    const entry = offer(transport, 'corporate', 'new', event.subject ?? event.id, JSON.stringify(event), cloudEvent);
    sentCompanies.push(entry);
    return entry;
  };

  /** A message no flow can accept (chaos/malformed.ts); the checker finds it among the dead letters by its marker. */
  const poison = (transport: Transport, flow: 'individual' | 'corporate'): Offer => {
    const bad = malformed(flow, next);
    return offer(transport, flow, 'poison', bad.marker, bad.body);
  };

  // Per transport, a queue of offers waiting for their first (or next) attempt.
  const queues: Record<Transport, Offer[]> = { kafka: [], nats: [], http: [] };
  let stopping = false;
  let generated = 0;

  const generate = async () => {
    const perTick = Math.max(1, Math.round(options.ratePerSecond / 20));
    while (generated < options.inputs && !stopping) {
      for (let i = 0; i < perTick && generated < options.inputs; i += 1, generated += 1) {
        const roll = next();
        const transport: Transport = roll < 0.6 ? 'kafka' : roll < 0.85 ? 'nats' : 'http';
        const flow = transport === 'kafka' ? 'individual' : transport === 'nats' ? 'corporate' : next() < 0.5 ? 'individual' : 'corporate';
        queues[transport].push(flow === 'individual' ? individual(transport) : corporate(transport));
      }
      await sleep(50);
    }
  };

  const kafkaWorker = async (worker: Producer) => {
    while (!stopping) {
      const batch = queues.kafka.splice(0, 500);
      if (batch.length === 0) {
        if (generated >= options.inputs) return;
        await sleep(20);
        continue;
      }
      for (;;) {
        for (const entry of batch) entry.attempts += 1;
        try {
          await worker.send({ topic: INPUT_TOPIC, acks: -1, messages: batch.map((entry) => ({ key: entry.key, value: entry.body })) });
          for (const entry of batch) {
            entry.outcome = 'accepted';
            if (entry.flow === 'individual' && entry.variant !== 'poison') acceptedKafkaUsers.push(entry.key);
          }
          break;
        } catch {
          if (stopping) return;
          await sleep(250);
        }
      }
    }
  };

  const natsWorker = async (client: JetStreamClient) => {
    while (!stopping) {
      const batch = queues.nats.splice(0, 64);
      if (batch.length === 0) {
        if (generated >= options.inputs) return;
        await sleep(20);
        continue;
      }
      await Promise.all(batch.map((entry) => publishUntilAcknowledged(client, entry, () => stopping)));
    }
  };

  const httpWorker = async () => {
    while (!stopping) {
      const entry = queues.http.shift();
      if (entry === undefined) {
        if (generated >= options.inputs) return;
        await sleep(20);
        continue;
      }
      await postUntilAnswered(entry, options.instances, next, () => stopping);
    }
  };

  let last = 0;
  const progress = setInterval(() => {
    const accepted = ledger.filter((entry) => entry.outcome !== undefined).length;
    options.log(`offered ${generated}/${options.inputs}, answered ${accepted} (+${accepted - last}); waiting kafka ${queues.kafka.length}, nats ${queues.nats.length}, http ${queues.http.length}`);
    last = accepted;
  }, 5_000);

  const done = Promise.all([generate(), kafkaWorker(producer), natsWorker(js), ...Array.from({ length: 8 }, httpWorker)]).then(() => clearInterval(progress));
  return {
    done,
    ledger,
    offered: () => generated,
    stop: async () => {
      stopping = true;
      clearInterval(progress);
      await producer.disconnect().catch(() => undefined);
      await closeNats(nc);
    },
  };
}

async function publishUntilAcknowledged(js: JetStreamClient, entry: Offer, stopping: () => boolean): Promise<void> {
  for (;;) {
    entry.attempts += 1;
    try {
      const hdrs = natsHeaders();
      hdrs.set('content-type', 'application/cloudevents+json');
      // Poison carries its marker in a header too: some poison has none in its bytes.
      if (entry.variant === 'poison') hdrs.set('x-chaos-marker', entry.key);
      await js.publish(NATS_SUBJECT, typeof entry.body === 'string' ? new TextEncoder().encode(entry.body) : entry.body, { headers: hdrs, timeout: 5_000 });
      entry.outcome = 'accepted';
      return;
    } catch {
      if (stopping()) return;
      await sleep(250);
    }
  }
}

/** POSTs to a live instance until an answer that is not 5xx; 5xx and lost connections are retried, as clients do. */
async function postUntilAnswered(entry: Offer, instances: readonly Instance[], next: () => number, stopping: () => boolean): Promise<void> {
  const contentType = entry.flow === 'corporate' ? 'application/cloudevents+json' : 'application/json';
  for (let attempt = 0; attempt < 120 && !stopping(); attempt += 1) {
    const live = instances.filter((instance) => instance.alive());
    const target = live[Math.floor(next() * live.length)];
    if (target === undefined) {
      await sleep(250);
      continue;
    }
    entry.attempts += 1;
    try {
      const response = await fetch(`http://127.0.0.1:${target.port}/api/v1/events`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: entry.body,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await response.text();
      const code = /"code"\s*:\s*"([A-Z_]+)"/.exec(text)?.[1];
      entry.answer = `${response.status}${code === undefined ? '' : ` ${code}`}`;
      if (response.status < 300) {
        entry.outcome = 'accepted';
        return;
      }
      if (response.status < 500 && response.status !== 429) {
        entry.outcome = 'rejected';
        return;
      }
    } catch {
      // refused, reset or timed out: the instance is down or frozen behind a frozen database
    }
    await sleep(250);
  }
  entry.outcome = 'failed';
}

async function closeNats(nc: NatsConnection): Promise<void> {
  await Promise.race([nc.close(), sleep(2_000)]).catch(() => undefined);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
