/**
 * Starts the test run's one Kafka broker: a real Apache Kafka (KRaft, single node, `kafka-broker.ts`) when Java is
 * installed, otherwise nothing (each Kafka test file then starts its own librdkafka mock, see `kafka-test-broker.ts`).
 * `KAFKA_TEST_BROKER=mock` forces the mock, `KAFKA_TEST_BROKER=kafka` fails the run if the real broker cannot start.
 * Test files share the broker and create their own topics; the log says which broker ran.
 */
import type { TestProject } from 'vitest/node';
import { javaAvailable, startKafkaBroker } from './kafka-broker.js';

export interface ProvidedKafka {
  /** 'kafka': the shared real broker at `bootstrapServers`; 'mock': each file starts a librdkafka mock. */
  readonly kind: 'kafka' | 'mock';
  readonly description: string;
  readonly bootstrapServers: string[];
}

declare module 'vitest' {
  export interface ProvidedContext {
    kafka: ProvidedKafka;
  }
}

export const MOCK_DESCRIPTION = "librdkafka's mock cluster (a stand-in: no Java here)";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const wanted = process.env.KAFKA_TEST_BROKER;
  if (wanted !== undefined && wanted !== 'kafka' && wanted !== 'mock') throw new Error(`KAFKA_TEST_BROKER: expected kafka or mock, got ${wanted}`);
  if (wanted === 'mock' || (wanted === undefined && !(await javaAvailable()))) {
    const description = wanted === 'mock' ? "librdkafka's mock cluster (a stand-in, KAFKA_TEST_BROKER=mock)" : MOCK_DESCRIPTION;
    project.provide('kafka', { kind: 'mock', description, bootstrapServers: [] });
    console.info(`Kafka tests run against ${description}; tests that need a real broker fail.`);
    return () => Promise.resolve();
  }
  const broker = await startKafkaBroker();
  project.provide('kafka', { kind: 'kafka', description: broker.description, bootstrapServers: broker.bootstrapServers });
  console.info(`Kafka tests run against ${broker.description} at ${broker.bootstrapServers.join(',')}, started in ${broker.startedInMs} ms`);
  return () => broker.stop();
}
