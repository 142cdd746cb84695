/**
 * A consumer-group member that hands batches of raw messages to a handler and never blocks, loops or rebalances
 * because of a failing message (SPEC §2.3–2.4):
 *
 * - Offsets are committed manually (`offset + 1`), only after the handler resolved for the messages they cover. The
 *   handler resolves once their effect has committed in PostgreSQL, or they were parked.
 * - A handler that throws has hit a transient failure. Only that partition is paused (the others, and heartbeats,
 *   keep flowing, so the group never rebalances because of a retry) and resumed after the next wait of the retry
 *   schedule; kafkajs then refetches from the first unfinished offset. Retries run one message at a time (until the
 *   partition is past the chunk that failed), so when the schedule runs out only the message that keeps failing is
 *   handed to `onRetriesExhausted` (parked), and the partition continues after it.
 * - If even parking fails (the database is still away), the partition stays held and parking is retried at the last
 *   interval of the schedule: nothing is committed that was not stored.
 *
 * Why pause instead of sleeping in the handler: kafkajs fetches from a broker again only when every batch of the
 * previous fetch has been handled, so a handler that sleeps holds every partition led by that broker.
 */
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { createCoalescer } from '../coalesce.js';
import { sleepWhile } from '../sleep.js';
import type { Logger } from '../logger.js';
import { headersOf, type KafkaClient, type KafkaInputMessage } from './client.js';

export interface BatchConsumerOptions {
  readonly kafka: KafkaClient;
  readonly groupId: string;
  readonly topic: string;
  readonly logger: Logger;
  /** Handles `messages` (consecutive, one partition) completely, or throws a transient error. */
  readonly handle: (messages: readonly KafkaInputMessage[]) => Promise<void>;
  /** Parks a message whose retries ran out; throwing keeps the partition held and tries again later. */
  readonly onRetriesExhausted: (message: KafkaInputMessage, failure: RetryFailure) => Promise<void>;
  /** Waits before each retry, e.g. [1000, 2000, 4000, 8000, 16000]. */
  readonly retryBackoffMs: readonly number[];
  /** Most messages handed to `handle` at once. */
  readonly maxBatchSize?: number;
  readonly partitionsConsumedConcurrently?: number;
  /**
   * Most bytes one fetch brings (default 10 MiB, kafkajs' own), at most 1 MiB of them from one partition; a record
   * batch larger than that still comes, alone. 2 MiB took ~100 MB off the service's peak RSS at full speed and ~12 %
   * off its registrations/s (issue 17).
   */
  readonly fetchMaxBytes?: number;
  readonly sessionTimeoutMs?: number;
  /** Start of the topic for a group without committed offsets. Default true: nothing is skipped. */
  readonly fromBeginning?: boolean;
  /** Observability hooks. */
  readonly onRetryScheduled?: (event: { topic: string; partition: number; offset: string; attempt: number; delayMs: number; error: unknown }) => void;
  readonly onGroupJoin?: () => void;
  readonly onCommitted?: (event: { topic: string; partition: number; offset: string }) => void;
  /** After each commit: messages of the partition still to consume (high watermark − committed offset). */
  readonly onLag?: (event: { topic: string; partition: number; lag: number }) => void;
}

export interface RetryFailure {
  readonly error: unknown;
  /** Processing attempts made, the first one included. */
  readonly attempts: number;
  readonly firstFailedAt: Date;
}

export interface BatchConsumer {
  /** Connects and runs in the background until `stop()`; a broker that is not there yet is retried. */
  start(): void;
  /** Leaves the group after the batch in progress; resolves when disconnected. */
  stop(): Promise<void>;
  /** Resolves once the member has joined its group (tests, readiness). */
  joined(): Promise<void>;
  isRunning(): boolean;
}

/**
 * A partition that hit a transient failure. Until it is past the last offset of the chunk that failed, it runs one
 * message at a time, so the retries and, in the end, the parking concern the message that fails, not its neighbours.
 */
interface PartitionRetry {
  readonly isolateThrough: bigint;
  /** The message `attempts` refer to. */
  headOffset: string;
  attempts: number;
  firstFailedAt: Date;
  lastError: unknown;
}

export function createBatchConsumer(options: BatchConsumerOptions): BatchConsumer {
  const log = options.logger.child({ component: 'kafka-consumer', topic: options.topic, groupId: options.groupId });
  const maxBatchSize = options.maxBatchSize ?? 500;
  const schedule = options.retryBackoffMs.length > 0 ? options.retryBackoffMs : [1000];
  const retries = new Map<number, PartitionRetry>();
  const timers = new Set<NodeJS.Timeout>();
  let consumer: Consumer | undefined;
  let running = false;
  let runLoop: Promise<void> | undefined;
  let markJoined: () => void = () => undefined;
  let joined = new Promise<void>((resolve) => (markJoined = resolve));

  const holdPartition = (partition: number, delayMs: number) => {
    const current = consumer;
    if (current === undefined) return;
    current.pause([{ topic: options.topic, partitions: [partition] }]);
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (running) current.resume([{ topic: options.topic, partitions: [partition] }]);
    }, delayMs);
    timers.add(timer);
  };

  // Partitions handled concurrently finish together (their registrations share a transaction): one OffsetCommit
  // request carries all of their offsets instead of one request each.
  const commitTogether = createCoalescer<{ partition: number; offset: string }, void>(
    async (offsets) => {
      try {
        await consumer?.commitOffsets(offsets.map(({ partition, offset }) => ({ topic: options.topic, partition, offset })));
        for (const { partition, offset } of offsets) options.onCommitted?.({ topic: options.topic, partition, offset });
      } catch (error) {
        // The work is stored; a lost commit only means a redelivery, which the handler recognises as a duplicate.
        log.warn({ err: error, offsets }, 'offset commit failed; the next commit covers it');
      }
      return offsets.map(() => undefined);
    },
    { maxItems: 1_000 },
  );

  async function commit(partition: number, lastOffset: string): Promise<void> {
    await commitTogether([{ partition, offset: (BigInt(lastOffset) + 1n).toString() }]);
  }

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const partition = batch.partition;
    const messages: KafkaInputMessage[] = batch.messages.map((message) => ({
      topic: batch.topic,
      partition,
      offset: message.offset,
      key: message.key ?? null,
      value: message.value ?? null,
      headers: headersOf(message.headers),
      timestamp: message.timestamp,
    }));
    let index = 0;
    while (index < messages.length && payload.isRunning() && !payload.isStale()) {
      const head = messages[index] as KafkaInputMessage;
      let retry = retries.get(partition);
      if (retry !== undefined && BigInt(head.offset) > retry.isolateThrough) {
        retries.delete(partition);
        retry = undefined;
      }
      if (retry !== undefined && retry.headOffset !== head.offset) {
        retry.headOffset = head.offset;
        retry.attempts = 0;
      }
      const chunk = retry === undefined ? messages.slice(index, index + maxBatchSize) : [head];
      const last = chunk[chunk.length - 1] as KafkaInputMessage;
      try {
        if (retry !== undefined && retry.attempts > schedule.length) {
          await options.onRetriesExhausted(head, { error: retry.lastError, attempts: retry.attempts, firstFailedAt: retry.firstFailedAt });
        } else {
          await options.handle(chunk);
        }
      } catch (error) {
        if (retry === undefined) {
          retry = { isolateThrough: BigInt(last.offset), headOffset: head.offset, attempts: 0, firstFailedAt: new Date(), lastError: error };
          retries.set(partition, retry);
        }
        let delayMs: number;
        if (retry.attempts > schedule.length) {
          delayMs = schedule[schedule.length - 1] as number;
          log.error({ err: error, partition, offset: head.offset, retryInMs: delayMs }, 'could not park a message whose retries ran out; holding the partition');
        } else {
          if (retry.attempts === 0) retry.firstFailedAt = new Date();
          retry.attempts += 1;
          retry.lastError = error;
          // Past the end of the schedule: park at once (the next round hands the message to onRetriesExhausted).
          delayMs = schedule[retry.attempts - 1] ?? 0;
          log.warn(
            { err: error, partition, offset: head.offset, attempt: retry.attempts, retryInMs: delayMs },
            delayMs === 0 ? 'transient failure, retries exhausted: parking the message' : 'transient failure; retrying',
          );
          options.onRetryScheduled?.({ topic: options.topic, partition, offset: head.offset, attempt: retry.attempts, delayMs, error });
        }
        holdPartition(partition, delayMs);
        return;
      }
      payload.resolveOffset(last.offset);
      await commit(partition, last.offset);
      options.onLag?.({ topic: options.topic, partition, lag: Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(last.offset) - 1n)) });
      index += chunk.length;
      if (retry !== undefined && BigInt(last.offset) >= retry.isolateThrough) retries.delete(partition);
      await payload.heartbeat();
    }
  }

  /** Runs the consumer in the background; a broker that is not there (yet) is retried with backoff until `stop()`. */
  function launch(): void {
    const previous = runLoop ?? Promise.resolve();
    runLoop = previous.then(async () => {
      let backoffMs = 1_000;
      while (running) {
        try {
          await runOnce();
          return;
        } catch (error) {
          log.warn({ err: error, retryInMs: backoffMs }, 'kafka consumer could not start; retrying');
          await consumer?.disconnect().catch(() => undefined);
          consumer = undefined;
          await sleepWhile(backoffMs, () => running);
          backoffMs = Math.min(30_000, backoffMs * 2);
        }
      }
    });
  }


  async function runOnce(): Promise<void> {
    const current = options.kafka.consumer({
      groupId: options.groupId,
      // A missing input topic is waited for (runOnce fails, launch() retries), never created with broker defaults.
      allowAutoTopicCreation: false,
      readUncommitted: false,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      rebalanceTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: Math.min(3_000, Math.floor((options.sessionTimeoutMs ?? 30_000) / 10)),
      maxWaitTimeInMs: 250,
      maxBytes: options.fetchMaxBytes ?? 10 * 1024 * 1024,
      maxBytesPerPartition: Math.min(1024 * 1024, options.fetchMaxBytes ?? 10 * 1024 * 1024),
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5_000 },
    });
    consumer = current;
    current.on(current.events.GROUP_JOIN, () => {
      options.onGroupJoin?.();
      markJoined();
    });
    current.on(current.events.CRASH, (event) => {
      log.warn({ err: event.payload.error, restart: event.payload.restart }, 'kafka consumer crashed');
      // kafkajs restarts by itself after retriable errors; after the others, start over with a fresh consumer.
      if (!event.payload.restart && running && consumer === current) {
        void current.disconnect().catch(() => undefined);
        consumer = undefined;
        launch();
      }
    });
    await current.connect();
    await current.subscribe({ topic: options.topic, fromBeginning: options.fromBeginning ?? true });
    await current.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
      eachBatch: async (payload) => {
        try {
          await eachBatch(payload);
        } catch (error) {
          // eachBatch handles its own failures; anything reaching here is a bug. Throwing would make kafkajs restart
          // at the same offset forever, so hold the partition and try again later instead.
          log.error({ err: error, partition: payload.batch.partition }, 'unexpected error in batch handling');
          holdPartition(payload.batch.partition, schedule[schedule.length - 1] as number);
        }
      },
    });
    log.info('kafka consumer running');
  }

  return {
    start() {
      if (running) return;
      running = true;
      launch();
    },
    async stop() {
      running = false;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await runLoop;
      await consumer?.disconnect();
      consumer = undefined;
      joined = new Promise<void>((resolve) => (markJoined = resolve));
    },
    joined: () => joined,
    isRunning: () => running,
  };
}
