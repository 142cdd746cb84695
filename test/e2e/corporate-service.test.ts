/**
 * `serve` with NATS configured, and `publish customer-registered` feeding it: the CLI's generated companies go through
 * JetStream into the running service and come out as customer-saved and user-saved.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { generateCustomerRegistered } from '../../src/corporate-customers/publish-customer-registered.js';
import { parseStructured } from '../../src/platform/cloudevents.js';
import { parseCustomerRegistered } from '../../src/corporate-customers/customer-registered.schema.js';
import { startService, type RunningService } from '../../src/service.js';
import { messagesOn, tableCounts } from '../support/corporate.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../support/global-setup.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { ROOT, runCli } from '../support/cli.js';
import { testLogger } from '../support/run-logs.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/customer-registered.cloudevent.json', import.meta.url));

let db: TestDatabase;
let nats: NatsServer;
let service: RunningService;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  nats = await startNatsServer();
  env = { DATABASE_URL: db.url, NATS_URL: nats.url, PORT: String(await freePort()), HOST: '127.0.0.1', LOG_LEVEL: 'silent', AUTH_MODE: 'none' };
  service = await startService(loadConfig(env), testLogger());
});
afterAll(async () => {
  await service?.stop();
  await nats?.close();
  await db?.drop();
});

const cli = (args: string[]) => runCli(args, env);

describe('publish customer-registered', () => {
  it('generates realistic, valid registrations', () => {
    for (let i = 0; i < 50; i += 1) {
      const event = generateCustomerRegistered();
      const cloudEvent = parseStructured(event);
      const parsed = cloudEvent.ok ? parseCustomerRegistered(cloudEvent.value) : cloudEvent;
      expect(parsed.ok).toBe(true);
      expect(event.data.users[0]?.role).toBe('customer_account_owner');
      expect(event.data.users.length).toBeGreaterThanOrEqual(2);
    }
  });

  it('--count N to NATS: the running service registers every company and publishes its events', async () => {
    const result = await cli(['publish', 'customer-registered', '--count', '5']);
    expect(result.stderr).toContain('sent 5 customer-registered event(s) to nats');
    expect(result.code).toBe(0);
    const counts = await eventually(async () => {
      const now = await tableCounts(db.pool);
      return now.companies === 5 ? now : undefined;
    }, '5 companies');
    expect(counts.dead_letters).toBe(0);
    const client = await connect({ servers: nats.url });
    try {
      const saved = await eventually(async () => {
        const messages = await messagesOn(client, 'customer-saved');
        return messages.length === 5 ? messages : undefined;
      }, '5 customer-saved events');
      expect(saved.map((message) => message.json.type)).toEqual(Array(5).fill('disco.knapscen.customer.saved'));
      const users = await eventually(async () => {
        const messages = await messagesOn(client, 'user-saved');
        return messages.length === counts.company_users ? messages : undefined;
      }, 'one user-saved per user');
      expect(users.length).toBeGreaterThanOrEqual(10);
    } finally {
      await client.close();
    }
  });

  it('--file with two events sharing one id (different subjects) to NATS: JetStream keeps both and both companies exist', async () => {
    const first = generateCustomerRegistered(new Date('2025-10-04T12:00:00Z'));
    const second = { ...generateCustomerRegistered(new Date('2025-10-04T12:00:00Z')), id: first.id };
    const file = join(mkdtempSync(join(tmpdir(), 'same-id-')), 'events.json');
    writeFileSync(file, JSON.stringify([first, second]));
    const result = await cli(['publish', 'customer-registered', '--file', file]);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('(duplicate)');
    for (const subject of [first.subject, second.subject]) {
      await eventually(async () => (await fetch(new URL(`/api/v1/corporate-customers/${subject}`, service.url))).status === 200, `company ${subject}`);
    }
  });

  it("publish-customer-registered.sh (the seed README's test step) publishes one event the service registers", async () => {
    const before = (await tableCounts(db.pool)).companies;
    const script = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('sh', [join(ROOT, 'publish-customer-registered.sh')], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', NATS_URL: nats.url } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(script.stderr).toContain('sent 1 customer-registered event(s) to nats');
    expect(script.code).toBe(0);
    expect(script.stdout).toMatch(/^published evt-customer-\d{14}-\w+ [0-9a-f-]{36} seq=\d+\n$/);
    await eventually(async () => (await tableCounts(db.pool)).companies === before + 1, 'the published company registered');
  });

  it('--file F --to http: posts the file to the running service', async () => {
    const result = await cli(['publish', 'customer-registered', '--file', FIXTURE, '--to', 'http', '--url', service.url]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^201 evt-customer-20251004120000 550e8400-e29b-41d4-a716-446655440000 /);
    const response = await fetch(new URL('/api/v1/corporate-customers/550e8400-e29b-41d4-a716-446655440000', service.url));
    expect(response.status).toBe(200);
  });
});
