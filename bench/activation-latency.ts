/**
 * Activation latency (issue 14): `UserActivated` events offered on Kafka at a fixed rate to customers registered
 * beforehand; for each, the time from the event's own `timestamp` to its customer being ACTIVE in the read model (the
 * projector's commit of the batch that applied `CustomerActivated`, i.e. what `GET /api/v1/customers/...` reads).
 *
 *   npx tsx bench/activation-latency.ts --rate 500 --seconds 20
 *
 * In one process, as `serve` wires it: the Kafka flow (consumer, activation use case, relay to customer.events) and the
 * projector into the PostgreSQL read model; an embedded PostgreSQL with fsync on; the librdkafka mock broker.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../src/config.js';
import { createActivateCustomers } from '../src/individual-customers/activate-customers.js';
import { customerProjection } from '../src/individual-customers/customer-read-model.js';
import { createPostgresCustomerReadModel } from '../src/individual-customers/customer-read-model.postgres.js';
import { startKafkaFlow } from '../src/individual-customers/kafka-flow.js';
import { createRegisterCustomers } from '../src/individual-customers/register-customers.js';
import type { UserRegistered } from '../src/individual-customers/user-registered.schema.js';
import { createMetrics } from '../src/platform/metrics.js';
import { createPool } from '../src/platform/postgres/database.js';
import { startEmbeddedPostgres } from '../src/platform/postgres/embedded.js';
import { migrate } from '../src/platform/postgres/migrate.js';
import { createProjector } from '../src/platform/postgres/projector.js';
import { createWakeSignal, fanOut } from '../src/platform/wake-signal.js';
import { freePort } from '../test/support/global-setup.js';
import { userActivatedMessage } from './load.js';
import { plainKafka } from '../test/support/kafka.js';
import { startKafkaMock } from '../test/support/kafka-mock.js';

const { values: args } = parseArgs({ options: { rate: { type: 'string', default: '500' }, seconds: { type: 'string', default: '20' } } });
const rate = Number(args.rate);
const seconds = Number(args.seconds);
const total = rate * seconds;
const logger = pino({ level: 'silent' });

const scratch = await mkdtemp(path.join(tmpdir(), 'activation-latency-'));
const server = await startEmbeddedPostgres({
  dataDir: path.join(scratch, 'postgres'),
  port: await freePort(),
  settings: { fsync: 'on', synchronous_commit: 'on', max_connections: '100' },
});
const kafkaMock = await startKafkaMock({ topics: { 'latency.in': 16, 'latency.out': 16 } });
const pool = createPool(server.connectionString, 10);
try {
  await migrate(pool);
  const register = createRegisterCustomers({ pool, numberPrefix: 'ACME', clock: () => new Date(), newId: () => uuidv7() });
  const users: string[] = [];
  for (let index = 0; index < total; index += 1000) {
    const batch = Array.from({ length: Math.min(1000, total - index) }, (): UserRegistered => {
      const userId = uuidv7();
      users.push(userId);
      return {
        eventId: uuidv4(),
        eventType: 'UserRegistered',
        eventVersion: '1.0',
        timestamp: new Date().toISOString(),
        correlationId: uuidv4(),
        payload: { userId, email: `u.${userId}@example.com`, firstName: 'Jane', lastName: 'Doe', marketingOptIn: false },
      };
    });
    await register(batch.map((event) => ({ event })));
  }

  const visibleAt = new Map<string, number>();
  const projectorWake = createWakeSignal();
  const relayWake = createWakeSignal();
  const readModel = createPostgresCustomerReadModel(pool);
  const projector = createProjector({
    pool,
    projection: customerProjection(readModel),
    wake: projectorWake,
    logger,
    onBatch: (result) => {
      const now = Date.now();
      for (const event of result.applied) {
        if (event.eventType === 'CustomerActivated') visibleAt.set((event.payload as { userId: string }).userId, now);
      }
    },
  });
  projector.start();
  const metrics = createMetrics({ defaultMetrics: false });
  const activate = createActivateCustomers({ pool, clock: () => new Date(), newId: () => uuidv7(), onCommitted: fanOut(projectorWake, relayWake), metrics });
  const flow = startKafkaFlow({
    config: loadConfig({ KAFKA_BROKERS: kafkaMock.bootstrapServers.join(','), KAFKA_INPUT_TOPIC: 'latency.in', KAFKA_OUTPUT_TOPIC: 'latency.out', KAFKA_GROUP_ID: 'latency', KAFKA_IDEMPOTENT_PRODUCER: 'false' }).kafka,
    pool,
    register,
    activate,
    logger,
    metrics,
    relayWake,
  });
  // Wait until the projector has caught up with the registrations and the consumer has joined (one warm-up activation).
  const producer = plainKafka(kafkaMock.bootstrapServers).producer();
  await producer.connect();
  const activation = (userId: string) => userActivatedMessage(userId, new Date().toISOString());
  const warmUp = users.shift() as string;
  await producer.send({ topic: 'latency.in', messages: [activation(warmUp)] });
  const warmDeadline = Date.now() + 120_000;
  while (!visibleAt.has(warmUp)) {
    if (Date.now() > warmDeadline) throw new Error('warm-up activation never became visible');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  // Offer `rate` activations per second in 10 ms ticks, each stamped when sent.
  const sentAt = new Map<string, number>();
  const started = Date.now();
  let sent = 0;
  while (sent < users.length) {
    const due = Math.min(users.length, Math.floor(((Date.now() - started) / 1000) * rate));
    if (due > sent) {
      const batch = users.slice(sent, due);
      const messages = batch.map((userId) => activation(userId));
      messages.forEach((message, index) => sentAt.set(batch[index] as string, Date.parse((JSON.parse(message.value) as { timestamp: string }).timestamp)));
      await producer.send({ topic: 'latency.in', acks: 1, messages });
      sent = due;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const offeredSeconds = (Date.now() - started) / 1000;
  const deadline = Date.now() + 120_000;
  while (users.some((userId) => !visibleAt.has(userId)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const latencies = users
    .filter((userId) => visibleAt.has(userId))
    .map((userId) => (visibleAt.get(userId) as number) - (sentAt.get(userId) as number))
    .sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  const { rows } = await pool.query<{ active: string; published: string }>(
    `SELECT (SELECT count(*) FROM customers WHERE status = 'ACTIVE') AS active,
            (SELECT count(*) FROM outbox WHERE published_at IS NOT NULL AND headers->>'eventType' = 'CustomerActivated') AS published`,
  );
  console.log(
    JSON.stringify(
      {
        offeredRate: rate,
        offered: users.length,
        achievedOfferRate: Math.round(users.length / offeredSeconds),
        visible: latencies.length,
        active: Number(rows[0]?.active),
        publishedCustomerActivated: Number(rows[0]?.published),
        latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: latencies.at(-1) },
      },
      null,
      2,
    ),
  );
  await producer.disconnect();
  await flow.stop();
  await projector.stop();
} finally {
  await pool.end();
  await kafkaMock.stop();
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
}
