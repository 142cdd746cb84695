/**
 * Offered load and observed output of the corporate flow on NATS JetStream: knapscen `customer-registered` CloudEvents
 * (structured mode, three users each: owner, admin, generic user) published to the stream as fast as JetStream acks
 * them or at a fixed rate, each stamped with the moment it is sent (its `time`, with milliseconds, becomes the
 * company's `registered_at`); and every `customer-saved` and `user-saved` read back with the stream's own timestamp.
 */
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { v4 as uuidv4 } from 'uuid';
import type { Distribution } from './measure.js';
import { distribution } from './measure.js';
import type pg from 'pg';

export const CORPORATE_USERS_PER_COMPANY = 3;

export interface CorporateSent {
  readonly firstSentAt: number;
  readonly lastSentAt: number;
  readonly companies: number;
  readonly users: number;
}

export interface CorporateLoad {
  /** Publishes `count` registrations as fast as JetStream acks them (`rate` undefined) or at `rate` per second. */
  send(count: number, rate?: number, onProgress?: (sent: number) => void): Promise<CorporateSent>;
  close(): Promise<void>;
}

const SOURCE = '/knapscen/bench';
const ROLES = ['customer_account_owner', 'admin_user', 'generic_user'] as const;

export async function connectCorporateLoad(url: string, subject: string): Promise<CorporateLoad> {
  const nc: NatsConnection = await connect({ servers: url, name: 'bench-corporate-load' });
  const js: JetStreamClient = jetstream(nc);
  const encoder = new TextEncoder();
  let serial = 0;
  const publishOne = (now: number) => {
    serial += 1;
    const companyId = uuidv4();
    const tag = `${serial}-${companyId.slice(0, 8)}`;
    const event = {
      specversion: '1.0',
      type: 'disco.knapscen.customer.registered',
      source: SOURCE,
      subject: companyId,
      id: `evt-customer-bench-${tag}`,
      time: new Date(now).toISOString(),
      datacontenttype: 'application/json',
      data: {
        name: `Bench Company ${tag}`.slice(0, 64),
        subscription_tier: 'groovy',
        users: ROLES.map((role, index) => ({ name: `User ${index} ${tag}`.slice(0, 64), email: `u${index}.${tag}@bench.example.com`, role })),
      },
    };
    return js.publish(subject, encoder.encode(JSON.stringify(event)), { msgID: JSON.stringify([SOURCE, event.id, companyId]) });
  };
  return {
    async send(count, rate, onProgress) {
      const firstSentAt = Date.now();
      let sent = 0;
      if (rate === undefined) {
        // Full speed: up to 256 unacknowledged publishes at once.
        const inFlight = new Set<Promise<unknown>>();
        while (sent < count) {
          const request = publishOne(Date.now());
          sent += 1;
          inFlight.add(request);
          void request.finally(() => inFlight.delete(request));
          if (inFlight.size >= 256) await Promise.race(inFlight);
          if (sent % 1000 === 0) onProgress?.(sent);
        }
        await Promise.all(inFlight);
      } else {
        const started = Date.now();
        const pending: Promise<unknown>[] = [];
        while (sent < count) {
          const due = Math.min(count, Math.floor(((Date.now() - started) / 1000) * rate));
          const now = Date.now();
          for (; sent < due; sent += 1) pending.push(publishOne(now));
          onProgress?.(sent);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await Promise.all(pending);
      }
      return { firstSentAt, lastSentAt: Date.now(), companies: count, users: count * CORPORATE_USERS_PER_COMPANY };
    },
    close: () => nc.close(),
  };
}

export interface CorporateWatch {
  /** customer-saved: the company it names and the stream's timestamp of the message (ms). */
  readonly customerSaved: { readonly companyId: string; readonly publishedAt: number }[];
  readonly userSaved: { readonly companyId: string; readonly publishedAt: number }[];
  close(): Promise<void>;
}

/** Reads `customer-saved` and `user-saved` from the start of `stream` with an ordered consumer each. */
export async function watchCorporateOutput(url: string, stream: string, subjects: { customerSaved: string; userSaved: string }): Promise<CorporateWatch> {
  const nc = await connect({ servers: url, name: 'bench-corporate-watch' });
  const js = jetstream(nc);
  const customerSaved: CorporateWatch['customerSaved'] = [];
  const userSaved: CorporateWatch['userSaved'] = [];
  const decoder = new TextDecoder();
  const loops: Promise<void>[] = [];
  const iterators: { stop(): void }[] = [];
  for (const [subject, into] of [
    [subjects.customerSaved, customerSaved],
    [subjects.userSaved, userSaved],
  ] as const) {
    const consumer = await js.consumers.get(stream, { filter_subjects: subject });
    const messages = await consumer.consume();
    iterators.push(messages);
    loops.push(
      (async () => {
        for await (const message of messages) {
          const body = JSON.parse(decoder.decode(message.data)) as { data?: { customer_id?: string } };
          into.push({ companyId: body.data?.customer_id ?? '', publishedAt: Number(message.info.timestampNanos) / 1e6 });
        }
      })(),
    );
  }
  return {
    customerSaved,
    userSaved,
    async close() {
      for (const iterator of iterators) iterator.stop();
      await Promise.allSettled(loops);
      await nc.close();
    },
  };
}

export interface CorporateCorrectness {
  readonly companies: number;
  readonly expectedCompanies: number;
  readonly users: number;
  readonly expectedUsers: number;
  readonly companiesWithoutEvent: number;
  readonly unpublished: number;
  readonly companiesNotSeenOnNats: number;
  readonly usersNotSeenOnNats: number;
  readonly deadLetters: number;
  readonly ok: boolean;
}

export async function checkCorporateCorrectness(
  pool: pg.Pool,
  expected: { companies: number; users: number },
  watch: CorporateWatch,
): Promise<CorporateCorrectness> {
  const one = async (sql: string) => Number((await pool.query<{ n: string }>(sql)).rows[0]?.n ?? Number.NaN);
  const companies = await one('SELECT count(*) AS n FROM companies');
  const users = await one('SELECT count(*) AS n FROM company_users');
  const companiesWithoutEvent = await one(
    `SELECT count(*) AS n FROM companies c
     WHERE NOT EXISTS (SELECT 1 FROM event_store e WHERE e.stream_id = c.id::text AND e.event_type = 'CorporateCustomerRegistered')`,
  );
  const unpublished = await one('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL');
  const ids = (await pool.query<{ id: string }>('SELECT id FROM companies')).rows.map((row) => row.id);
  const saved = new Set(watch.customerSaved.map((item) => item.companyId));
  const companiesNotSeenOnNats = ids.filter((id) => !saved.has(id)).length;
  const usersNotSeenOnNats = Math.max(0, users - watch.userSaved.length);
  const deadLetters = await one('SELECT count(*) AS n FROM dead_letters');
  const ok =
    companies === expected.companies &&
    users === expected.users &&
    companiesWithoutEvent === 0 &&
    unpublished === 0 &&
    companiesNotSeenOnNats === 0 &&
    usersNotSeenOnNats === 0 &&
    deadLetters === 0;
  return { companies, expectedCompanies: expected.companies, users, expectedUsers: expected.users, companiesWithoutEvent, unpublished, companiesNotSeenOnNats, usersNotSeenOnNats, deadLetters, ok };
}

/** Input time → commit of the company (`committed`) and → the stream's timestamp of its `customer-saved` (`published`). */
export async function corporateTimings(
  pool: pg.Pool,
  watch: CorporateWatch,
  sinceMs: number,
  untilMs: number,
): Promise<{ committed: Distribution; published: Distribution; lastCommittedAt: number; lastPublishedAt: number }> {
  const { rows } = await pool.query<{ id: string; registered_ms: number; committed_ms: number }>(
    `SELECT id::text AS id, extract(epoch FROM registered_at) * 1000 AS registered_ms,
            extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000 AS committed_ms
     FROM companies WHERE registered_at >= $1 AND registered_at <= $2`,
    [new Date(sinceMs).toISOString(), new Date(untilMs).toISOString()],
  );
  const registered = new Map(rows.map((row) => [row.id, Number(row.registered_ms)]));
  const published: number[] = [];
  let lastPublishedAt = 0;
  for (const item of watch.customerSaved) {
    const at = registered.get(item.companyId);
    if (at === undefined) continue;
    published.push(item.publishedAt - at);
    lastPublishedAt = Math.max(lastPublishedAt, item.publishedAt);
  }
  for (const item of watch.userSaved) if (registered.has(item.companyId)) lastPublishedAt = Math.max(lastPublishedAt, item.publishedAt);
  return {
    committed: distribution(rows.map((row) => Number(row.committed_ms) - Number(row.registered_ms))),
    published: distribution(published),
    lastCommittedAt: Math.max(...rows.map((row) => Number(row.committed_ms))),
    lastPublishedAt,
  };
}

/**
 * Where a run that stopped making progress is stuck: the database (companies committed, outbox rows unpublished per
 * destination), the service's durable consumer and the stream (messages per subject). One line, for the log.
 */
export async function corporateStallReport(pool: pg.Pool, url: string, stream: string, durable: string): Promise<string> {
  const { rows } = await pool.query<{ companies: string; unpublished: Record<string, number> | null }>(
    `SELECT (SELECT count(*) FROM companies) AS companies,
            (SELECT json_object_agg(destination, n) FROM (SELECT destination, count(*) AS n FROM outbox WHERE published_at IS NULL GROUP BY destination) AS d) AS unpublished`,
  );
  const nc = await connect({ servers: url, name: 'bench-corporate-diagnosis' });
  try {
    const jsm = await jetstreamManager(nc);
    const consumer = await jsm.consumers.info(stream, durable);
    const info = await jsm.streams.info(stream, { subjects_filter: '>' });
    const consumerState = {
      pending: consumer.num_pending,
      ackPending: consumer.num_ack_pending,
      redelivered: consumer.num_redelivered,
      waiting: consumer.num_waiting,
      delivered: consumer.delivered.stream_seq,
      ackFloor: consumer.ack_floor.stream_seq,
    };
    return `database ${JSON.stringify(rows[0])}; consumer ${JSON.stringify(consumerState)}; stream ${JSON.stringify(info.state.subjects ?? {})}`;
  } finally {
    await nc.close();
  }
}
