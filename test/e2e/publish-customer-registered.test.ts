/**
 * `publish customer-registered` as an operator or Sveltos in core NATS mode uses it: `--core` publishes plain NATS
 * messages (no stream, no ack, like `nats pub`); a missing NATS_URL ends with exit 2 and the reason (bad options:
 * `cli-usage.test.ts`).
 * The JetStream and HTTP paths are `corporate-service.test.ts`.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCustomerRegistered } from '../../src/corporate-customers/customer-registered.schema.js';
import { parseStructured } from '../../src/platform/cloudevents.js';
import { runCli } from '../support/cli.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';

let nats: NatsServer;
let client: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  client = await connect({ servers: nats.url });
});
afterAll(async () => {
  await client?.close();
  await nats?.close();
});

describe('publish customer-registered --core', () => {
  it('publishes each generated company as one valid CloudEvent on the subject, with core NATS and no stream', async () => {
    const received: string[] = [];
    const subscription = client.subscribe('knapscen.test.registered');
    const collecting = (async () => {
      for await (const message of subscription) received.push(message.string());
    })();
    await client.flush();

    const result = await runCli(['publish', 'customer-registered', '--core', '--count', '3', '--subject', 'knapscen.test.registered'], { NATS_URL: nats.url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('sent 3 customer-registered event(s) to nats');
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^published \S+ \S+ \(core NATS\)$/);

    for (let waited = 0; received.length < 3 && waited < 10_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    subscription.unsubscribe();
    await collecting;
    expect(received).toHaveLength(3);
    for (const body of received) {
      const cloudEvent = parseStructured(JSON.parse(body));
      expect(cloudEvent.ok && parseCustomerRegistered(cloudEvent.value).ok).toBe(true);
    }
    // Published ids are the received events' ids, in order.
    expect(lines.map((line) => line.split(' ')[1])).toEqual(received.map((body) => (JSON.parse(body) as { id: string }).id));

    const streams = await (await jetstreamManager(client)).streams.list().next();
    expect(streams).toEqual([]);
  }, 60_000);
});

describe('publish customer-registered without NATS_URL', () => {
  it('exits 2 with one INVALID_CONFIGURATION line naming it', async () => {
    const result = await runCli(['publish', 'customer-registered', '--to', 'nats'], {});
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n').filter((line) => line.startsWith('{'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ code: 'INVALID_CONFIGURATION', exitCode: 2, problems: [expect.stringMatching(/^NATS_URL: publish --to nats needs/)] });
  });
});
