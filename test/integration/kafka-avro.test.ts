/**
 * Avro with a Schema Registry on identity.user.events and customer.events, against a real Schema Registry (Apicurio
 * Registry 2.6, its Confluent-compatible API; see test/support/schema-registry.ts), the run's Kafka broker (real, or the mock where Java is missing) and a
 * real PostgreSQL. The service's own Kafka wiring (`startKafkaFlow`) runs, configured through `loadConfig`.
 */
import type { Kafka, Producer } from 'kafkajs';
import { v4 as uuidv4 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type KafkaConfig } from '../../src/config.js';
import { consumedSchemas, producedSchemas, setUpSchemas, subjectOf } from '../../src/individual-customers/avro-schemas.js';
import { startKafkaFlow, type KafkaFlow } from '../../src/individual-customers/kafka-flow.js';
import { decodeConfluentAvro, frame } from '../../src/platform/avro/confluent-wire.js';
import { createSchemaRegistry, type SchemaRegistry } from '../../src/platform/avro/schema-registry.js';
import { createMetrics, type Metrics } from '../../src/platform/metrics.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { userActivated, userRegistered } from '../support/events.js';
import { eventually } from '../support/eventually.js';
import { plainKafka, produce, silentLogger, type OutgoingMessage } from '../support/kafka.js';
import { sharedKafka, type TestKafka } from '../support/kafka-test-broker.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startSchemaRegistry, type TestSchemaRegistry } from '../support/schema-registry.js';
import { activateCustomersOn, registerCustomersOn } from '../support/service.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

let mock: TestKafka;
let db: TestDatabase;
let kafka: Kafka;
let producer: Producer;
let registryServer: TestSchemaRegistry;
let proxy: TcpProxy;
let registry: SchemaRegistry;

beforeAll(async () => {
  [registryServer, mock, db] = await Promise.all([
    startSchemaRegistry(),
    sharedKafka({ 'avro.mixed.in': 4, 'avro.mixed.out': 4, 'avro.bad.in': 1, 'avro.outage.in': 2, 'avro.outage.out': 2 }),
    createTestDatabase(),
  ]);
  // The service reaches the registry through a proxy the outage test can cut.
  proxy = await startTcpProxy({ host: '127.0.0.1', port: registryServer.port });
  registry = createSchemaRegistry({ url: registryServer.url, timeoutMs: 5_000 });
  kafka = plainKafka(mock.bootstrapServers);
  producer = kafka.producer();
  await producer.connect();
}, 240_000);
afterAll(async () => {
  await producer?.disconnect();
  await proxy?.close();
  await registryServer?.stop();
  await db?.drop();
  await mock?.stop();
});

const viaProxy = () => `http://127.0.0.1:${proxy.port}/apis/ccompat/v6`;

function configFor(input: string, output: string, extra: Record<string, string> = {}): KafkaConfig {
  return loadConfig({
    KAFKA_BROKERS: mock.bootstrapServers.join(','),
    KAFKA_INPUT_TOPIC: input,
    KAFKA_OUTPUT_TOPIC: output,
    KAFKA_GROUP_ID: `avro-${uuidv4()}`,
    SCHEMA_REGISTRY_URL: viaProxy(),
    RETRY_BACKOFF_MS: '200,400',
    ...extra,
  }).kafka;
}

function startFlow(config: KafkaConfig): { flow: KafkaFlow; metrics: Metrics } {
  const metrics = createMetrics({ defaultMetrics: false });
  const relayWake = createWakeSignal();
  const flow = startKafkaFlow({
    config,
    pool: db.pool,
    register: registerCustomersOn(db.pool, { metrics, onCommitted: () => relayWake.notify() }),
    activate: activateCustomersOn(db.pool, { metrics, onCommitted: () => relayWake.notify() }),
    logger: silentLogger,
    metrics,
    relayWake,
  });
  return { flow, metrics };
}

const schemaOf = (eventType: string) => {
  const schema = consumedSchemas().find((item) => item.eventType === eventType);
  if (schema === undefined) throw new Error(`no schema for ${eventType}`);
  return schema;
};

/** The identity service's event as Avro in the Confluent wire format, with the id the registry gave its schema. */
async function avroMessage(topic: string, event: { eventId: string; eventType: string; payload: { userId: string } }): Promise<OutgoingMessage> {
  const schema = schemaOf(event.eventType);
  const id = await registry.register(subjectOf(topic, schema), schema.text);
  return { key: event.payload.userId, value: frame(id, schema.type, event), headers: { eventType: event.eventType, eventId: event.eventId } };
}

const jsonMessage = (event: { eventId: string; eventType: string; payload: { userId: string } }): OutgoingMessage => ({
  key: event.payload.userId,
  value: JSON.stringify(event),
  headers: { eventType: event.eventType, eventId: event.eventId, 'content-type': 'application/json' },
});

const count = async (sql: string, values: unknown[] = []) => Number((await db.rows<{ n: string }>(sql, values))[0]?.n);

describe('Avro with a Schema Registry', () => {
  it('registers every schema under TopicRecordNameStrategy subjects, and only checks them when registration is off', async () => {
    const ids = await setUpSchemas({ registry, inputTopic: 'names.in', outputTopic: 'names.out', autoRegister: true, logger: silentLogger });
    expect([...ids.keys()].sort()).toEqual(['CustomerActivated', 'CustomerRegistered']);
    const subjects = (await (await fetch(`${registryServer.url}/subjects`)).json()) as string[];
    expect(subjects).toEqual(
      expect.arrayContaining([
        'names.in-com.acme.identity.events.UserRegistered',
        'names.in-com.acme.identity.events.UserActivated',
        'names.in-com.acme.identity.events.EmailVerified',
        'names.out-com.acme.customer.events.CustomerRegistered',
        'names.out-com.acme.customer.events.CustomerActivated',
      ]) as unknown,
    );
    // Without registration rights: the same schemas check out, and the produced ones' ids are looked up.
    const checked = await setUpSchemas({ registry, inputTopic: 'names.in', outputTopic: 'names.out', autoRegister: false, logger: silentLogger });
    expect(checked).toEqual(ids);
    // An incompatible change (a new required field without a default) is refused when only checking.
    await fetch(`${registryServer.url}/config/names.out-com.acme.customer.events.CustomerActivated`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ compatibility: 'BACKWARD' }),
    });
    const changed = JSON.parse(producedSchemas()[1]?.text ?? '{}') as { fields: unknown[] };
    changed.fields.push({ name: 'mandatory', type: 'string' });
    expect(await registry.isCompatible('names.out-com.acme.customer.events.CustomerActivated', JSON.stringify(changed))).toBe(false);
  });

  it('processes a topic of mixed JSON and Avro messages exactly once, and the relay produces Avro', async () => {
    const users = Array.from({ length: 60 }, () => userRegistered());
    const messages: OutgoingMessage[] = [];
    for (const [index, user] of users.entries()) {
      const activation = userActivated(user.payload.userId, { correlationId: user.correlationId });
      // Registration and activation each in JSON or Avro, in every combination, plus redeliveries in the other format.
      const registrationAvro = index % 2 === 0;
      const activationAvro = index % 3 === 0;
      messages.push(registrationAvro ? await avroMessage('avro.mixed.in', user) : jsonMessage(user));
      messages.push(activationAvro ? await avroMessage('avro.mixed.in', activation) : jsonMessage(activation));
      if (index % 5 === 0) messages.push(registrationAvro ? jsonMessage(user) : await avroMessage('avro.mixed.in', user));
      if (index % 7 === 0) messages.push(activationAvro ? jsonMessage(activation) : await avroMessage('avro.mixed.in', activation));
    }
    const avroCount = messages.filter((message) => Buffer.isBuffer(message.value)).length;
    expect(avroCount).toBeGreaterThan(40);
    await produce(producer, 'avro.mixed.in', messages);
    const eventsBefore = await count('SELECT count(*) AS n FROM event_store');
    const { flow, metrics } = startFlow(configFor('avro.mixed.in', 'avro.mixed.out', { KAFKA_VALUE_FORMAT: 'avro' }));
    try {
      const published = await readRawTopic('avro.mixed.out', 120);
      const userIds = users.map((user) => user.payload.userId);
      expect(await count(`SELECT count(*) AS n FROM customers WHERE user_id = ANY($1::uuid[]) AND status = 'ACTIVE'`, [userIds])).toBe(60);
      // Exactly once: one registration and one activation per user, whatever the format and however often delivered.
      expect((await count('SELECT count(*) AS n FROM event_store')) - eventsBefore).toBe(120);
      expect(await count('SELECT count(*) AS n FROM dead_letters')).toBe(0);
      const outcomes = Object.fromEntries((await metrics.customerActivated.get()).values.map((value) => [String(value.labels.status), value.value]));
      expect(outcomes.activated).toBe(60);

      // customer.events in Avro: Confluent-framed, decodable through the registry with the registered schemas.
      const byCustomer = new Map<string, string[]>();
      for (const message of [...published].sort((a, b) => Number(a.offset) - Number(b.offset))) {
        expect(message.value[0]).toBe(0);
        const decoded = await decodeConfluentAvro(message.value, registry);
        if (!decoded.ok) throw new Error(decoded.message);
        const event = decoded.value as { eventType: string; aggregateId: string; payload: { userId: string } };
        expect(message.key).toBe(event.aggregateId);
        expect(message.headers['content-type']).toBe('avro/binary');
        byCustomer.set(event.aggregateId, [...(byCustomer.get(event.aggregateId) ?? []), event.eventType]);
      }
      expect(byCustomer.size).toBe(60);
      for (const types of byCustomer.values()) expect(types).toEqual(['CustomerRegistered', 'CustomerActivated']);
    } finally {
      await flow.stop();
    }
  }, 120_000);

  it('parks an unknown schema id as SCHEMA_NOT_FOUND and bytes that do not decode as MALFORMED_AVRO; ignores Avro EmailVerified', async () => {
    const user = userRegistered();
    const good = await avroMessage('avro.bad.in', user);
    const goodBytes = good.value as Buffer;
    const unknownId = Buffer.from(goodBytes);
    unknownId.writeInt32BE(987_654, 1);
    const truncated = goodBytes.subarray(0, goodBytes.length - 10);
    const trailing = Buffer.concat([goodBytes, Buffer.from([1, 2, 3])]);
    const verified = await avroMessage('avro.bad.in', {
      eventId: uuidv4(),
      eventType: 'EmailVerified',
      eventVersion: '1.0',
      timestamp: '2026-01-02T10:59:00Z',
      aggregateId: user.payload.userId,
      aggregateType: 'User',
      correlationId: uuidv4(),
      payload: { userId: user.payload.userId, email: user.payload.email, verifiedAt: '2026-01-02T10:59:00Z' },
    } as never);
    const eventIds = [uuidv4(), uuidv4(), uuidv4()];
    await produce(producer, 'avro.bad.in', [
      { key: 'a', value: unknownId, headers: { eventId: eventIds[0] as string } },
      { key: 'b', value: truncated, headers: { eventId: eventIds[1] as string } },
      { key: 'c', value: trailing, headers: { eventId: eventIds[2] as string } },
      verified,
      good,
    ]);
    const { flow, metrics } = startFlow(configFor('avro.bad.in', 'avro.bad.out'));
    try {
      await eventually(async () => (await count('SELECT count(*) AS n FROM customers WHERE user_id = $1', [user.payload.userId])) === 1, 'the good message');
      const letters = await eventually(async () => {
        const rows = await db.rows<{ message_id: string; reason_code: string; payload: Buffer }>(
          'SELECT message_id, reason_code, payload FROM dead_letters WHERE message_id = ANY($1) ORDER BY id',
          [eventIds],
        );
        return rows.length === 3 ? rows : undefined;
      }, 'three dead letters');
      expect(letters.map((letter) => [letter.message_id, letter.reason_code])).toEqual([
        [eventIds[0], 'SCHEMA_NOT_FOUND'],
        [eventIds[1], 'MALFORMED_AVRO'],
        [eventIds[2], 'MALFORMED_AVRO'],
      ]);
      // The original bytes are kept for replay.
      expect(letters[0]?.payload.equals(unknownId)).toBe(true);
      const ignored = (await metrics.ignoredEvents.get()).values.find((value) => value.labels.event_type === 'EmailVerified');
      expect(ignored?.value).toBe(1);
    } finally {
      await flow.stop();
    }
  }, 60_000);

  it('retries an Avro message while the registry is unreachable, keeps JSON flowing meanwhile, and decodes it when it is back', async () => {
    // A schema id this process has not cached yet: a new version of UserActivated (an added optional field).
    const schema = JSON.parse(schemaOf('UserActivated').text) as { fields: unknown[] };
    schema.fields.push({ name: 'channel', type: ['null', 'string'], default: null });
    const id = await registry.register('avro.outage.in-com.acme.identity.events.UserActivated', JSON.stringify(schema));
    const { default: avro } = await import('avsc');
    const type = avro.Type.forSchema(schema as never);

    const first = userRegistered();
    const second = userRegistered();
    await registerCustomersOn(db.pool)([{ event: first as never }]);
    const { flow, metrics } = startFlow(configFor('avro.outage.in', 'avro.outage.out', { RETRY_BACKOFF_MS: '500,1000,2000,4000,8000' }));
    try {
      await proxy.cut();
      const activation = userActivated(first.payload.userId);
      await produce(producer, 'avro.outage.in', [
        { key: first.payload.userId, partition: 0, value: frame(id, type, { ...activation, channel: 'web' }), headers: { eventId: activation.eventId } },
        { ...jsonMessage(second), partition: 1 },
      ]);
      // JSON on the other partition is registered during the outage; the Avro message waits on its retry schedule.
      await eventually(async () => (await count('SELECT count(*) AS n FROM customers WHERE user_id = $1', [second.payload.userId])) === 1, 'the JSON registration');
      await eventually(async () => ((await metrics.retries.get()).values[0]?.value ?? 0) >= 1, 'a retry of the Avro message');
      const statusOf = async () => (await db.rows<{ status: string }>('SELECT status FROM customers WHERE user_id = $1', [first.payload.userId]))[0]?.status;
      expect(await statusOf()).toBe('PENDING_VERIFICATION');
      await proxy.restore();
      await eventually(async () => (await statusOf()) === 'ACTIVE', { what: 'the Avro activation after the outage', timeoutMs: 30_000 });
      expect(await count('SELECT count(*) AS n FROM dead_letters WHERE message_id = $1', [activation.eventId])).toBe(0);
    } finally {
      await proxy.restore();
      await flow.stop();
    }
  }, 90_000);
});

/** Every message of `topic` from the beginning, with its raw value bytes (readTopic decodes values as text). */
async function readRawTopic(topic: string, expected: number): Promise<{ partition: number; offset: string; key: string | null; value: Buffer; headers: Record<string, string> }[]> {
  const consumer = kafka.consumer({ groupId: `raw-${uuidv4()}`, maxWaitTimeInMs: 100 });
  const messages: { partition: number; offset: string; key: string | null; value: Buffer; headers: Record<string, string> }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${messages.length} of ${expected} messages from ${topic}`)), 60_000);
      void consumer.run({
        eachMessage: ({ partition, message }) => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
          messages.push({ partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value ?? Buffer.alloc(0), headers });
          if (messages.length >= expected) {
            clearTimeout(timer);
            resolve();
          }
          return Promise.resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return messages;
}
