/**
 * `serve` processes on the test broker, for the Kafka end-to-end files (`e2e/kafka-service`, `e2e/kafka-consumer-group`,
 * `e2e/acme-adoption`): their environment and how they are started, in one place.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ROOT } from './cli.js';
import { eventually } from './kafka.js';

/** The environment of a service on the Kafka path only (the HTTP API is not under test: `AUTH_MODE=none`). */
export function kafkaServiceEnv(options: {
  readonly databaseUrl: string;
  readonly brokers: readonly string[];
  readonly input: string;
  readonly output: string;
  readonly groupId: string;
  /** Anything else, e.g. `KAFKA_IDEMPOTENT_PRODUCER: 'false'` on the mock. */
  readonly extra?: Readonly<Record<string, string>>;
}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: options.databaseUrl,
    KAFKA_BROKERS: options.brokers.join(','),
    KAFKA_INPUT_TOPIC: options.input,
    KAFKA_OUTPUT_TOPIC: options.output,
    KAFKA_GROUP_ID: options.groupId,
    LOG_LEVEL: 'warn',
    // The test database is not the embedded one: serve wants authentication, or this explicit opt-out.
    AUTH_MODE: 'none',
    ...options.extra,
  };
}

/**
 * Spawns `serve` with `env` on `port` (output ignored), adds it to `children` until it exits (for `afterAll` to kill),
 * and resolves once it is ready; with `kafkaConnected`, also once its health says Kafka is UP (readiness does not wait
 * for the broker: an outage must not take reads down).
 */
export async function spawnKafkaService(
  env: Readonly<Record<string, string>>,
  port: number,
  options: { readonly children: Set<ChildProcess>; readonly timeoutMs?: number; readonly kafkaConnected?: boolean },
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], { cwd: ROOT, env: { ...env, PORT: String(port) }, stdio: 'ignore' });
  options.children.add(child);
  child.on('exit', () => options.children.delete(child));
  const timeoutMs = options.timeoutMs ?? 60_000;
  await eventually(
    () => fetch(`http://127.0.0.1:${port}/health/ready`).then((response) => response.status, () => 0),
    (status) => status === 200,
    { what: `the service on port ${port} to be ready`, timeoutMs, intervalMs: 200 },
  );
  if (options.kafkaConnected === true) {
    await eventually(
      () =>
        fetch(`http://127.0.0.1:${port}/health`).then(
          async (response) => ((await response.json()) as { components: { kafka?: { status: string } } }).components.kafka?.status,
          () => undefined,
        ),
      (status) => status === 'UP',
      { what: `the service on port ${port} connected to Kafka`, timeoutMs, intervalMs: 200 },
    );
  }
  return child;
}
