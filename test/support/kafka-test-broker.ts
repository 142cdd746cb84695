/**
 * Kafka for a test file. `sharedKafka()` gives the run's real broker (started once by `kafka-global-setup.ts`) with
 * this file's topics created on it; `ownKafka()` starts a broker of the file's own, for tests that take it down,
 * restart it or need several nodes. Without Java both fall back to librdkafka's mock cluster (`kafka-mock.ts`), a
 * stand-in; `realKafka()` is for tests that only a real broker can run, and fails on the mock.
 */
import { inject } from 'vitest';
import { createTopics, startKafkaBroker, type KafkaBroker, type KafkaBrokerOptions } from './kafka-broker.js';
import { startKafkaMock } from './kafka-mock.js';

export interface TestKafka {
  /** Which broker ran, for test names and logs. */
  readonly description: string;
  readonly real: boolean;
  readonly bootstrapServers: string[];
  createTopic(name: string, partitions: number): Promise<void>;
  /** Cuts clients off the broker(s) and refuses new connections (only on a file's own broker). */
  brokersDown(): Promise<void>;
  brokersUp(): Promise<void>;
  stop(): Promise<void>;
}

const provided = inject('kafka');

/** e.g. `Apache Kafka 4.4.0 (KRaft, 1 node)`; put it in the suite's name so the log shows which broker ran. */
export const kafkaDescription = provided.description;

/** Whether this run's broker is a real Kafka (else the mock stand-in). */
export const kafkaIsReal = provided.kind === 'kafka';

/** The run's shared broker with `topics` (name -> partitions) created; topic names must be unique in the run. */
export async function sharedKafka(topics: Readonly<Record<string, number>>): Promise<TestKafka> {
  if (provided.kind === 'mock') return mockKafka(topics);
  const { bootstrapServers, description } = provided;
  await createTopics(bootstrapServers, topics);
  const shared = (what: string) => () => Promise.reject(new Error(`${what} is not possible on the shared broker: use ownKafka()`));
  return {
    description,
    real: true,
    bootstrapServers: [...bootstrapServers],
    createTopic: (name, partitions) => createTopics(bootstrapServers, { [name]: partitions }),
    brokersDown: shared('brokersDown()'),
    brokersUp: shared('brokersUp()'),
    stop: () => Promise.resolve(),
  };
}

/** A broker of this file's own (proxied, so `brokersDown()` works); the mock when the run has no real broker. */
export async function ownKafka(topics: Readonly<Record<string, number>>): Promise<TestKafka> {
  if (provided.kind === 'mock') return mockKafka(topics);
  const broker = await startKafkaBroker({ proxied: true, topics });
  return { ...broker, real: true, bootstrapServers: [...broker.bootstrapServers] };
}

/** A real broker (or cluster) of this file's own; fails when the run has none (no Java: the mock cannot show this). */
export async function realKafka(options: KafkaBrokerOptions = {}): Promise<KafkaBroker> {
  if (provided.kind === 'mock') {
    throw new Error(`This test needs a real Kafka broker, but the run uses ${provided.description}. Install Java 17 and Maven (see scripts/fetch-kafka.sh).`);
  }
  return startKafkaBroker(options);
}

/** The run's shared real broker; fails on the mock, like `realKafka()`. */
export async function sharedRealKafka(topics: Readonly<Record<string, number>>): Promise<TestKafka> {
  if (provided.kind === 'mock') {
    throw new Error(`This test needs a real Kafka broker, but the run uses ${provided.description}. Install Java 17 and Maven (see scripts/fetch-kafka.sh).`);
  }
  return sharedKafka(topics);
}

async function mockKafka(topics: Readonly<Record<string, number>>): Promise<TestKafka> {
  const mock = await startKafkaMock({ topics: { ...topics } });
  return { ...mock, description: provided.description, real: false };
}
