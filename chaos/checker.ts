/**
 * The checker compares the ledger (what was offered, and what each transport acknowledged) with what the systems
 * hold afterwards: PostgreSQL's customers, companies, outbox, event store, read model and dead letters, every message
 * on `customer.events`, and the JetStream stream. It trusts none of the service's own counters.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { connect as connectNats } from '@nats-io/transport-node';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { companyIdFor } from '../src/corporate-customers/domain/company.js';
import { OUTPUT_TOPIC } from './cluster.js';
import type { Offer } from './driver.js';

export interface Findings {
  readonly offered: number;
  readonly accepted: number;
  readonly rejected: number;
  /** Offered over HTTP with no final answer (instances down for the whole retry budget): no expectation either way. */
  readonly unanswered: number;
  /** Accepted valid inputs without their effect: a missing customer, company or activation. */
  readonly lost: number;
  /** Accepted valid inputs without their effect but parked with a reason (e.g. RETRIES_EXHAUSTED): replayable, yet not delivered. */
  readonly parkedValid: number;
  /** Two customers for a user or two companies for a subject (the schema forbids both), or an event published twice with different ids. */
  readonly duplicated: number;
  /** Unpublished outbox rows, unprojected events, parked messages without a reason, poison neither parked nor refused. */
  readonly stuck: number;
  /** Customer numbers missing or repeated within a month. */
  readonly gaps: number;
  /** An aggregate's events out of order on customer.events (activation before registration, or spread over partitions). */
  readonly orderViolations: number;
  /** Something written for an input that was refused or was poison. */
  readonly writtenForRejected: number;
  /** The same event (same id) delivered more than once: allowed (at least once), reported for the record. */
  readonly redeliveredOutputs: number;
  readonly details: readonly string[];
}

/**
 * Events the projector has not applied yet. It reads the event store in (transaction_id, global_position) order, and
 * its checkpoint is the last pair it applied: an event of an earlier transaction may have a higher position, so
 * positions alone cannot say what is left.
 */
const UNPROJECTED = `SELECT count(*) FROM event_store e, projection_checkpoints c
  WHERE c.state = 'active' AND (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)`;

export interface CheckSources {
  readonly databaseUrl: string;
  readonly bootstrapServers: readonly string[];
  readonly natsUrl: string;
}

/** How much of the expected effect is there yet: the run waits on this to quiesce before it checks. */
export async function settledYet(sources: CheckSources, ledger: readonly Offer[]): Promise<{ settled: boolean; why: string }> {
  const client = new pg.Client({ connectionString: sources.databaseUrl });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const expected = expectedEffects(ledger);
    // Poison sent to a broker carries its marker as the Kafka key or the NATS header x-chaos-marker: a message an
    // instance held when it was killed is parked only after its redelivery, so the run waits for that too.
    const { rows } = await client.query<{ customers: string; companies: string; unpublished: string; unprojected: string; poison: string }>(`
      SELECT (SELECT count(*) FROM customers WHERE user_id = ANY($1::uuid[])) AS customers,
             (SELECT count(*) FROM companies WHERE id = ANY($2::uuid[])) AS companies,
             (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS unpublished,
             (${UNPROJECTED}) AS unprojected,
             (SELECT count(DISTINCT coalesce(headers->>'x-chaos-marker', convert_from(message_key, 'UTF8'))) FROM dead_letters
               WHERE status = 'parked' AND coalesce(headers->>'x-chaos-marker', convert_from(message_key, 'UTF8')) = ANY($3::text[])) AS poison`,
      [[...expected.users], [...expected.companies], expected.poison.filter((entry) => entry.transport !== 'http').map((entry) => entry.key)],
    );
    const row = rows[0];
    if (row === undefined) return { settled: false, why: 'no answer' };
    const poison = expected.poison.filter((entry) => entry.transport !== 'http').length;
    const why = `customers ${row.customers}/${expected.users.size}, companies ${row.companies}/${expected.companies.size}, poison parked ${row.poison}/${poison}, unpublished ${row.unpublished}, unprojected ${row.unprojected}`;
    const settled =
      Number(row.customers) === expected.users.size &&
      Number(row.companies) === expected.companies.size &&
      Number(row.poison) === poison &&
      Number(row.unpublished) === 0 &&
      Number(row.unprojected) === 0;
    return { settled, why };
  } catch (error) {
    return { settled: false, why: `database: ${(error as Error).message}` };
  } finally {
    await client.end().catch(() => undefined);
  }
}

interface Expected {
  readonly users: Set<string>;
  readonly companies: Set<string>;
  readonly activated: Set<string>;
  readonly poison: Offer[];
}

function expectedEffects(ledger: readonly Offer[]): Expected {
  const users = new Set<string>();
  const companies = new Set<string>();
  const activated = new Set<string>();
  const poison: Offer[] = [];
  for (const entry of ledger) {
    if (entry.outcome !== 'accepted') continue;
    if (entry.variant === 'poison') poison.push(entry);
    else if (entry.flow === 'individual') users.add(entry.key);
    else if (entry.flow === 'activation') activated.add(entry.key);
    else if (entry.cloudEvent !== undefined) companies.add(companyIdFor(entry.cloudEvent.source, entry.cloudEvent.subject, entry.cloudEvent.id));
  }
  return { users, companies, activated, poison };
}

export async function check(sources: CheckSources, ledger: readonly Offer[]): Promise<Findings> {
  const expected = expectedEffects(ledger);
  const details: string[] = [];
  const note = (what: string, items: readonly string[]) => {
    if (items.length > 0) details.push(`${what}: ${items.length} (e.g. ${items.slice(0, 3).join(', ')})`);
    return items.length;
  };
  const db = new pg.Client({ connectionString: sources.databaseUrl });
  await db.connect();
  try {
    const customers = (await db.query<{ user_id: string; customer_number: string; status: string; id: string }>('SELECT id, user_id, customer_number, status FROM customers')).rows;
    const companies = (await db.query<{ id: string }>('SELECT id FROM companies')).rows;
    const byUser = countBy(customers.map((row) => row.user_id));
    const companyIds = new Set<string>(companies.map((row) => row.id));

    // Payloads may be any bytes (invalid UTF-8 too): searched as bytes, with the keys and headers poison carries its marker in.
    const parked = (await db.query<{ payload: Buffer; message_key: Buffer | null; headers: string }>("SELECT payload, message_key, headers::text FROM dead_letters WHERE status = 'parked'")).rows;
    const parkedBytes = Buffer.concat(parked.flatMap((row) => [row.payload, row.message_key ?? Buffer.alloc(0), Buffer.from(row.headers), Buffer.from('\n')]));
    const isParked = (marker: string) => parkedBytes.includes(marker);
    const status = new Map(customers.map((row) => [row.user_id, row.status]));
    const missing = [
      ...[...expected.users].filter((user) => !byUser.has(user)).map((user) => ({ what: 'user without a customer', key: user })),
      ...[...expected.companies].filter((id) => !companyIds.has(id)).map((id) => ({ what: 'subject without a company', key: id })),
      ...[...expected.activated].filter((user) => status.get(user) !== 'ACTIVE').map((user) => ({ what: 'activation not applied', key: user })),
    ];
    let lost = note('lost', missing.filter((item) => !isParked(item.key)).map((item) => `${item.what} ${item.key}`));
    const parkedValid = note('valid inputs parked', missing.filter((item) => isParked(item.key)).map((item) => `${item.what} ${item.key}`));

    let duplicated = note('users with two customers', [...byUser].filter(([, n]) => n > 1).map(([user]) => user));
    const offeredUsers = new Set(ledger.filter((entry) => entry.flow === 'individual' && entry.variant !== 'poison').map((entry) => entry.key));
    const offeredCompanies = new Set<string>(
      ledger.flatMap((entry) => (entry.flow === 'corporate' && entry.variant !== 'poison' && entry.cloudEvent !== undefined ? [companyIdFor(entry.cloudEvent.source, entry.cloudEvent.subject, entry.cloudEvent.id)] : [])),
    );
    let writtenForRejected = note('customers for users never offered validly', [...byUser.keys()].filter((user) => !offeredUsers.has(user)));
    writtenForRejected += note('companies never offered validly', [...companyIds].filter((id) => !offeredCompanies.has(id)));

    // Customer numbers: per month, 1..n with none missing or repeated.
    const perMonth = new Map<string, number[]>();
    for (const { customer_number: number } of customers) {
      const match = /^(.*-)(\d+)$/.exec(number);
      if (match === null) continue;
      const list = perMonth.get(match[1] as string) ?? [];
      list.push(Number(match[2]));
      perMonth.set(match[1] as string, list);
    }
    // A gap is a number missing below a month's highest; a repeat, a number given twice (the schema forbids it).
    const gapList: string[] = [];
    let gaps = 0;
    for (const [month, numbers] of perMonth) {
      const distinct = new Set(numbers);
      const highest = Math.max(...numbers);
      const missing = highest - distinct.size;
      const repeated = numbers.length - distinct.size;
      gaps += missing + repeated;
      if (missing + repeated > 0) {
        const firstMissing = Array.from({ length: highest }, (_, index) => index + 1).find((n) => !distinct.has(n));
        gapList.push(`${month}: ${missing} missing below ${highest} (first ${firstMissing}), ${repeated} repeated`);
      }
    }
    if (gapList.length > 0) details.push(`customer numbers out of sequence: ${gapList.join('; ')}`);

    const stuckRows = (
      await db.query<{ unpublished: string; unprojected: string; reasonless: string }>(`
        SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS unpublished,
               (${UNPROJECTED}) AS unprojected,
               (SELECT count(*) FROM dead_letters WHERE status = 'parked' AND coalesce(reason_code, '') = '') AS reasonless`)
    ).rows[0];
    let stuck = Number(stuckRows?.unpublished) + Math.max(0, Number(stuckRows?.unprojected)) + Number(stuckRows?.reasonless);
    if (stuck > 0) details.push(`stuck: ${JSON.stringify(stuckRows)}`);
    // Poison taken by a broker must be parked with its reason; poison over HTTP must have been refused (4xx).
    stuck += note('poison neither parked nor refused', expected.poison.filter((entry) => !isParked(entry.key)).map((entry) => `${entry.transport}:${entry.key}`));
    writtenForRejected += note('poison answered 2xx over HTTP', ledger.filter((entry) => entry.variant === 'poison' && entry.transport === 'http' && entry.outcome === 'accepted').map((entry) => entry.key));

    const published = await readCustomerEvents(sources.bootstrapServers);
    const registeredIds = new Map<string, Set<string>>();
    let redeliveredOutputs = 0;
    const seen = new Set<string>();
    const partitionOf = new Map<string, number>();
    const orderList: string[] = [];
    const registeredSoFar = new Set<string>();
    for (const message of published) {
      if (seen.has(message.eventId)) redeliveredOutputs += 1;
      seen.add(message.eventId);
      const partition = partitionOf.get(message.key);
      if (partition !== undefined && partition !== message.partition) orderList.push(`${message.key} on partitions ${partition} and ${message.partition}`);
      partitionOf.set(message.key, message.partition);
      if (message.eventType === 'CustomerRegistered') {
        const ids = registeredIds.get(message.key) ?? new Set();
        ids.add(message.eventId);
        registeredIds.set(message.key, ids);
        registeredSoFar.add(message.key);
      } else if (message.eventType === 'CustomerActivated' && !registeredSoFar.has(message.key)) {
        orderList.push(`${message.key} activated before registered`);
      }
    }
    duplicated += note('customers with CustomerRegistered under two ids', [...registeredIds].filter(([, ids]) => ids.size > 1).map(([key]) => key));
    lost += note('customers never published', customers.filter((row) => !registeredIds.has(row.id)).map((row) => row.id));

    const natsOut = await readStream(sources.natsUrl);
    const savedIds = new Map<string, Set<string>>();
    for (const message of natsOut.customerSaved) {
      const ids = savedIds.get(message.subject) ?? new Set();
      ids.add(message.id);
      savedIds.set(message.subject, ids);
    }
    duplicated += note('companies with customer-saved under two ids', [...savedIds].filter(([, ids]) => ids.size > 1).map(([key]) => key));
    lost += note('companies never published', [...companyIds].filter((id) => !savedIds.has(id)));
    redeliveredOutputs += natsOut.customerSaved.length - new Set(natsOut.customerSaved.map((message) => message.id)).size;

    const orderViolations = note('order violations', orderList);
    const outcomes = countBy(ledger.map((entry) => entry.outcome ?? 'unanswered'));
    return {
      offered: ledger.length,
      accepted: outcomes.get('accepted') ?? 0,
      rejected: outcomes.get('rejected') ?? 0,
      unanswered: (outcomes.get('failed') ?? 0) + (outcomes.get('unanswered') ?? 0),
      lost,
      parkedValid,
      duplicated,
      stuck,
      gaps,
      orderViolations,
      writtenForRejected,
      redeliveredOutputs,
      details,
    };
  } finally {
    await db.end();
  }
}

interface PublishedEvent {
  readonly key: string;
  readonly partition: number;
  readonly eventId: string;
  readonly eventType: string;
}

/** Every message on customer.events, in partition order. */
async function readCustomerEvents(bootstrapServers: readonly string[]): Promise<PublishedEvent[]> {
  const kafka = new Kafka({ clientId: 'chaos-checker', brokers: [...bootstrapServers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(OUTPUT_TOPIC);
  await admin.disconnect();
  const total = ends.reduce((sum, { high, low }) => sum + Number(high) - Number(low), 0);
  const consumer = kafka.consumer({ groupId: `chaos-checker-${Date.now()}` });
  const messages: PublishedEvent[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: OUTPUT_TOPIC, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${messages.length} of ${total} messages of ${OUTPUT_TOPIC} in 120 s`)), 120_000);
    if (total === 0) {
      clearTimeout(timer);
      resolve();
    }
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        const header = (name: string) => message.headers?.[name]?.toString() ?? '';
        messages.push({ key: message.key?.toString() ?? '', partition, eventId: header('eventId'), eventType: header('eventType') });
        if (messages.length >= total) {
          clearTimeout(timer);
          resolve();
        }
        return Promise.resolve();
      },
    });
  });
  await consumer.disconnect();
  return messages;
}

/** customer-saved events in the JetStream stream, read with an ordered consumer. */
async function readStream(url: string): Promise<{ customerSaved: { subject: string; id: string }[] }> {
  const nc = await connectNats({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const stream = await jsm.streams.find('customer-saved');
    const info = await jsm.streams.info(stream, { subjects_filter: 'customer-saved' });
    const expected = info.state.subjects?.['customer-saved'] ?? 0;
    // One subject filter (`filter_subject`): Debian's nats-server predates the plural form.
    const { name } = await jsm.consumers.add(stream, { ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, filter_subject: 'customer-saved', inactive_threshold: nanos(60_000) });
    const consumer = await jetstream(nc).consumers.get(stream, name);
    const customerSaved: { subject: string; id: string }[] = [];
    while (customerSaved.length < expected) {
      const batch = await consumer.fetch({ max_messages: 1_000, expires: 2_000 });
      let got = 0;
      for await (const message of batch) {
        const event = message.json<{ subject?: string; id?: string }>();
        customerSaved.push({ subject: event.subject ?? '', id: event.id ?? '' });
        got += 1;
      }
      if (got === 0) break;
    }
    return { customerSaved };
  } finally {
    await nc.close();
  }
}

function countBy(items: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
}
