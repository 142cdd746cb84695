/**
 * Issue #11 item 7: credentials in NATS_URL's userinfo authenticate, as the NATS tools take them, and are never
 * logged; neither is the password of DATABASE_URL. A real `serve` process against a nats-server that requires a user.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { freePort } from '../support/global-setup.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { request, startServiceProcess, type ServiceProcess } from '../support/service-process.js';

let nats: NatsServer | undefined;
let db: TestDatabase | undefined;
let service: ServiceProcess | undefined;

afterAll(async () => {
  await service?.stop();
  await nats?.close();
  await db?.drop();
});

describe('NATS_URL with credentials', () => {
  it('authenticates with the userinfo of the URL and logs neither it nor the database password', async () => {
    nats = await startNatsServer({ user: 'bob', password: 'n4ts-s3cret' });
    db = await createTestDatabase();
    const port = await freePort();
    const databaseUrl = new URL(db.url);
    databaseUrl.password = 'postgres'; // the suite's server; the same password, spelled out so the check below means something
    service = await startServiceProcess({
      PORT: String(port),
      DATABASE_URL: databaseUrl.toString(),
      AUTH_MODE: 'none',
      NATS_URL: `nats://bob:n4ts-s3cret@127.0.0.1:${nats.port}`,
      LOG_LEVEL: 'debug',
    });
    const ready = await eventually(
      async () => {
        const answer = await request({ host: '127.0.0.1', port, path: '/health/ready' });
        return 'status' in answer && answer.status === 200 ? answer : undefined;
      },
      { what: 'readiness with NATS up', timeoutMs: 30_000 },
    );
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'UP' });
    const output = service.output();
    expect(output).toContain('NATS JetStream consumer and relays started');
    expect(output).toContain(`127.0.0.1:${nats.port}`);
    expect(output).not.toContain('n4ts-s3cret');
    expect(output).not.toContain('bob:');
    expect(output).not.toContain('postgres:postgres@');
  }, 90_000);
});
