/**
 * Readiness follows what the HTTP API needs, not the brokers (issue #19): a broker that is really stopped, or
 * unreachable when the service starts, leaves reads, HTTP ingestion and readiness up; the service says so in `/health`
 * and `dependency_up`, keeps connecting in the background and resumes consuming once the broker is there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../support/cli.js';
import { eventually } from '../support/eventually.js';
import { userRegistered } from '../support/events.js';
import { freePort } from '../support/global-setup.js';
import { ownKafka, type TestKafka } from '../support/kafka-test-broker.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
let nats: NatsServer;
let mock: TestKafka;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  [db, nats, mock] = await Promise.all([
    createTestDatabase(),
    startNatsServer(),
    ownKafka({ 'outage.identity.user.events': 2, 'outage.customer.events': 2 }),
  ]);
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all([db?.drop(), nats?.close(), mock?.stop()]);
});

interface Started {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: () => string;
}

/** Starts `serve`; resolves once it answers liveness, failing at once if the process exits first. */
async function serve(env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url, AUTH_MODE: 'none', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let exited: number | null | undefined;
  child.on('exit', (code) => {
    exited = code;
    children.delete(child);
  });
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    async () => {
      if (exited !== undefined) throw new Error(`serve exited with code ${exited}:\n${output}`);
      return (await fetch(`${url}/health/live`)).status === 200;
    },
    { what: 'the service to answer', timeoutMs: 30_000, intervalMs: 100 },
  ).catch((error: unknown) => {
    if (exited !== undefined) throw new Error(`serve exited with code ${exited}:\n${output}`);
    throw error;
  });
  return { url, child, output: () => output };
}

async function stop(started: Started): Promise<void> {
  if (started.child.exitCode !== null) return;
  const exited = new Promise((resolve) => started.child.once('exit', resolve));
  started.child.kill('SIGTERM');
  await exited;
}

const json = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & { components: Record<string, { status: string; affectsReadiness?: boolean }> } };
};

const customers = async () => Number((await db.rows<{ n: string }>('SELECT count(*) AS n FROM customers'))[0]?.n);

/** NATS is stopped and started by the tests; each leaves it running. */
let natsRunning = true;
const natsDown = async () => {
  await nats.stop();
  natsRunning = false;
};
const natsUp = async () => {
  if (natsRunning) return;
  await nats.start();
  natsRunning = true;
};

const dependencyUp = async (url: string, dependency: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(`^dependency_up\\{dependency="${dependency}"\\} (\\d)$`, 'm').exec(text);
  return match?.[1];
};

/** Reads and HTTP ingestion: a registration over HTTP, then its customer read back. */
async function registersAndReadsOverHttp(url: string): Promise<void> {
  const event = userRegistered();
  const posted = await fetch(`${url}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
  expect(posted.status).toBe(201);
  const userId = event.payload.userId;
  await eventually(async () => (await fetch(`${url}/api/v1/customers/by-user/${userId}`)).status === 200, 'the customer to be readable');
}

describe('a NATS server that is down', () => {
  it('at start: serve starts, serves reads and HTTP ingestion, stays ready, and connects once NATS is back', async () => {
    await natsDown();
    const service = await serve({ NATS_URL: nats.url });
    try {
      expect((await json(`${service.url}/health/ready`)).status).toBe(200);
      const health = await json(`${service.url}/health`);
      expect(health.status).toBe(200);
      expect(health.body.components.nats).toMatchObject({ status: 'CONNECTING', affectsReadiness: false });
      expect(health.body.components.db).toMatchObject({ status: 'UP', affectsReadiness: true });
      expect(await dependencyUp(service.url, 'nats')).toBe('0');
      expect(service.output()).toContain('nats unreachable at start: serving reads and HTTP ingestion, connecting in the background');
      await registersAndReadsOverHttp(service.url);

      await natsUp();
      await eventually(async () => (await json(`${service.url}/health`)).body.components.nats?.status === 'UP', {
        what: 'NATS reported UP',
        timeoutMs: 30_000,
        intervalMs: 200,
      });
      expect(await dependencyUp(service.url, 'nats')).toBe('1');
      // The consumer runs: a customer-registered event published now is registered.
      const published = await runCli(['publish', 'customer-registered', '--to', 'nats'], { NATS_URL: nats.url });
      expect(published.code, published.stderr).toBe(0);
      // "published <event id> <subject> seq=<n>": the subject, a UUID, is the company id.
      const companyId = published.stdout.trim().split(' ')[2];
      expect(companyId).toBeDefined();
      await eventually(async () => (await fetch(`${service.url}/api/v1/corporate-customers/${companyId}`)).status === 200, {
        what: 'the company registered from NATS',
        timeoutMs: 30_000,
        intervalMs: 200,
      });
    } finally {
      await stop(service);
      await natsUp();
    }
  }, 120_000);

  it('while running: readiness and reads stay up, /health and dependency_up say DOWN', async () => {
    const service = await serve({ NATS_URL: nats.url });
    try {
      await eventually(async () => (await json(`${service.url}/health`)).body.components.nats?.status === 'UP', 'NATS UP');
      await natsDown();
      await eventually(async () => (await json(`${service.url}/health`)).body.components.nats?.status === 'DOWN', {
        what: 'NATS reported DOWN',
        timeoutMs: 15_000,
        intervalMs: 200,
      });
      expect(await json(`${service.url}/health/ready`)).toMatchObject({ status: 200, body: { status: 'UP' } });
      expect(await dependencyUp(service.url, 'nats')).toBe('0');
      await registersAndReadsOverHttp(service.url);
    } finally {
      await stop(service);
      await natsUp();
    }
  }, 120_000);
});

describe('a Kafka broker that is down at start', () => {
  it('serve starts, stays ready and serves reads; once the broker is up the consumer registers its events', async () => {
    await mock.brokersDown();
    const service = await serve({
      KAFKA_BROKERS: mock.bootstrapServers.join(','),
      KAFKA_INPUT_TOPIC: 'outage.identity.user.events',
      KAFKA_OUTPUT_TOPIC: 'outage.customer.events',
      KAFKA_GROUP_ID: 'outage',
      LOG_LEVEL: 'warn',
    });
    try {
      expect(await json(`${service.url}/health/ready`)).toMatchObject({ status: 200, body: { status: 'UP' } });
      const health = await json(`${service.url}/health`);
      expect(health.body.components.kafka).toMatchObject({ status: 'DOWN', affectsReadiness: false });
      expect(await dependencyUp(service.url, 'kafka')).toBe('0');
      await registersAndReadsOverHttp(service.url);

      const before = await customers();
      await mock.brokersUp();
      const sent = await runCli(['publish', 'user-registered', '--to', 'kafka'], {
        KAFKA_BROKERS: mock.bootstrapServers.join(','),
        KAFKA_INPUT_TOPIC: 'outage.identity.user.events',
      });
      expect(sent.code, sent.stderr).toBe(0);
      await eventually(async () => (await json(`${service.url}/health`)).body.components.kafka?.status === 'UP', {
        what: 'Kafka reported UP',
        timeoutMs: 30_000,
        intervalMs: 200,
      });
      await eventually(async () => (await customers()) === before + 1, {
        what: 'the Kafka event registered',
        timeoutMs: 60_000,
        intervalMs: 200,
      });
    } finally {
      await stop(service);
    }
  }, 150_000);
});
