/**
 * The inbound pipeline every broker way in shares: decode → handle → settle (SPEC §2.3–2.4).
 *
 * A flow supplies `process`: it decodes raw messages and hands what it can to its use case, and says what became of
 * each one (`Settled`), or throws when a failure is transient. Everything after that is written once, here:
 * - settle: a rejected input is parked with its reason code, the original bytes and position; an ignored one is
 *   counted; each gets the outcome line (`platform/outcome-log.ts`; handled ones got theirs from the use case);
 * - a failure whose retries ran out is parked as `RETRIES_EXHAUSTED` (transient), the flow's own reason code when the
 *   error carries one (`ReasonedError`), or `PROCESSING_FAILED`;
 * - a parked message is replayed through the same `process`, so a replay cannot behave differently from a delivery.
 *
 * Transports only adapt it: Kafka pauses the partition and commits offsets (`kafka/consumer.ts`), JetStream acks,
 * naks and sends `working()` (`nats/consumer.ts`), `dead-letters replay` and the console report the replay outcome.
 * HTTP and Job mode decode their own envelopes (a request body, the Job's environment) and answer with a status or
 * an exit code; the use case writes the same outcome line for them.
 */
import type { ReplayHandler } from './dead-letter-replay.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { logOutcome } from './outcome-log.js';
import type { Pool } from './postgres/database.js';
import { park, type DeadLetter, type NewDeadLetter } from './postgres/dead-letters.js';
import { isTransientError } from './postgres/errors.js';

/** One message as every broker transport hands it over. */
export interface InboundMessage {
  /** `kafka`, `nats`: the dead letters' transport. */
  readonly transport: string;
  /** Topic or subject. */
  readonly source: string;
  readonly partition?: number;
  /** Kafka offset, JetStream stream sequence. */
  readonly offset?: string;
  readonly key?: Buffer | null;
  /** Header names as the transport gives them (JetStream's lower-cased); the first value of each. */
  readonly headers: Readonly<Record<string, string>>;
  readonly payload: Buffer;
  /** Deliveries so far, this one included, when the transport counts them (JetStream). */
  readonly deliveries?: number;
}

/** What became of one message; a transient failure is thrown instead. */
export type Settled =
  /** Processed or a duplicate: the use case has written its outcome line. `resolution` reads e.g. "created customer …". */
  | { readonly outcome: 'handled'; readonly resolution: string }
  | { readonly outcome: 'ignored'; readonly eventType: string; readonly eventId?: string }
  /** Permanently unacceptable: parked with `reasonCode`. */
  | { readonly outcome: 'rejected'; readonly reasonCode: string; readonly message: string; readonly eventId?: string; readonly eventType?: string };

/** A failure that is retried like a transient one, but parked with a reason of its own when the retries run out. */
export class ReasonedError extends Error {
  constructor(
    readonly reasonCode: string,
    message: string,
  ) {
    super(message);
    this.name = 'ReasonedError';
  }
}

/**
 * Parking itself failed (the database is away): nothing about the message was recorded, so the transport must hold it
 * (Kafka: the partition; JetStream: NAK) and try again; it is transient whatever the cause.
 */
export class ParkingFailedError extends Error {
  constructor(override readonly cause: unknown) {
    super(`could not park: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ParkingFailedError';
  }
}

/** Parks in the dead-letter store of `pool`. */
export function parkIn(pool: Pool): (letters: readonly NewDeadLetter[]) => Promise<unknown> {
  return (letters) => park(pool, letters);
}

/** Transient: worth retrying (the database or a broker was away, or parking failed for that reason). */
export function isTransientFailure(error: unknown): boolean {
  return error instanceof ParkingFailedError || isTransientError(error);
}

export const RETRIES_EXHAUSTED = 'RETRIES_EXHAUSTED';
export const PROCESSING_FAILED = 'PROCESSING_FAILED';

/** A failure whose retries ran out (or that is not worth retrying). */
export interface InboundFailure {
  readonly error: unknown;
  readonly transient: boolean;
  /** Processing attempts made, the first one included. */
  readonly attempts: number;
  readonly firstFailedAt?: Date;
  /** The message's event id, when the transport or the flow can tell it. */
  readonly eventId?: string;
}

/** The reason a failed message is parked with. */
export function failureReasonCode(failure: Pick<InboundFailure, 'error' | 'transient'>): string {
  if (failure.error instanceof ReasonedError) return failure.error.reasonCode;
  return failure.transient ? RETRIES_EXHAUSTED : PROCESSING_FAILED;
}

export interface InboundPipelineOptions {
  /**
   * Decodes and handles `messages` (consecutive, from one source) as one batch; outcomes in order. Throws only when
   * the whole batch should be retried. `replayOf` is the dead letter being replayed, if any.
   */
  readonly process: (messages: readonly InboundMessage[], replayOf?: string) => Promise<Settled[]>;
  /** Stores letters in the dead-letter store (`parkIn(pool)`). */
  readonly park: (letters: readonly NewDeadLetter[]) => Promise<unknown>;
  readonly logger: Logger;
  readonly metrics?: Metrics;
}

export interface InboundPipeline {
  /** Processes and settles `messages`: when it resolves, each is handled, ignored or parked. Throws on transient failures. */
  handle(messages: readonly InboundMessage[]): Promise<void>;
  /** Parks a message whose processing failed for good (its retries ran out, or it is not transient). */
  parkFailed(message: InboundMessage, failure: InboundFailure): Promise<void>;
  /** Replays a parked message through the same `process`. */
  readonly replay: ReplayHandler;
}

export function createInboundPipeline(options: InboundPipelineOptions): InboundPipeline {
  async function parkAll(letters: readonly NewDeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    try {
      await options.park(letters);
    } catch (error) {
      throw new ParkingFailedError(error);
    }
    for (const letter of letters) {
      options.metrics?.deadLettered.inc({ transport: letter.transport, reason: letter.reasonCode });
      logOutcome(
        options.logger,
        'parked',
        {
          transport: letter.transport,
          reason: letter.reasonCode,
          error: letter.errorMessage,
          ...(letter.messageId === undefined || letter.messageId === null ? {} : { eventId: letter.messageId }),
          source: letter.source,
          ...(letter.partition === undefined ? {} : { partition: letter.partition }),
          offset: letter.offset,
        },
        'message parked in dead letters',
      );
    }
  }

  return {
    async handle(messages) {
      if (messages.length === 0) return;
      const outcomes = await options.process(messages);
      const letters: NewDeadLetter[] = [];
      outcomes.forEach((settled, index) => {
        const message = messages[index] as InboundMessage;
        if (settled.outcome === 'ignored') {
          options.metrics?.ignoredEvents.inc({ transport: message.transport, event_type: settled.eventType });
          const eventId = settled.eventId ?? message.headers.eventId;
          logOutcome(options.logger, 'ignored', {
            transport: message.transport,
            eventType: settled.eventType,
            ...(eventId === undefined ? {} : { eventId }),
            source: message.source,
            ...(message.partition === undefined ? {} : { partition: message.partition }),
            offset: message.offset,
          });
        } else if (settled.outcome === 'rejected') {
          letters.push(letterOf(message, settled.reasonCode, settled.message, settled.eventId));
        }
      });
      await parkAll(letters);
    },

    async parkFailed(message, failure) {
      const describe = failure.error instanceof Error ? failure.error.message : String(failure.error);
      await parkAll([
        letterOf(message, failureReasonCode(failure), failure.transient ? `after ${failure.attempts} attempts: ${describe}` : describe, failure.eventId, failure),
      ]);
    },

    async replay(letter: DeadLetter) {
      let settled: Settled | undefined;
      try {
        [settled] = await options.process([messageOf(letter)], letter.id);
      } catch (error) {
        // Still missing what it waits for (e.g. its customer): it stays parked, with the reason it would get again.
        if (error instanceof ReasonedError) return { outcome: 'rejected', reasonCode: error.reasonCode, message: error.message };
        throw error;
      }
      if (settled === undefined) throw new Error('no outcome for the replayed message');
      switch (settled.outcome) {
        case 'handled':
          return { outcome: 'replayed', resolution: settled.resolution };
        case 'ignored':
          return { outcome: 'replayed', resolution: `ignored event type ${settled.eventType}` };
        case 'rejected':
          return { outcome: 'rejected', reasonCode: settled.reasonCode, message: settled.message };
      }
    },
  };
}

function letterOf(message: InboundMessage, reasonCode: string, errorMessage: string, eventId?: string, failure?: InboundFailure): NewDeadLetter {
  return {
    transport: message.transport,
    source: message.source,
    ...(message.partition === undefined ? {} : { partition: message.partition }),
    ...(message.offset === undefined ? {} : { offset: message.offset }),
    ...(message.key === undefined ? {} : { key: message.key }),
    headers: message.headers,
    payload: message.payload,
    messageId: eventId ?? message.headers.eventId ?? message.headers['nats-msg-id'] ?? null,
    reasonCode,
    errorMessage,
    ...(failure === undefined
      ? message.deliveries === undefined
        ? {}
        : { attempts: message.deliveries }
      : { attempts: failure.attempts, ...(failure.firstFailedAt === undefined ? {} : { firstFailedAt: failure.firstFailedAt }) }),
  };
}

/** A parked message as its transport handed it over. */
export function messageOf(letter: DeadLetter): InboundMessage {
  return {
    transport: letter.transport,
    source: letter.source,
    ...(letter.partition === null ? {} : { partition: letter.partition }),
    ...(letter.offset === null ? {} : { offset: letter.offset }),
    key: letter.key,
    headers: letter.headers,
    payload: letter.payload,
  };
}
