/**
 * A durable JetStream pull consumer with the retry policy of SPEC §2.4, transport mechanics only: the flow supplies
 * `handle`. Outcomes:
 * - processed, duplicate or ignored: ack;
 * - invalid input: parked in the dead-letter store at once with its reason code, then ack;
 * - a transient failure: NAK with the next delay of the schedule (a plain NAK would redeliver at once), and once the
 *   schedule is exhausted, parked (`RETRIES_EXHAUSTED`) and acked; any other failure is parked at once
 *   (`PROCESSING_FAILED`). If parking itself fails, the message is NAKed again: it is never acked unrecorded.
 *
 * A consumer with a backoff list has its ack wait set to the first step (1 s), so a message being processed is kept
 * alive with `working()` heartbeats; each message starts its heartbeat the moment it is received.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { context, propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { NewDeadLetter } from '../postgres/dead-letters.js';
import { logOutcome } from '../outcome-log.js';

export interface InboundMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Header names lower-cased; the first value of each. */
  readonly headers: Readonly<Record<string, string>>;
  readonly streamSequence: number;
  readonly deliveryCount: number;
}

export type HandleOutcome =
  | { readonly status: 'processed' | 'duplicate' }
  | { readonly status: 'ignored'; readonly eventType?: string }
  | { readonly status: 'invalid'; readonly code: string; readonly message: string; readonly messageId?: string };

export interface JetStreamConsumerOptions {
  readonly js: JetStreamClient;
  readonly stream: string;
  readonly durable: string;
  readonly handle: (message: InboundMessage) => Promise<HandleOutcome>;
  readonly park: (letter: NewDeadLetter) => Promise<void>;
  readonly isTransient: (error: unknown) => boolean;
  /** NAK delays after transient failures; their count is the number of retries. */
  readonly retryDelaysMs: readonly number[];
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Span of one message (SPEC §6), e.g. `consume_customer_registered_event`. */
  readonly spanName: string;
  /** Messages fetched and processed at once. */
  readonly batchSize?: number;
  readonly heartbeatMs?: number;
}

export interface JetStreamConsumer {
  start(): void;
  /** Stops fetching and waits for the messages in hand to be settled. */
  stop(): Promise<void>;
}

const tracer = trace.getTracer('customer-service');

export function createJetStreamConsumer(options: JetStreamConsumerOptions): JetStreamConsumer {
  const batchSize = options.batchSize ?? 32;
  const heartbeatMs = options.heartbeatMs ?? 300;
  let running = false;
  let loop: Promise<void> | undefined;

  async function run(): Promise<void> {
    let failures = 0;
    while (running) {
      try {
        const consumer = await options.js.consumers.get(options.stream, options.durable);
        while (running) {
          const batch = await consumer.fetch({ max_messages: batchSize, expires: 1_000 });
          const inHand: Promise<void>[] = [];
          for await (const message of batch) inHand.push(settle(message));
          await Promise.all(inHand);
          failures = 0;
        }
      } catch (error) {
        if (!running) break;
        failures += 1;
        const retryInMs = Math.min(10_000, 250 * 2 ** Math.min(failures, 6));
        options.logger.warn({ err: error, stream: options.stream, consumer: options.durable, retryInMs }, 'JetStream fetch failed; will retry');
        await new Promise((resolve) => setTimeout(resolve, retryInMs));
      }
    }
  }

  async function settle(message: JsMsg): Promise<void> {
    const heartbeat = setInterval(() => message.working(), heartbeatMs);
    const inbound: InboundMessage = {
      subject: message.subject,
      data: message.data,
      headers: headersOf(message),
      streamSequence: message.seq,
      deliveryCount: message.info.deliveryCount,
    };
    const parent = propagation.extract(context.active(), inbound.headers);
    try {
      await tracer.startActiveSpan(options.spanName, {}, parent, async (span) => {
        span.setAttributes({
          'messaging.system': 'nats',
          'messaging.destination.name': inbound.subject,
          'messaging.nats.stream_sequence': inbound.streamSequence,
          'messaging.nats.delivery_count': inbound.deliveryCount,
        });
        try {
          await settleWithin(message, inbound);
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR });
          throw error;
        } finally {
          span.end();
        }
      });
    } catch (error) {
      options.logger.error({ err: error, seq: inbound.streamSequence }, 'could not settle a JetStream message');
    } finally {
      clearInterval(heartbeat);
    }
  }

  async function settleWithin(message: JsMsg, inbound: InboundMessage): Promise<void> {
    let outcome: HandleOutcome;
    try {
      outcome = await options.handle(inbound);
    } catch (error) {
      await onFailure(message, inbound, error);
      return;
    }
    if (outcome.status === 'invalid') {
      await parkOrNak(message, inbound, { code: outcome.code, message: outcome.message, messageId: outcome.messageId });
      return;
    }
    if (outcome.status === 'ignored') options.metrics?.ignoredEvents.inc({ transport: 'nats', event_type: outcome.eventType ?? 'unknown' });
    await message.ackAck();
  }

  async function onFailure(message: JsMsg, inbound: InboundMessage, error: unknown): Promise<void> {
    const transient = options.isTransient(error);
    const delay = options.retryDelaysMs[inbound.deliveryCount - 1];
    if (transient && delay !== undefined) {
      options.metrics?.retries.inc({ transport: 'nats' });
      options.logger.warn(
        { err: error, seq: inbound.streamSequence, delivery: inbound.deliveryCount, retryInMs: delay },
        'transient failure; redelivering later',
      );
      message.nak(delay);
      return;
    }
    await parkOrNak(message, inbound, {
      code: transient ? 'RETRIES_EXHAUSTED' : 'PROCESSING_FAILED',
      message: error instanceof Error ? error.message : String(error),
    });
  }

  async function parkOrNak(
    message: JsMsg,
    inbound: InboundMessage,
    reason: { readonly code: string; readonly message: string; readonly messageId?: string | undefined },
  ): Promise<void> {
    try {
      await options.park({
        transport: 'nats',
        source: inbound.subject,
        offset: String(inbound.streamSequence),
        headers: inbound.headers,
        payload: Buffer.from(inbound.data),
        messageId: reason.messageId ?? inbound.headers['nats-msg-id'] ?? null,
        reasonCode: reason.code,
        errorMessage: reason.message,
        attempts: inbound.deliveryCount,
      });
    } catch (error) {
      const retryInMs = options.retryDelaysMs.at(-1) ?? 1_000;
      options.logger.error({ err: error, seq: inbound.streamSequence, retryInMs }, 'could not park a message; redelivering later');
      message.nak(retryInMs);
      return;
    }
    options.metrics?.deadLettered.inc({ transport: 'nats', reason: reason.code });
    // The same outcome line as every transport's (the Kafka consumer's `parked`), with the ids the message carries.
    const eventId = reason.messageId ?? inbound.headers['nats-msg-id'];
    logOutcome(
      options.logger,
      'parked',
      {
        transport: 'nats',
        reason: reason.code,
        error: reason.message,
        ...(eventId === undefined ? {} : { eventId }),
        subject: inbound.subject,
        seq: inbound.streamSequence,
        reasonCode: reason.code,
      },
      'message parked in dead letters',
    );
    await message.ackAck();
  }

  return {
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}

function headersOf(message: JsMsg): Record<string, string> {
  const result: Record<string, string> = {};
  const headers = message.headers;
  if (headers === undefined) return result;
  for (const name of headers.keys()) result[name.toLowerCase()] = headers.get(name);
  return result;
}
