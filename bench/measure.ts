/**
 * Figures read from the database after (or during) a run: commit and projection times come from PostgreSQL's own
 * commit timestamps (`track_commit_timestamp = on`), measured against each customer's `registeredAt`, which is the
 * input event's timestamp. Nothing in the service is instrumented for the benchmark.
 */
import type pg from 'pg';

export interface Distribution {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

export function distribution(valuesMs: readonly number[]): Distribution {
  const sorted = [...valuesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
  return { count: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.at(-1) ?? Number.NaN };
}

/** Where the read model keeps its documents, and how a document names its customer. */
export interface ReadModelLocation {
  readonly table: string;
  readonly customerIdColumn: string;
}

export interface Progress {
  readonly customers: number;
  readonly unpublished: number;
  readonly projected: number;
}

export async function progress(pool: pg.Pool, readModel: ReadModelLocation): Promise<Progress> {
  const { rows } = await pool.query<{ customers: string; unpublished: string; projected: string }>(
    `SELECT (SELECT count(*) FROM customers) AS customers,
            (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS unpublished,
            (SELECT count(*) FROM ${readModel.table}) AS projected`,
  );
  const row = rows[0];
  return { customers: Number(row?.customers), unpublished: Number(row?.unpublished), projected: Number(row?.projected) };
}

/**
 * The same figures from the statistics collector (rows inserted so far; unpublished = outbox rows not yet updated):
 * free to read, where the exact counts scan whole tables. For the progress line only; they lag by up to a second.
 */
export async function progressEstimate(pool: pg.Pool, readModel: ReadModelLocation): Promise<Progress> {
  const { rows } = await pool.query<{ relname: string; inserted: string; updated: string }>(
    `SELECT relname, n_tup_ins AS inserted, n_tup_upd AS updated FROM pg_stat_user_tables WHERE relname = ANY($1::text[])`,
    [['customers', 'outbox', readModel.table]],
  );
  const table = (name: string) => rows.find((row) => row.relname === name);
  return {
    customers: Number(table('customers')?.inserted ?? 0),
    unpublished: Math.max(0, Number(table('outbox')?.inserted ?? 0) - Number(table('outbox')?.updated ?? 0)),
    projected: Number(table(readModel.table)?.inserted ?? 0),
  };
}

export interface DatabaseTimings {
  /** Input timestamp → the registration's commit. */
  readonly committed: Distribution;
  /** Input timestamp → the read-model document's commit. */
  readonly visible: Distribution;
  /** Commit time of the last customer and of the last document, epoch ms. */
  readonly lastCommittedAt: number;
  readonly lastProjectedAt: number;
  /** Per second of input time: how many, and committed p50 and max (where in the run the tail is). */
  readonly bySecond: { readonly second: number; readonly count: number; readonly committedP50: number; readonly committedMax: number; readonly visibleMax: number }[];
}

/** Timings of the customers registered from `sinceMs` on (input timestamps). */
export async function databaseTimings(pool: pg.Pool, readModel: ReadModelLocation, sinceMs: number, untilMs: number): Promise<DatabaseTimings> {
  const since = new Date(sinceMs).toISOString();
  const until = new Date(untilMs).toISOString();
  const { rows } = await pool.query<{ second: number; committed_ms: number; visible_ms: number | null; committed_at: number; projected_at: number | null }>(
    `SELECT floor(extract(epoch FROM c.registered_at - $1::timestamptz)) AS second,
            extract(epoch FROM pg_xact_commit_timestamp(c.xmin) - c.registered_at) * 1000 AS committed_ms,
            extract(epoch FROM pg_xact_commit_timestamp(r.xmin) - c.registered_at) * 1000 AS visible_ms,
            extract(epoch FROM pg_xact_commit_timestamp(c.xmin)) * 1000 AS committed_at,
            extract(epoch FROM pg_xact_commit_timestamp(r.xmin)) * 1000 AS projected_at
     FROM customers c LEFT JOIN ${readModel.table} r ON r.${readModel.customerIdColumn}::text = c.id::text
     WHERE c.registered_at >= $1 AND c.registered_at <= $2`,
    [since, until],
  );
  const committed = rows.map((row) => Number(row.committed_ms));
  const visible = rows.filter((row) => row.visible_ms !== null).map((row) => Number(row.visible_ms));
  const seconds = new Map<number, { committed: number[]; visibleMax: number }>();
  for (const row of rows) {
    const entry = seconds.get(Number(row.second)) ?? { committed: [], visibleMax: 0 };
    entry.committed.push(Number(row.committed_ms));
    entry.visibleMax = Math.max(entry.visibleMax, Number(row.visible_ms ?? 0));
    seconds.set(Number(row.second), entry);
  }
  const bySecond = [...seconds.entries()]
    .sort(([a], [b]) => a - b)
    .map(([second, entry]) => {
      const d = distribution(entry.committed);
      return { second, count: d.count, committedP50: Math.round(d.p50), committedMax: Math.round(d.max), visibleMax: Math.round(entry.visibleMax) };
    });
  return {
    committed: distribution(committed),
    visible: distribution(visible),
    bySecond,
    lastCommittedAt: Math.max(...rows.map((row) => Number(row.committed_at))),
    lastProjectedAt: Math.max(...rows.map((row) => Number(row.projected_at ?? 0))),
  };
}

export interface Correctness {
  readonly customers: number;
  readonly expectedCustomers: number;
  readonly usersWithSeveralCustomers: number;
  /** Months whose numbers are not exactly 1..count. */
  readonly monthsWithGaps: number;
  readonly customersWithoutEvent: number;
  readonly unpublished: number;
  readonly customersNotProjected: number;
  readonly customersNotSeenOnKafka: number;
  readonly deadLetters: number;
  readonly expectedDeadLetters: number;
  readonly ok: boolean;
}

export async function checkCorrectness(
  pool: pg.Pool,
  readModel: ReadModelLocation,
  expected: { customers: number; deadLetters: number },
  publishedCustomerIds: ReadonlySet<string>,
): Promise<Correctness> {
  const one = async (sql: string) => Number((await pool.query<{ n: string }>(sql)).rows[0]?.n ?? Number.NaN);
  const customers = await one('SELECT count(*) AS n FROM customers');
  const usersWithSeveralCustomers = await one('SELECT count(*) AS n FROM (SELECT user_id FROM customers GROUP BY 1 HAVING count(*) > 1) AS d');
  const monthsWithGaps = await one(
    `SELECT count(*) AS n FROM (
       SELECT split_part(customer_number, '-', 2) AS month, count(*) AS numbers,
              min(split_part(customer_number, '-', 3)::int) AS lowest, max(split_part(customer_number, '-', 3)::int) AS highest
       FROM customers GROUP BY 1) AS m
     WHERE lowest <> 1 OR highest <> numbers`,
  );
  const customersWithoutEvent = await one(
    `SELECT count(*) AS n FROM customers c
     WHERE NOT EXISTS (SELECT 1 FROM event_store e WHERE e.stream_id = c.id::text AND e.event_type = 'CustomerRegistered')`,
  );
  const unpublished = await one('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL');
  const customersNotProjected = await one(
    `SELECT count(*) AS n FROM customers c
     WHERE NOT EXISTS (SELECT 1 FROM ${readModel.table} r WHERE r.${readModel.customerIdColumn}::text = c.id::text)`,
  );
  const ids = (await pool.query<{ id: string }>('SELECT id FROM customers')).rows.map((row) => row.id);
  const customersNotSeenOnKafka = ids.filter((id) => !publishedCustomerIds.has(id)).length;
  const deadLetters = await one('SELECT count(*) AS n FROM dead_letters');
  const ok =
    customers === expected.customers &&
    usersWithSeveralCustomers === 0 &&
    monthsWithGaps === 0 &&
    customersWithoutEvent === 0 &&
    unpublished === 0 &&
    customersNotProjected === 0 &&
    customersNotSeenOnKafka === 0 &&
    deadLetters === expected.deadLetters;
  return {
    customers,
    expectedCustomers: expected.customers,
    usersWithSeveralCustomers,
    monthsWithGaps,
    customersWithoutEvent,
    unpublished,
    customersNotProjected,
    customersNotSeenOnKafka,
    deadLetters,
    expectedDeadLetters: expected.deadLetters,
    ok,
  };
}

export interface ActivationFigures {
  readonly committed: Distribution;
  readonly visible: Distribution;
  readonly lastCommittedAt: number;
  readonly lastVisibleAt: number;
  readonly activeCustomers: number;
  readonly activeDocuments: number;
  readonly activatedEvents: number;
}

/**
 * Input time of each user's `UserActivated` (`sentAt`) → the commit of its customer's update (committed) and of its
 * document's (visible); plus how many of the users are ACTIVE in each, and how many `CustomerActivated` were stored.
 */
export async function activationTimings(pool: pg.Pool, readModel: ReadModelLocation, sentAt: ReadonlyMap<string, number>): Promise<ActivationFigures> {
  const userIds = [...sentAt.keys()];
  const { rows } = await pool.query<{ user_id: string; status: string; doc_status: string | null; committed_at: number; visible_at: number | null }>(
    `SELECT c.user_id::text AS user_id, c.status, r.status AS doc_status,
            extract(epoch FROM pg_xact_commit_timestamp(c.xmin)) * 1000 AS committed_at,
            extract(epoch FROM pg_xact_commit_timestamp(r.xmin)) * 1000 AS visible_at
     FROM customers c LEFT JOIN ${readModel.table} r ON r.${readModel.customerIdColumn}::text = c.id::text
     WHERE c.user_id = ANY($1::uuid[])`,
    [userIds],
  );
  const committed: number[] = [];
  const visible: number[] = [];
  let lastCommittedAt = 0;
  let lastVisibleAt = 0;
  for (const row of rows) {
    const sent = sentAt.get(row.user_id) as number;
    committed.push(Number(row.committed_at) - sent);
    lastCommittedAt = Math.max(lastCommittedAt, Number(row.committed_at));
    if (row.visible_at !== null) {
      visible.push(Number(row.visible_at) - sent);
      lastVisibleAt = Math.max(lastVisibleAt, Number(row.visible_at));
    }
  }
  const events = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM event_store e JOIN customers c ON e.stream_id = c.id::text
     WHERE e.event_type = 'CustomerActivated' AND c.user_id = ANY($1::uuid[])`,
    [userIds],
  );
  return {
    committed: distribution(committed),
    visible: distribution(visible),
    lastCommittedAt,
    lastVisibleAt,
    activeCustomers: rows.filter((row) => row.status === 'ACTIVE').length,
    activeDocuments: rows.filter((row) => row.doc_status === 'ACTIVE').length,
    activatedEvents: Number(events.rows[0]?.n ?? 0),
  };
}
