/**
 * JetStream stream and consumer set-up. Streams are found by the subject they capture, never by an assumed name: the
 * same code works with one `customer-onboarding` stream for every subject and with one stream per subject named after
 * it (what Sveltos' JetStream mode expects). NATS refuses two streams capturing one subject, so a subject that no
 * stream captures yet is added to the configured stream, which is created when missing.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';

export class NatsSetupError extends Error {
  override readonly name = 'NatsSetupError';
}

export interface EnsureStreamsOptions {
  /** Name of the stream to create or extend for subjects no stream captures. */
  readonly stream: string;
  readonly subjects: readonly string[];
  /** False: only look streams up, and fail when a subject has none (the operator manages streams). */
  readonly create: boolean;
  /** Duplicate window for `Nats-Msg-Id` de-duplication; default 2 minutes (the JetStream default). */
  readonly duplicateWindowMs?: number;
}

/** Returns, per subject, the name of the stream that captures it. */
export async function ensureStreams(jsm: JetStreamManager, options: EnsureStreamsOptions): Promise<Map<string, string>> {
  // Two instances starting at once may race on the create; the loser finds the winner's stream on the second pass.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await ensureOnce(jsm, options);
    } catch (error) {
      if (attempt >= 3 || error instanceof NatsSetupError) throw error;
    }
  }
}

async function ensureOnce(jsm: JetStreamManager, options: EnsureStreamsOptions): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const missing: string[] = [];
  for (const subject of options.subjects) {
    const stream = await findStream(jsm, subject);
    if (stream === undefined) missing.push(subject);
    else found.set(subject, stream);
  }
  if (missing.length === 0) return found;
  if (!options.create) {
    throw new NatsSetupError(
      `no JetStream stream captures ${missing.join(', ')} (and NATS_ENSURE_STREAM is false): create the streams of deploy/sveltos/ first`,
    );
  }
  const existing = await jsm.streams.info(options.stream).catch((error: unknown) => {
    if (error instanceof JetStreamApiError && error.status === 404) return undefined;
    throw error;
  });
  if (existing === undefined) {
    await jsm.streams.add({
      name: options.stream,
      subjects: missing,
      duplicate_window: nanos(options.duplicateWindowMs ?? 120_000),
    });
  } else {
    await jsm.streams.update(options.stream, { subjects: [...new Set([...existing.config.subjects, ...missing])] });
  }
  for (const subject of missing) found.set(subject, options.stream);
  return found;
}

/** The name of the stream capturing `subject`, or undefined when there is none. */
export async function findStream(jsm: JetStreamManager, subject: string): Promise<string | undefined> {
  try {
    return await jsm.streams.find(subject);
  } catch (error) {
    if (error instanceof Error && /no stream matches subject/i.test(error.message)) return undefined;
    throw error;
  }
}

export interface PullConsumerOptions {
  readonly stream: string;
  readonly durable: string;
  readonly subject: string;
  /** Redelivery schedule after an ack timeout (a crashed or stuck instance); also our NAK delays. */
  readonly backoffMs: readonly number[];
  /** Must exceed `backoffMs.length` (the server refuses the consumer otherwise). */
  readonly maxDeliver: number;
  readonly maxAckPending?: number;
}

/**
 * Creates the durable pull consumer, or updates it to these settings. Explicit acks; deliver everything the stream
 * holds the first time it is created.
 */
export async function ensurePullConsumer(jsm: JetStreamManager, options: PullConsumerOptions): Promise<void> {
  const settings = {
    ack_policy: AckPolicy.Explicit,
    filter_subject: options.subject,
    max_deliver: options.maxDeliver,
    ...(options.backoffMs.length === 0 ? { ack_wait: nanos(30_000) } : { backoff: options.backoffMs.map((ms) => nanos(ms)) }),
    max_ack_pending: options.maxAckPending ?? 1_000,
  };
  const existing = await jsm.consumers.info(options.stream, options.durable).catch((error: unknown) => {
    if (error instanceof JetStreamApiError && error.status === 404) return undefined;
    throw error;
  });
  if (existing === undefined) {
    await jsm.consumers.add(options.stream, { durable_name: options.durable, deliver_policy: DeliverPolicy.All, ...settings });
  } else {
    await jsm.consumers.update(options.stream, options.durable, settings);
  }
}
