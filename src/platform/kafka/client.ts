/**
 * The one module that knows the Kafka client library (kafkajs). Everything else sees `KafkaClient`, plain message
 * records and the consumer/producer helpers of this folder, so switching to `@confluentinc/kafka-javascript`
 * (KafkaJS-compatible API on librdkafka) stays a change inside `platform/kafka/`.
 */
import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from '../logger.js';

export type KafkaClient = Kafka;

/** Where and how to connect. */
export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly sasl?: { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string };
  readonly tls?: { readonly caFile?: string; readonly rejectUnauthorized: boolean };
}

/** A client for `connection`; kafkajs' own log lines go to `logger` (at debug, except errors, which are warnings). */
export function createKafkaClient(connection: KafkaConnection, logger: Logger): KafkaClient {
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: connection.clientId,
    brokers: [...connection.brokers],
    ...(connection.sasl === undefined ? {} : { sasl: saslOptions(connection.sasl) }),
    ...(connection.tls === undefined
      ? {}
      : {
          ssl: {
            rejectUnauthorized: connection.tls.rejectUnauthorized,
            ...(connection.tls.caFile === undefined ? {} : { ca: [readFileSync(connection.tls.caFile, 'utf8')] }),
          },
        }),
    // kafkajs retries a failed request itself; our loops (consumer retries, relay backoff) own the longer schedule.
    retry: { initialRetryTime: 300, retries: 5, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        // Broker outages make kafkajs log at ERROR on every reconnect attempt; our own loops report the outcome.
        if (level <= logLevel.ERROR) log.warn(rest, message);
        else log.debug(rest, message);
      },
  });
}

function saslOptions(sasl: NonNullable<KafkaConnection['sasl']>): SASLOptions {
  switch (sasl.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username: sasl.username, password: sasl.password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username: sasl.username, password: sasl.password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username: sasl.username, password: sasl.password };
    default:
      return assertNever(sasl.mechanism);
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${String(value)}`);
}

/** A message as read from a topic: the raw bytes and where they came from. Header values are decoded as UTF-8. */
export interface KafkaInputMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Broker timestamp, milliseconds since the epoch. */
  readonly timestamp: string;
}

export function headersOf(headers: Readonly<Record<string, Buffer | string | (Buffer | string)[] | undefined>> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) result[name] = last.toString();
  }
  return result;
}
