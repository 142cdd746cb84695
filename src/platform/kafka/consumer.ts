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
 * - When more is waiting in the partition than a batch brought (a backlog), the batch is handed to the handler and
 *   the fetch position moves past it at once, so kafkajs fetches the next batch while this one is in its transaction
 *   (issue 17: fetch and transaction took turns, and the service idled through each). A partition's next batch waits for the one before it and is dropped if that one failed (the failure seeks
 *   the partition back to the failed message); offsets are committed once a chunk is handled, without holding up the
 *   next batch.
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
   * Most bytes one fetch brings (default 2 MiB), at most 256 KiB of them from one partition. Two fetches' worth of
   * messages are in memory at most (one in its transaction, one behind it); kafkajs' default of 10 MiB made the
   * service's peak RSS ~60 MB larger at full speed without making it faster (issue 17). A record batch larger than
   * the limit still comes, alone.
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
  // request carries all of their offsets instead of one request each. Commits are not awaited by the batches (the
  // next one need not wait for the broker's answer); the coalescer sends them one request after the other, so a
  // partition's committed offset only moves forward.
  const commitTogether = createCoalescer<{ partition: number; offset: bigint; member: Consumer | undefined }, void>(
    async (requested) => {
      const latest = new Map<number, bigint>();
      for (const { partition, offset, member } of requested) {
        // Work handed over by a consumer that has since been replaced is committed by whoever reads it again.
        if (member !== consumer) continue;
        latest.set(partition, offset > (latest.get(partition) ?? -1n) ? offset : (latest.get(partition) as bigint));
      }
      if (latest.size === 0) return requested.map(() => undefined);
      const offsets = [...latest].map(([partition, offset]) => ({ topic: options.topic, partition, offset: offset.toString() }));
      try {
        await consumer?.commitOffsets(offsets);
        for (const offset of offsets) options.onCommitted?.(offset);
      } catch (error) {
        // The work is stored; a lost commit only means a redelivery, which the handler recognises as a duplicate.
        log.warn({ err: error, offsets }, 'offset commit failed; the next commit covers it');
      }
      return requested.map(() => undefined);
    },
    { maxItems: 1_000 },
  );
  const commitsInFlight = new Set<Promise<unknown>>();

  function commit(partition: number, lastOffset: string): void {
    const sent = commitTogether([{ partition, offset: BigInt(lastOffset) + 1n, member: consumer }]);
    commitsInFlight.add(sent);
    void sent.finally(() => commitsInFlight.delete(sent));
  }

  /**
   * Per partition, the batch handed over and still being handled; it resolves to false when it stopped at a failure.
   * A partition's next batch is fetched while this one is in its transaction (the fetch position was moved past it),
   * so PostgreSQL's work and the fetch overlap instead of taking turns; it is handled only after this one succeeded,
   * which keeps a partition's messages in order.
   */
  const inFlight = new Map<number, Promise<boolean>>();

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const partition = batch.partition;
    const previous = inFlight.get(partition);
    // A batch fetched past a failure is dropped: the failure's seek re-reads the partition from the failed message.
    if (previous !== undefined && !(await previous)) return;
    if (!running || !payload.isRunning() || payload.isStale() || batch.messages.length === 0) return;
    const messages: KafkaInputMessage[] = batch.messages.map((message) => ({
      topic: batch.topic,
      partition,
      offset: message.offset,
      key: message.key ?? null,
      value: message.value ?? null,
      headers: headersOf(message.headers),
      timestamp: message.timestamp,
    }));
    const last = messages[messages.length - 1] as KafkaInputMessage;
    // Fetching ahead pays only when more is waiting. At the head of the partition the next fetch would bring a message
    // or two, and transactions started back to back would each carry a few: more CPU per event, a longer tail
    // (measured at 1,000 events/s, issue 17). There the batch is handled before the next fetch, which then brings
    // everything that arrived meanwhile.
    const moreWaiting = BigInt(batch.highWatermark) - 1n > BigInt(last.offset);
    if (retries.has(partition) || !moreWaiting) {
      // In its retry schedule (one message at a time) or at the head, the next fetch waits for this batch.
      await handleBatch(payload, messages, false);
      return;
    }
    payload.resolveOffset(last.offset);
    const handling = handleBatch(payload, messages, true);
    inFlight.set(partition, handling);
    void handling.finally(() => {
      if (inFlight.get(partition) === handling) inFlight.delete(partition);
    });
  }

  /**
   * Handles `messages` of one partition in chunks; resolves to false when it stopped at a failure (the partition is
   * then held and will be fetched again from the failed message). `ahead`: the fetch position is already past the
   * batch, so a failure must seek back; otherwise each handled chunk moves the position itself.
   */
  async function handleBatch(payload: EachBatchPayload, messages: readonly KafkaInputMessage[], ahead: boolean): Promise<boolean> {
    const { batch } = payload;
    const partition = batch.partition;
    let index = 0;
    while (index < messages.length && running && (ahead || (payload.isRunning() && !payload.isStale()))) {
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
        if (ahead) consumer?.seek({ topic: options.topic, partition, offset: head.offset });
        return false;
      }
      if (!ahead) payload.resolveOffset(last.offset);
      commit(partition, last.offset);
      options.onLag?.({ topic: options.topic, partition, lag: Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(last.offset) - 1n)) });
      index += chunk.length;
      if (retry !== undefined && BigInt(last.offset) >= retry.isolateThrough) retries.delete(partition);
      // Behind the fetch, a rebalance under way is kafkajs' business, not this batch's.
      if (ahead) await payload.heartbeat().catch(() => undefined);
      else await payload.heartbeat();
    }
    return true;
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
      maxBytes: options.fetchMaxBytes ?? 2 * 1024 * 1024,
      maxBytesPerPartition: Math.min(256 * 1024, options.fetchMaxBytes ?? 2 * 1024 * 1024),
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
      // Batches handed over finish their chunk in hand and commit it before the member leaves its group.
      await Promise.all(inFlight.values());
      await Promise.all(commitsInFlight);
      await consumer?.disconnect();
      consumer = undefined;
      joined = new Promise<void>((resolve) => (markJoined = resolve));
    },
    joined: () => joined,
    isRunning: () => running,
  };
}
