/**
 * `customer-service publish user-registered`: sends generated (`--count N`) or given (`--file F`) `UserRegistered`
 * events to Kafka (`KAFKA_BROKERS`, `KAFKA_INPUT_TOPIC`) or to `POST /api/v1/events`, for demos, load and support.
 * A file may hold one JSON event, a JSON array of events, or one message per line; lines are sent as they are, so a
 * file of broken messages is a way to exercise the dead letters. Prints one JSON summary line.
 */
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config.js';
import { createKafkaClient } from '../platform/kafka/client.js';
import { createLogger } from '../platform/logger.js';
import { createProgress, type Progress } from '../platform/progress.js';
import { eventsEndpoint } from '../platform/http/service-url.js';
import { InvalidInputError } from '../platform/validation.js';
import { createUserRegisteredGenerator } from './user-registered.generator.js';
import { authorization } from '../platform/http/publish-authorization.js';

interface PublishOptions {
  count: string;
  file?: string;
  to: string;
  url?: string;
  topic?: string;
  concurrency: string;
}

interface OutgoingEvent {
  readonly key: string | null;
  readonly eventId: string | null;
  readonly value: string;
}

/** Adds `user-registered` under the `publish` command (created here when no other flow created it yet). */
/** `publish user-registered`, added to the CLI's `publish` (it inherits its settings: usage errors exit 2). */
export function publishUserRegisteredCommand(publish: Command): void {
  publish
    .command('user-registered')
    .description('send UserRegistered events: --count generated ones, or the ones in --file')
    .option('--count <n>', 'how many generated events', '1')
    .option('--file <path>', 'send these events instead (JSON object, JSON array, or one message per line)')
    .option('--to <target>', 'kafka or http', 'kafka')
    .option('--url <url>', 'with --to http: base URL of the service (default http://127.0.0.1:$PORT)')
    .option('--topic <name>', 'with --to kafka: the topic (default $KAFKA_INPUT_TOPIC)')
    .option('--concurrency <n>', 'with --to http: requests in flight', '16')
    .action(async (options: PublishOptions) => {
      const config = loadConfig();
      const count = positive('--count', options.count);
      if (options.to !== 'kafka' && options.to !== 'http') throw InvalidInputError.of('INVALID_VALUE', '--to', `expected kafka or http, got "${options.to}"`);
      const events = options.file === undefined ? generated(count) : await fromFile(options.file);
      const started = performance.now();
      const progress = createProgress({ label: 'publish user-registered', unit: 'events', total: events.length });
      const result =
        options.to === 'kafka' ? await toKafka(config, events, options.topic, progress) : await toHttp(config, events, options, progress);
      progress.finish();
      const seconds = (performance.now() - started) / 1000;
      process.stdout.write(
        `${JSON.stringify({ ...result, to: options.to, seconds: Number(seconds.toFixed(3)), perSecond: Math.round(events.length / Math.max(seconds, 0.001)) })}\n`,
      );
      if ('failed' in result && result.failed > 0) process.exitCode = 1;
    });
}

function generated(count: number): OutgoingEvent[] {
  const next = createUserRegisteredGenerator();
  return Array.from({ length: count }, () => {
    const event = next();
    return { key: event.payload.userId, eventId: event.eventId, value: JSON.stringify(event) };
  });
}

async function fromFile(path: string): Promise<OutgoingEvent[]> {
  const text = await readFile(path, 'utf8');
  let values: string[];
  try {
    const parsed: unknown = JSON.parse(text);
    values = (Array.isArray(parsed) ? parsed : [parsed]).map((item) => JSON.stringify(item));
  } catch {
    values = text.split('\n').filter((line) => line.trim() !== '');
  }
  return values.map((value) => {
    let key: string | null = null;
    let eventId: string | null = null;
    try {
      const event = JSON.parse(value) as { eventId?: unknown; payload?: { userId?: unknown } };
      if (typeof event.payload?.userId === 'string') key = event.payload.userId;
      if (typeof event.eventId === 'string') eventId = event.eventId;
    } catch {
      // Sent as it is: a broken line is a test of the receiving side.
    }
    return { key, eventId, value };
  });
}

async function toKafka(
  config: Config,
  events: readonly OutgoingEvent[],
  topicOption: string | undefined,
  progress: Progress,
): Promise<{ sent: number; topic: string }> {
  if (config.kafka.brokers.length === 0) throw InvalidInputError.of('MISSING_FIELD', 'KAFKA_BROKERS', 'is required for --to kafka');
  const topic = topicOption ?? config.kafka.inputTopic;
  const kafka = createKafkaClient(config.kafka, createLogger(config.log, pino.destination(2)));
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  try {
    for (let index = 0; index < events.length; index += 1000) {
      await producer.send({
        topic,
        acks: -1,
        messages: events.slice(index, index + 1000).map((event) => ({
          key: event.key,
          value: event.value,
          headers: { eventType: 'UserRegistered', 'content-type': 'application/json', ...(event.eventId === null ? {} : { eventId: event.eventId }) },
        })),
      });
      progress.add(Math.min(1000, events.length - index));
    }
  } finally {
    await producer.disconnect();
  }
  return { sent: events.length, topic };
}

async function toHttp(
  config: Config,
  events: readonly OutgoingEvent[],
  options: PublishOptions,
  progress: Progress,
): Promise<{ sent: number; url: string; statuses: Record<string, number>; failed: number }> {
  const url = eventsEndpoint(options.url ?? `http://127.0.0.1:${config.http.port}`);
  const concurrency = positive('--concurrency', options.concurrency);
  const statuses: Record<string, number> = {};
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < events.length) {
      const event = events[next++] as OutgoingEvent;
      try {
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...authorization(config) }, body: event.value });
        await response.arrayBuffer();
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
        if (response.status >= 500) failed += 1;
      } catch {
        statuses.unreachable = (statuses.unreachable ?? 0) + 1;
        failed += 1;
      }
      progress.add();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, events.length) }, worker));
  return { sent: events.length - failed, url, statuses, failed };
}

function positive(name: string, value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw InvalidInputError.of('INVALID_VALUE', name, `expected a positive integer, got "${value}"`);
  return number;
}
