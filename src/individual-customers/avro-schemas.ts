/**
 * The Avro schemas of every event this flow consumes or produces (`schemas/avro/*.avsc`), their Schema Registry
 * subjects, their registration on start, and the Avro form of `customer.events` when `KAFKA_VALUE_FORMAT=avro`.
 *
 * Subject naming: TopicRecordNameStrategy, `<topic>-<record full name>` (e.g.
 * `identity.user.events-com.acme.identity.events.UserActivated`). Both topics carry several event types
 * (`identity.user.events`: UserRegistered, UserActivated, EmailVerified; `customer.events`: CustomerRegistered,
 * CustomerActivated). The default TopicNameStrategy (`<topic>-value`) allows one record type per topic: the second type
 * would be an incompatible change of the first. RecordNameStrategy would allow it too, but makes one subject per
 * record across all topics, so a type's evolution on one topic would constrain it on every other; with the topic in
 * the subject each topic's compatibility rules stay its own, which is what Confluent recommends for multi-type topics.
 */
import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { frame } from '../platform/avro/confluent-wire.js';
import { SchemaRegistryRequestError, type SchemaRegistry } from '../platform/avro/schema-registry.js';
import type { Logger } from '../platform/logger.js';
import { sleepWhile } from '../platform/sleep.js';

export interface EventSchema {
  readonly eventType: string;
  /** The record's full name (`namespace.name`), the second half of its subject. */
  readonly fullName: string;
  /** The schema text as registered. */
  readonly text: string;
  readonly type: avro.Type;
}

const SCHEMAS_DIR = new URL('../../schemas/avro/', import.meta.url);

function load(file: string): EventSchema {
  const text = readFileSync(new URL(file, SCHEMAS_DIR), 'utf8');
  const schema = JSON.parse(text) as { name: string; namespace: string };
  // Registered in canonical form: a registry compares schemas by content, and docs or whitespace are not content.
  const type = avro.Type.forSchema(schema as avro.Schema);
  return { eventType: schema.name, fullName: `${schema.namespace}.${schema.name}`, text: JSON.stringify(schema), type };
}

// Read on first use, not at import: a service without a Schema Registry never needs the files.
let consumed: readonly EventSchema[] | undefined;
let produced: readonly EventSchema[] | undefined;

/** Consumed from `identity.user.events` (EmailVerified is consumed and ignored). */
export function consumedSchemas(): readonly EventSchema[] {
  consumed ??= ['user-registered.avsc', 'user-activated.avsc', 'email-verified.avsc'].map(load);
  return consumed;
}

/** Produced to `customer.events`. */
export function producedSchemas(): readonly EventSchema[] {
  produced ??= ['customer-registered.avsc', 'customer-activated.avsc'].map(load);
  return produced;
}

/** TopicRecordNameStrategy (see the module comment). */
export function subjectOf(topic: string, schema: EventSchema): string {
  return `${topic}-${schema.fullName}`;
}

export interface SchemaSetup {
  readonly registry: SchemaRegistry;
  readonly inputTopic: string;
  readonly outputTopic: string;
  /** Register the schemas (default); false: only check them against the registry's compatibility rules. */
  readonly autoRegister: boolean;
  readonly logger: Logger;
}

/**
 * Registers (or, without registration rights, checks) every schema; resolves with the ids of the produced ones by
 * event type. Throws what the registry throws: transient when it is away, `SchemaRegistryRequestError` when it refuses.
 */
export async function setUpSchemas(setup: SchemaSetup): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  const all = [
    ...consumedSchemas().map((schema) => ({ schema, topic: setup.inputTopic, produced: false })),
    ...producedSchemas().map((schema) => ({ schema, topic: setup.outputTopic, produced: true })),
  ];
  for (const { schema, topic, produced } of all) {
    const subject = subjectOf(topic, schema);
    let id: number | undefined;
    if (setup.autoRegister) {
      id = await setup.registry.register(subject, schema.text);
    } else {
      if (!(await setup.registry.isCompatible(subject, schema.text))) {
        throw new SchemaRegistryRequestError(`schema ${schema.fullName} is not compatible with the latest version of ${subject}`, 409, 409);
      }
      // Producing needs the id of this exact schema, registered by whoever may register.
      if (produced) id = await setup.registry.lookup(subject, schema.text);
    }
    if (produced && id !== undefined) ids.set(schema.eventType, id);
    setup.logger.info({ subject, schemaId: id, registered: setup.autoRegister }, 'Avro schema ready');
  }
  return ids;
}

export interface AvroCustomerEvents {
  /** Ready ids, once `setUpSchemas` succeeded (retried with backoff until then, or until `stop`). */
  ready(): Promise<Map<string, number>>;
  /** The Confluent-framed Avro form of a `customer.events` message (its JSON text). Throws while not ready. */
  encode(json: string): Promise<Buffer>;
  stop(): void;
}

/**
 * Sets the schemas up in the background, retrying with backoff: a registry outage at start must not stop the service
 * (JSON keeps flowing; the relay, when it must produce Avro, waits with its backlog in the outbox).
 */
export function startAvroSchemas(setup: SchemaSetup): AvroCustomerEvents {
  let running = true;
  let ids: Map<string, number> | undefined;
  const ready = (async () => {
    let backoffMs = 500;
    for (;;) {
      try {
        ids = await setUpSchemas(setup);
        return ids;
      } catch (error) {
        if (!running) throw error;
        setup.logger.warn({ err: error, retryInMs: backoffMs }, 'could not set up the Avro schemas; will retry');
        await sleepWhile(backoffMs, () => running);
        backoffMs = Math.min(30_000, backoffMs * 2);
      }
    }
  })();
  ready.catch(() => undefined);
  const byType = new Map(producedSchemas().map((schema) => [schema.eventType, schema]));
  return {
    ready: () => ready,
    async encode(json) {
      const current = ids ?? (await Promise.race([ready, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1_000))]));
      if (current === undefined) throw new Error('the Avro schemas are not registered yet (schema registry unavailable?)');
      const event = JSON.parse(json) as { eventType?: unknown };
      const eventType = typeof event.eventType === 'string' ? event.eventType : '';
      const schema = byType.get(eventType);
      const id = current.get(eventType);
      if (schema === undefined || id === undefined) throw new Error(`no Avro schema for ${eventType || 'an event without eventType'}`);
      return frame(id, schema.type, event);
    },
    stop() {
      running = false;
    },
  };
}
