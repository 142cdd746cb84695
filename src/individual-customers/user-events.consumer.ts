/**
 * Kafka entry point of the individual-customer flow: `identity.user.events` → registration (SPEC §4 "Kafka").
 *
 * The topic is shared with other identity events: `UserRegistered` is registered, any other `eventType` is ignored
 * and counted. Everything else that cannot be registered is parked at once with a reason code, the original bytes,
 * key, headers and position: bytes that are not JSON, a missing or non-string `eventType`, a payload failing the
 * schema, an unsupported major version, a message over the size limit. The same decoding and routing serve live
 * messages and the replay of parked ones, so a replay cannot behave differently from the first delivery.
 */
import { SpanKind, SpanStatusCode, trace, type Link } from '@opentelemetry/api';
import { decodeConfluentAvro, isConfluentAvro } from '../platform/avro/confluent-wire.js';
import type { SchemaRegistry } from '../platform/avro/schema-registry.js';
import type { KafkaInputMessage } from '../platform/kafka/client.js';
import { createBatchConsumer, type BatchConsumer, type BatchConsumerOptions, type RetryFailure } from '../platform/kafka/consumer.js';
import type { KafkaClient } from '../platform/kafka/client.js';
import type { Logger } from '../platform/logger.js';
import { createInboundPipeline, parkIn, PROCESSING_FAILED, ReasonedError, type InboundMessage, type Settled } from '../platform/inbound.js';
import { contextFromTraceContext, markFailed, traceContextFromHeaders, traceContextOfSpan, type TraceContext } from '../platform/telemetry/index.js';
import type { Metrics } from '../platform/metrics.js';
import type { Pool } from '../platform/postgres/database.js';
import { isTransientError } from '../platform/postgres/errors.js';
import type { ReplayHandler } from '../platform/dead-letter-replay.js';
import { v7 as uuidv7 } from 'uuid';
import {
  createActivateCustomers,
  type ActivateCustomerCommand,
  type ActivateCustomers,
  type ActivationResult,
} from './activate-customers.js';
import type { RegisterCustomer, RegisterCustomers, RegistrationResult } from './register-customers.js';
import { parseUserActivated, USER_ACTIVATED, type UserActivated } from './user-activated.schema.js';
import { parseUserRegistered, USER_REGISTERED, type UserRegistered } from './user-registered.schema.js';
import { parseJsonOrThrow } from '../platform/json.js';

/** Reason codes of this entry point beyond the schema's (see `platform/validation.ts`) and the pipeline's. */
export { RETRIES_EXHAUSTED, PROCESSING_FAILED } from '../platform/inbound.js';
/** An activation whose customer did not appear within the retry schedule (replaying it later applies it). */
export const CUSTOMER_NOT_FOUND = 'CUSTOMER_NOT_FOUND';

const tracer = trace.getTracer('customer-service');

export type DecodedUserEvent =
  | { readonly kind: 'register'; readonly event: UserRegistered; readonly trace: TraceContext }
  | { readonly kind: 'activate'; readonly event: UserActivated; readonly trace: TraceContext }
  | { readonly kind: 'ignore'; readonly eventType: string }
  | { readonly kind: 'invalid'; readonly reasonCode: string; readonly message: string; readonly eventId?: string; readonly eventType?: string };

/**
 * Decodes one message, JSON or, detected per message, the Confluent Avro wire format (through `registry`). Throws
 * only a transient failure of the registry; every other problem is a result.
 */
export async function decodeUserEventMessage(
  value: Buffer | null,
  headers: Readonly<Record<string, string>>,
  maxMessageBytes: number,
  registry: SchemaRegistry | undefined,
): Promise<DecodedUserEvent> {
  if (value === null || value.length > maxMessageBytes || !isConfluentAvro(value)) return decodeUserEvent(value, headers, maxMessageBytes);
  const decoded = await decodeConfluentAvro(value, registry);
  if (!decoded.ok) {
    return { kind: 'invalid', reasonCode: decoded.reasonCode, message: decoded.message, ...(headers.eventId === undefined ? {} : { eventId: headers.eventId }) };
  }
  return decodeUserEventBody(decoded.value, headers);
}

/** Decodes one JSON message; never throws. */
export function decodeUserEvent(value: Buffer | null, headers: Readonly<Record<string, string>>, maxMessageBytes: number): DecodedUserEvent {
  if (value === null || value.length === 0) {
    return { kind: 'invalid', reasonCode: 'MALFORMED_JSON', message: 'the message has no value' };
  }
  if (value.length > maxMessageBytes) {
    return { kind: 'invalid', reasonCode: 'PAYLOAD_TOO_LARGE', message: `${value.length} bytes exceed the limit of ${maxMessageBytes}` };
  }
  let body: unknown;
  try {
    body = parseJsonOrThrow(value.toString('utf8'));
  } catch (error) {
    return { kind: 'invalid', reasonCode: 'MALFORMED_JSON', message: `not JSON: ${(error as Error).message}` };
  }
  return decodeUserEventBody(body, headers);
}

/** Routes and validates a decoded value (from JSON or from Avro) on its `eventType`. */
function decodeUserEventBody(body: unknown, headers: Readonly<Record<string, string>>): DecodedUserEvent {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { kind: 'invalid', reasonCode: 'INVALID_TYPE', message: '(root): the message must be a JSON object' };
  }
  const { eventType, eventId } = body as { eventType?: unknown; eventId?: unknown };
  const id = typeof eventId === 'string' ? { eventId } : {};
  if (eventType === undefined) return { kind: 'invalid', reasonCode: 'MISSING_FIELD', message: 'eventType: is required', ...id };
  if (typeof eventType !== 'string' || eventType.trim() === '') {
    return { kind: 'invalid', reasonCode: 'INVALID_TYPE', message: 'eventType: must be a non-empty string', ...id };
  }
  if (eventType === USER_ACTIVATED) {
    const activation = parseUserActivated(body);
    if (!activation.ok) return { kind: 'invalid', reasonCode: activation.error.code, message: activation.error.message, eventType, ...id };
    return { kind: 'activate', event: activation.value, trace: traceContextFromHeaders(headers) };
  }
  if (eventType !== USER_REGISTERED) return { kind: 'ignore', eventType };
  const parsed = parseUserRegistered(body);
  if (!parsed.ok) return { kind: 'invalid', reasonCode: parsed.error.code, message: parsed.error.message, ...id };
  return { kind: 'register', event: parsed.value, trace: traceContextFromHeaders(headers) };
}

export interface UserEventsHandlerDeps {
  readonly register: RegisterCustomers;
  /** The activation use case; by default one on `pool` (its commits are then seen by the relay's and projector's polls). */
  readonly activate?: ActivateCustomers;
  readonly pool: Pool;
  readonly logger: Logger;
  readonly maxMessageBytes: number;
  readonly metrics?: Metrics;
  /** Decodes Confluent-framed Avro messages; without it they are parked `SCHEMA_NOT_FOUND`. */
  readonly schemaRegistry?: SchemaRegistry;
}

export interface UserEventsHandler {
  /** Registers, ignores or parks every message; throws (nothing parked for them) on a transient failure. */
  handle(messages: readonly KafkaInputMessage[]): Promise<void>;
  /** Parks a message whose transient failure outlasted the retry schedule. */
  parkExhausted(message: KafkaInputMessage, failure: RetryFailure): Promise<void>;
  /** Replays a parked Kafka message through the same decoding and registration. */
  replay: ReplayHandler;
}

/** The flow's `process` for the shared inbound pipeline (`platform/inbound.ts`), and the Kafka adapter around it. */
export function createUserEventsHandler(deps: UserEventsHandlerDeps): UserEventsHandler {
  const activate =
    deps.activate ??
    createActivateCustomers({
      pool: deps.pool,
      clock: () => new Date(),
      newId: () => uuidv7(),
      logger: deps.logger,
      ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
    });

  /** Decodes and registers `messages` as one batch; the outcomes come back in order. Throws on transient failures. */
  async function process(messages: readonly InboundMessage[], replayOf?: string): Promise<Settled[]> {
    const decoded = await Promise.all(
      messages.map((message) => decodeUserEventMessage(message.payload, message.headers, deps.maxMessageBytes, deps.schemaRegistry)),
    );
    const commands: RegisterCustomer[] = [];
    const activations: ActivateCustomerCommand[] = [];
    decoded.forEach((item, index) => {
      if (item.kind !== 'register' && item.kind !== 'activate') return;
      const message = messages[index] as InboundMessage;
      const source = {
        transport: 'kafka',
        topic: message.source,
        partition: message.partition,
        offset: message.offset,
        ...(replayOf === undefined ? {} : { replayOfDeadLetter: replayOf }),
      };
      if (item.kind === 'register') commands.push({ event: item.event, trace: item.trace, source });
      else activations.push({ event: item.event, trace: item.trace, source });
    });
    // One consume span per message, a child of the producer's traceparent: each registration is one trace across
    // services (SPEC §6). The use case's spans, the stored event and the published message continue from it.
    const spans = commands.map((command) =>
      tracer.startSpan(
        'consume_user_registered_event',
        {
          kind: SpanKind.CONSUMER,
          attributes: { 'messaging.system': 'kafka', 'messaging.message.id': command.event.eventId },
        },
        contextFromTraceContext(command.trace),
      ),
    );
    let results: RegistrationResult[];
    try {
      results = await registerAll(commands.map((command, index) => {
        const span = spans[index];
        return span === undefined ? command : { ...command, trace: traceContextOfSpan(span) };
      }));
    } catch (error) {
      for (const span of spans) markFailed(span, error);
      throw error;
    } finally {
      for (const span of spans) span.end();
    }
    // Activations after the registrations of the same messages, so a registration and its activation in one batch
    // apply in that order whatever their offsets.
    const activationResults = await activateAll(activations);
    let next = 0;
    let nextActivation = 0;
    return decoded.map((item, index): Settled => {
      switch (item.kind) {
        case 'ignore': {
          const eventId = messages[index]?.headers.eventId;
          return { outcome: 'ignored', eventType: item.eventType, ...(eventId === undefined ? {} : { eventId }) };
        }
        case 'invalid':
          if (item.eventType === USER_ACTIVATED && replayOf === undefined) deps.metrics?.customerActivated.inc({ status: 'rejected' });
          return {
            outcome: 'rejected',
            reasonCode: item.reasonCode,
            message: item.message,
            ...(item.eventId === undefined ? {} : { eventId: item.eventId }),
            ...(item.eventType === undefined ? {} : { eventType: item.eventType }),
          };
        case 'register':
          return outcomeOf(item.event, results[next++]);
        case 'activate':
          return activationOutcomeOf(item.event, activationResults[nextActivation++]);
        default:
          return assertNever(item);
      }
    });
  }

  /** Consumes activations in `consume_user_activated_event` spans (children of the producer's traceparent). */
  async function activateAll(commands: readonly ActivateCustomerCommand[]): Promise<ActivationResult[]> {
    if (commands.length === 0) return [];
    const spans = commands.map((command) =>
      tracer.startSpan(
        'consume_user_activated_event',
        { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'kafka', 'messaging.message.id': command.event.eventId } },
        contextFromTraceContext(command.trace),
      ),
    );
    try {
      return await activate(commands.map((command, index) => {
        const span = spans[index];
        return span === undefined ? command : { ...command, trace: traceContextOfSpan(span) };
      }));
    } catch (error) {
      if (isTransientError(error) || commands.length > 1) {
        for (const span of spans) markFailed(span, error);
        throw error;
      }
      return [{ outcome: 'failed', error, transient: false }];
    } finally {
      for (const span of spans) span.end();
    }
  }

  function activationOutcomeOf(event: UserActivated, result: ActivationResult | undefined): Settled {
    if (result === undefined) throw new Error('activation returned fewer results than commands');
    switch (result.outcome) {
      case 'activated':
      case 'duplicate':
        return { outcome: 'handled', resolution: `${result.outcome} customer ${result.customer.customerId}` };
      case 'customer-not-found':
        // Usually the registration is not there yet: retried on the schedule, parked as CUSTOMER_NOT_FOUND after it.
        throw new ReasonedError(CUSTOMER_NOT_FOUND, `no customer for user ${event.payload.userId} (yet)`);
      case 'failed':
        if (result.transient) throw result.error;
        return { outcome: 'rejected', reasonCode: PROCESSING_FAILED, message: describe(result.error), eventId: event.eventId, eventType: event.eventType };
      default:
        return assertNever(result);
    }
  }

  async function registerAll(commands: readonly RegisterCustomer[]): Promise<RegistrationResult[]> {
    if (commands.length === 0) return [];
    try {
      return await deps.register(commands);
    } catch (error) {
      // The use case throws transient failures of the batch, and any failure of a batch of one.
      if (isTransientError(error) || commands.length > 1) throw error;
      return [{ outcome: 'failed', error, transient: false }];
    }
  }

  function outcomeOf(event: UserRegistered, result: RegistrationResult | undefined): Settled {
    const eventId = event.eventId;
    if (result === undefined) throw new Error('registration returned fewer results than commands');
    switch (result.outcome) {
      case 'created':
      case 'duplicate':
        return { outcome: 'handled', resolution: `${result.outcome} customer ${result.customer.customerId}` };
      case 'rejected':
        return { outcome: 'rejected', reasonCode: result.error.code, message: result.error.message, eventId };
      case 'failed':
        if (result.transient) throw result.error;
        return { outcome: 'rejected', reasonCode: PROCESSING_FAILED, message: describe(result.error), eventId };
      default:
        return assertNever(result);
    }
  }

  const pipeline = createInboundPipeline({
    process,
    park: parkIn(deps.pool),
    logger: deps.logger,
    ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
  });

  return {
    async handle(messages) {
      const first = messages[0];
      if (first === undefined) return;
      // The batch span links every message's producer span (each message's own trace goes on in its consume span).
      const links: Link[] = messages.flatMap((message) => {
        const context = trace.getSpanContext(contextFromTraceContext(traceContextFromHeaders(message.headers)));
        return context === undefined ? [] : [{ context }];
      });
      await tracer.startActiveSpan(
        `process ${first.topic}`,
        {
          kind: SpanKind.CONSUMER,
          links,
          attributes: {
            'messaging.system': 'kafka',
            'messaging.destination.name': first.topic,
            'messaging.destination.partition.id': String(first.partition),
            'messaging.batch.message_count': messages.length,
          },
        },
        async (span) => {
          try {
            await pipeline.handle(messages.map(inboundOf));
          } catch (error) {
            span.recordException(error as Error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: describe(error) });
            throw error;
          } finally {
            span.end();
          }
        },
      );
    },

    async parkExhausted(message, failure) {
      const decoded = decodeUserEvent(message.value, message.headers, deps.maxMessageBytes);
      const eventId = decoded.kind === 'register' || decoded.kind === 'activate' ? decoded.event.eventId : undefined;
      await pipeline.parkFailed(inboundOf(message), {
        error: failure.error,
        // Every failure that reaches here was retried: the consumer retries only what the pipeline throws.
        transient: isTransientError(failure.error),
        attempts: failure.attempts,
        firstFailedAt: failure.firstFailedAt,
        ...(eventId === undefined ? {} : { eventId }),
      });
    },

    replay: pipeline.replay,
  };
}

function inboundOf(message: KafkaInputMessage): InboundMessage {
  return {
    transport: 'kafka',
    source: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key,
    headers: message.headers,
    payload: message.value ?? Buffer.alloc(0),
  };
}

export interface UserEventsConsumerOptions extends UserEventsHandlerDeps {
  readonly kafka: KafkaClient;
  readonly groupId: string;
  readonly topic: string;
  readonly retryBackoffMs: readonly number[];
  readonly batchSize: number;
  readonly partitionsConsumedConcurrently: number;
  readonly fetchMaxBytes?: number;
  readonly sessionTimeoutMs: number;
  /** Observability hook: a retry (or, with `delayMs` 0, the parking after the last one) was scheduled. */
  readonly onRetryScheduled?: BatchConsumerOptions['onRetryScheduled'];
}

/** The live consumer of `identity.user.events`. */
export function createUserEventsConsumer(options: UserEventsConsumerOptions): BatchConsumer {
  const handler = createUserEventsHandler(options);
  return createBatchConsumer({
    kafka: options.kafka,
    groupId: options.groupId,
    topic: options.topic,
    logger: options.logger,
    retryBackoffMs: options.retryBackoffMs,
    maxBatchSize: options.batchSize,
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
    ...(options.fetchMaxBytes === undefined ? {} : { fetchMaxBytes: options.fetchMaxBytes }),
    sessionTimeoutMs: options.sessionTimeoutMs,
    handle: (messages) => handler.handle(messages),
    onRetriesExhausted: (message, failure) => handler.parkExhausted(message, failure),
    onRetryScheduled: (event) => {
      if (event.delayMs > 0) options.metrics?.retries.inc({ transport: 'kafka' });
      options.onRetryScheduled?.(event);
    },
    onGroupJoin: () => options.metrics?.kafkaGroupJoins.inc(),
    onLag: ({ topic, partition, lag }) => options.metrics?.kafkaConsumerLag.set({ topic, partition: String(partition) }, lag),
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
