/**
 * Wires the corporate flow to NATS JetStream: the streams, the durable `customer-registered` consumer, and the two
 * outbox relays (`customer-saved` to NATS_SUBJECT, `user-saved` to its subject). Used by `serve` and by Job mode.
 */
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConfig } from '../config.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { connectNats, type NatsConnection } from '../platform/nats/connection.js';
import { createJetStreamConsumer, type JetStreamConsumer } from '../platform/nats/consumer.js';
import { createJetStreamPublisher } from '../platform/nats/publisher.js';
import { ensurePullConsumer, ensureStreams } from '../platform/nats/streams.js';
import type { Pool } from '../platform/postgres/database.js';
import { createOutboxRelay, type OutboxRelay } from '../platform/postgres/outbox-relay.js';
import { createWakeSignal, type WakeSignal } from '../platform/wake-signal.js';
import { customerRegisteredPipeline } from './customer-registered.nats.js';
import type { RegisterCorporateCustomer } from './register-corporate-customer.js';
import type { OutboxDeclaration } from '../platform/postgres/outbox.js';
import { CUSTOMER_SAVED, USER_SAVED } from './outbox.js';

/**
 * Finds (or creates, unless NATS_ENSURE_STREAM=false) the streams of the flow's subjects; returns subject → stream.
 * `publishOnly` (Job mode, the publisher) skips customer-registered, which may well be core NATS only there.
 */
export async function ensureCorporateStreams(
  nc: NatsConnection,
  config: NatsConfig,
  options: { readonly publishOnly?: boolean } = {},
): Promise<Map<string, string>> {
  const jsm = await jetstreamManager(nc);
  const { customerRegistered, customerSaved, userSaved } = config.subjects;
  const subjects = options.publishOnly === true ? [customerSaved, userSaved] : [customerRegistered, customerSaved, userSaved];
  return ensureStreams(jsm, { stream: config.stream, subjects, create: config.ensureStream });
}

export interface CorporateRelaysOptions {
  readonly pool: Pool;
  readonly js: JetStreamClient;
  readonly config: NatsConfig;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly wake?: { readonly customerSaved: WakeSignal; readonly userSaved: WakeSignal };
}

/** The relays of `customer-saved` and `user-saved`. */
export function createCorporateRelays(options: CorporateRelaysOptions): { readonly customerSaved: OutboxRelay; readonly userSaved: OutboxRelay } {
  // The relay opens the per-message publish_* spans of SPEC §6; the publisher's span covers one batch sent.
  const relay = (declaration: OutboxDeclaration, subject: string, wake: WakeSignal) =>
    createOutboxRelay({
      pool: options.pool,
      ...declaration,
      publish: createJetStreamPublisher({ js: options.js, subject, spanName: `send ${subject}` }),
      wake,
      logger: options.logger,
      onPublished: (messages) => options.metrics?.outboxPublished.inc({ destination: declaration.destination }, messages.length),
    });
  return {
    customerSaved: relay(CUSTOMER_SAVED, options.config.subjects.customerSaved, options.wake?.customerSaved ?? createWakeSignal()),
    userSaved: relay(USER_SAVED, options.config.subjects.userSaved, options.wake?.userSaved ?? createWakeSignal()),
  };
}

export interface CorporateNatsOptions {
  readonly config: NatsConfig;
  readonly pool: Pool;
  readonly register: RegisterCorporateCustomer;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Notified by the use case after each commit (see `onCommitted`). */
  readonly wake: { readonly customerSaved: WakeSignal; readonly userSaved: WakeSignal };
  /** Connection name, e.g. to tell instances apart in `nats server report connections`. */
  readonly name?: string;
}

export interface CorporateNats {
  readonly connection: NatsConnection;
  stop(): Promise<void>;
}

/** Connects, ensures streams and the consumer, and starts the consumer and both relays. */
export async function startCorporateNats(options: CorporateNatsOptions): Promise<CorporateNats> {
  const { config } = options;
  const nc = await connectNats(config, { reconnect: true, ...(options.name === undefined ? {} : { name: options.name }) });
  let consumer: JetStreamConsumer;
  let relays: ReturnType<typeof createCorporateRelays>;
  try {
    const streams = await ensureCorporateStreams(nc, config);
    const stream = streams.get(config.subjects.customerRegistered) ?? config.stream;
    const jsm = await jetstreamManager(nc);
    await ensurePullConsumer(jsm, {
      stream,
      durable: config.consumer,
      subject: config.subjects.customerRegistered,
      backoffMs: config.retryDelaysMs,
      maxDeliver: config.maxDeliver,
    });
    const js = jetstream(nc);
    consumer = createJetStreamConsumer({
      js,
      stream,
      durable: config.consumer,
      pipeline: customerRegisteredPipeline({
        register: options.register,
        pool: options.pool,
        logger: options.logger,
        ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      }),
      retryDelaysMs: config.retryDelaysMs,
      // The messages of one fetch register in one transaction (group commit): 256 per fetch instead of 32 (issue 17).
      batchSize: 256,
      logger: options.logger,
      spanName: 'consume_customer_registered_event',
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    });
    relays = createCorporateRelays({ pool: options.pool, js, config, logger: options.logger, wake: options.wake, ...(options.metrics === undefined ? {} : { metrics: options.metrics }) });
  } catch (error) {
    await nc.close();
    throw error;
  }
  consumer.start();
  relays.customerSaved.start();
  relays.userSaved.start();
  options.logger.info({ servers: config.servers, stream: config.stream, consumer: config.consumer }, 'NATS JetStream consumer and relays started');
  return {
    connection: nc,
    stop: async () => {
      await consumer.stop();
      await Promise.all([relays.customerSaved.stop(), relays.userSaved.stop()]);
      await nc.drain().catch(() => nc.close());
    },
  };
}
