/**
 * Commit-to-visible latency of the read model at a steady rate (default 500 registrations/s, one per transaction):
 * from the registration's COMMIT returning to the projector's batch that applied it committing (the moment a lookup
 * can see it). Runs the real use case, projector and PostgreSQL read model on an embedded PostgreSQL of its own.
 *
 *   npx tsx bench/read-model-latency.ts [--rate 500] [--seconds 20] [--warmup 3] [--per-transaction 1]
 *
 * Prints one JSON line with p50/p90/p99/max in milliseconds and the rate achieved.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { customerProjection } from '../src/individual-customers/customer-read-model.js';
import { createPostgresCustomerReadModel } from '../src/individual-customers/customer-read-model.postgres.js';
import { createRegisterCustomers } from '../src/individual-customers/register-customers.js';
import { parseUserRegistered } from '../src/individual-customers/user-registered.schema.js';
import { createPool } from '../src/platform/postgres/database.js';
import { startEmbeddedPostgres } from '../src/platform/postgres/embedded.js';
import { migrate } from '../src/platform/postgres/migrate.js';
import { createProjector } from '../src/platform/postgres/projector.js';
import { createWakeSignal } from '../src/platform/wake-signal.js';
import { freePort } from '../test/support/global-setup.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    // Registrations per transaction, as a Kafka consumer's batch would send them; the rate stays in events/s.
    'per-transaction': { type: 'string', default: '1' },
  },
});
const perTransaction = Number(values['per-transaction']);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);

const root = await mkdtemp(path.join(tmpdir(), 'read-model-bench-'));
const server = await startEmbeddedPostgres({ dataDir: path.join(root, 'data'), port: await freePort() });
const pool = createPool(server.connectionString, 20);
try {
  await migrate(pool);
  const logger = pino({ level: 'warn' });
  const wake = createWakeSignal();
  const committedAt = new Map<string, number>();
  const visibleAt = new Map<string, number>();
  const readModel = createPostgresCustomerReadModel(pool);
  const projector = createProjector({
    pool,
    projection: customerProjection(readModel),
    wake,
    logger,
    onBatch: (batch) => {
      const now = performance.now();
      for (const event of batch.applied) visibleAt.set(event.streamId, now);
    },
  });
  const register = createRegisterCustomers({
    pool,
    numberPrefix: 'BENCH',
    clock: () => new Date(),
    newId: () => uuidv7(),
    onCommitted: () => wake.notify(),
  });
  projector.start();

  const newEvent = () => {
    const userId = uuidv7();
    const parsed = parseUserRegistered({
      eventId: uuidv7(),
      eventType: 'UserRegistered',
      eventVersion: '1.0',
      timestamp: new Date().toISOString(),
      aggregateId: userId,
      aggregateType: 'User',
      payload: { userId, email: `u${userId.slice(-12)}@example.com`, firstName: 'Jane', lastName: 'Doe', marketingOptIn: false },
    });
    if (!parsed.ok) throw parsed.error;
    return { event: parsed.value };
  };
  const registerSome = async () => {
    const results = await register(Array.from({ length: perTransaction }, newEvent));
    const now = performance.now();
    return results.map((result) => {
      if (result.outcome !== 'created') throw new Error(`registration ${result.outcome}`);
      committedAt.set(result.customer.customerId, now);
      return { customerId: result.customer.customerId, now };
    });
  };

  // A steady schedule: registration i starts at start + i / rate, whatever happened to the ones before it.
  const transactionRate = rate / perTransaction;
  const total = Math.round(transactionRate * (seconds + warmup));
  const measuredFrom = Math.round(rate * warmup);
  const started = performance.now();
  const inFlight: Promise<{ customerId: string; now: number }[]>[] = [];
  // At most 16 registrations at once (the pool has 20 connections); when the database cannot keep up the schedule
  // slips, and achievedRate says so.
  let running = 0;
  const released: (() => void)[] = [];
  for (let i = 0; i < total; i += 1) {
    const due = started + (i * 1000) / transactionRate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    while (running >= 16) await new Promise<void>((resolve) => released.push(resolve));
    running += 1;
    inFlight.push(
      registerSome().finally(() => {
        running -= 1;
        released.shift()?.();
      }),
    );
  }
  const results = (await Promise.all(inFlight)).flat();
  const elapsed = (performance.now() - started) / 1000;
  const measured = new Set(results.slice(measuredFrom).map((r) => r.customerId));
  const deadline = Date.now() + 30_000;
  while ([...measured].some((id) => !visibleAt.has(id))) {
    if (Date.now() > deadline) throw new Error('some registrations never became visible');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await projector.stop();

  // A batch can commit before the registering client has processed its own COMMIT reply: that counts as 0.
  const latencies = [...measured].map((id) => Math.max(0, (visibleAt.get(id) ?? 0) - (committedAt.get(id) ?? 0))).sort((a, b) => a - b);
  const quantile = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  const round = (ms: number) => Math.round(ms * 10) / 10;
  process.stdout.write(
    `${JSON.stringify({
      targetRate: rate,
      perTransaction,
      achievedRate: Math.round(results.length / elapsed),
      measured: latencies.length,
      commitToVisibleMs: { p50: round(quantile(0.5)), p90: round(quantile(0.9)), p99: round(quantile(0.99)), max: round(latencies.at(-1) ?? NaN) },
    })}\n`,
  );
} finally {
  await pool.end();
  await server.stop();
  await rm(root, { recursive: true, force: true });
}
