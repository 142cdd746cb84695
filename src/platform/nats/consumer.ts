/**
 * A durable JetStream pull consumer: the JetStream adapter of the inbound pipeline (`platform/inbound.ts`), with the
 * retry policy of SPEC §2.4. The pipeline handles, ignores or parks each message (then: ack); a failure it throws is
 * - transient: NAK with the next delay of the schedule (a plain NAK would redeliver at once), and once the schedule
 *   is exhausted, parked (`RETRIES_EXHAUSTED`, or the error's own reason) and acked;
 * - anything else: parked at once (`PROCESSING_FAILED`) and acked.
 * If parking itself fails, the message is NAKed again: it is never acked unrecorded.
 *
 * A consumer with a backoff list has its ack wait set to the first step (1 s), so a message being processed is kept
 * alive with `working()` heartbeats; each message starts its heartbeat the moment it is received.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { isTransientFailure, ParkingFailedError, type InboundMessage, type InboundPipeline } from '../inbound.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { contextFromTraceContext, traceContextFromHeaders } from '../telemetry/index.js';

export interface JetStreamConsumerOptions {
  readonly js: JetStreamClient;
  readonly stream: string;
  readonly durable: string;
  /** The flow's inbound pipeline. */
  readonly pipeline: Pick<InboundPipeline, 'handle' | 'parkFailed'>;
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
    // Every message received and not yet settled (settle never throws): a stop waits for all of them.
    const unsettled = new Set<Promise<void>>();
    const track = (settling: Promise<void>) => {
      unsettled.add(settling);
      void settling.finally(() => unsettled.delete(settling));
      return settling;
    };
    try {
      while (running) {
        try {
          const consumer = await options.js.consumers.get(options.stream, options.durable);
          // The batch before the one being fetched. The next fetch overlaps a batch's transaction instead of waiting
          // for it to be settled: two batches in hand at most (each message keeps its own heartbeat), and the use
          // case runs them in the order they came (its group commit queues the second behind the first).
          let previous: Promise<unknown> = Promise.resolve();
          while (running) {
            const batch = await consumer.fetch({ max_messages: batchSize, expires: 1_000 });
            const inHand: Promise<void>[] = [];
            for await (const message of batch) inHand.push(track(settle(message)));
            await previous;
            previous = Promise.all(inHand);
            failures = 0;
          }
        } catch (error) {
          // What was received before the failure is settled before anything is fetched again.
          await Promise.all(unsettled);
          if (!running) break;
          failures += 1;
          const retryInMs = Math.min(10_000, 250 * 2 ** Math.min(failures, 6));
          options.logger.warn({ err: error, stream: options.stream, consumer: options.durable, retryInMs }, 'JetStream fetch failed; will retry');
          await new Promise((resolve) => setTimeout(resolve, retryInMs));
        }
      }
    } finally {
      // A stop settles what is in hand.
      await Promise.all(unsettled);
    }
  }

  async function settle(message: JsMsg): Promise<void> {
    const heartbeat = setInterval(() => message.working(), heartbeatMs);
    const headers = headersOf(message);
    const inbound: InboundMessage = {
      transport: 'nats',
      source: message.subject,
      offset: String(message.seq),
      headers,
      payload: Buffer.from(message.data),
      deliveries: message.info.deliveryCount,
    };
    const deliveryCount = message.info.deliveryCount;
    // The trace context every transport reads the same way (the OpenTelemetry propagator); a CloudEvent's own
    // distributed-tracing extension, when the flow finds one, continues it in the flow's spans.
    const parent = contextFromTraceContext(traceContextFromHeaders(headers));
    try {
      await tracer.startActiveSpan(options.spanName, {}, parent, async (span) => {
        span.setAttributes({
          'messaging.system': 'nats',
          'messaging.destination.name': message.subject,
          'messaging.nats.stream_sequence': message.seq,
          'messaging.nats.delivery_count': deliveryCount,
        });
        try {
          await settleWithin(message, inbound, deliveryCount);
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR });
          throw error;
        } finally {
          span.end();
        }
      });
    } catch (error) {
      options.logger.error({ err: error, seq: message.seq }, 'could not settle a JetStream message');
    } finally {
      clearInterval(heartbeat);
    }
  }

  async function settleWithin(message: JsMsg, inbound: InboundMessage, deliveryCount: number): Promise<void> {
    try {
      await options.pipeline.handle([inbound]);
    } catch (error) {
      if (error instanceof ParkingFailedError) {
        redeliverLater(message, error);
        return;
      }
      const transient = isTransientFailure(error);
      const delay = options.retryDelaysMs[deliveryCount - 1];
      if (transient && delay !== undefined) {
        options.metrics?.retries.inc({ transport: 'nats' });
        options.logger.warn({ err: error, seq: message.seq, delivery: deliveryCount, retryInMs: delay }, 'transient failure; redelivering later');
        message.nak(delay);
        return;
      }
      try {
        await options.pipeline.parkFailed(inbound, { error, transient, attempts: deliveryCount });
      } catch (parkError) {
        redeliverLater(message, parkError);
        return;
      }
    }
    await message.ackAck();
  }

  function redeliverLater(message: JsMsg, error: unknown): void {
    const retryInMs = options.retryDelaysMs.at(-1) ?? 1_000;
    options.logger.error({ err: error, seq: message.seq, retryInMs }, 'could not park a message; redelivering later');
    message.nak(retryInMs);
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
