/**
 * A NATS outage while the service runs loses nothing: registrations keep committing (HTTP intake), the relays keep
 * the events in the outbox, and once the server is back the consumer resumes and everything is published once.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCorporateNats, type CorporateNats } from '../../src/corporate-customers/corporate-nats.js';
import { createRegisterCorporateCustomer, type RegisterCorporateCustomer } from '../../src/corporate-customers/register-corporate-customer.js';
import { createWakeSignal, fanOut } from '../../src/platform/wake-signal.js';
import { messagesOn, natsConfigFor, registration, tableCounts, uniqueEvent } from '../support/corporate.js';
import { eventually } from '../support/eventually.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

let db: TestDatabase;
let server: NatsServer;
let running: CorporateNats;
let register: RegisterCorporateCustomer;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startNatsServer();
  const wake = { customerSaved: createWakeSignal(), userSaved: createWakeSignal() };
  register = createRegisterCorporateCustomer({ pool: db.pool, clock: () => new Date(), newId: () => uuidv7(), onCommitted: fanOut(wake.customerSaved, wake.userSaved) });
  running = await startCorporateNats({ config: natsConfigFor(server.url), pool: db.pool, register, logger: testLogger(), wake });
});
afterAll(async () => {
  await running?.stop();
  await server?.close();
  await db?.drop();
});

async function onStream(subject: string): Promise<number> {
  const client = await connect({ servers: server.url });
  try {
    return (await messagesOn(client, subject)).length;
  } finally {
    await client.close();
  }
}

describe('a NATS outage under a running service', () => {
  it('keeps the events committed meanwhile and publishes them, and consumes again, once NATS is back', async () => {
    await server.stop();
    // Registrations arriving over HTTP while NATS is down commit as usual.
    const during = [uniqueEvent(), uniqueEvent()];
    for (const event of during) expect((await register({ registration: registration(event) })).outcome).toBe('created');
    const [pending] = await db.rows<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL');
    expect(Number(pending?.n)).toBe(8);

    await server.start();
    await eventually(async () => (await onStream('customer-saved')) === 2 && (await onStream('user-saved')) === 6, 'the backlog published', 30_000);

    const client = await connect({ servers: server.url });
    try {
      await jetstream(client).publish('customer-registered', JSON.stringify(uniqueEvent()));
    } finally {
      await client.close();
    }
    await eventually(async () => (await tableCounts(db.pool)).companies === 3, 'the consumer resumed', 30_000);
    // Two relays, one per subject: user-saved may follow customer-saved a moment later (seen under load).
    await eventually(async () => (await onStream('customer-saved')) === 3 && (await onStream('user-saved')) === 9, 'its customer-saved and user-saved published', 30_000);
    expect(await onStream('user-saved')).toBe(9);
  });
});
