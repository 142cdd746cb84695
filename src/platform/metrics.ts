/**
 * Prometheus metrics (SPEC §6). One registry per service instance (tests build their own), created here and handed
 * to whoever records; nothing reads a global registry.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  /** `status`: created | duplicate | rejected | failed. */
  readonly customerCreated: Counter<'status'>;
  readonly customerCreationDuration: Histogram;
  /** Activation outcomes (`UserActivated`): `status` = activated | duplicate | not_found | rejected | failed. */
  readonly customerActivated: Counter<'status'>;
  /** From the input event's own timestamp to its effect committing; `event_type` is the input's type. */
  readonly eventProcessingLag: Histogram<'event_type'>;
  readonly readModelProjectionDuration: Histogram;
  // Read model (projector).
  /** Events committed to the event store and not yet applied, per projection. */
  readonly readModelLagEvents: Gauge<'projection'>;
  /** Age of the oldest event not yet applied (0 when caught up). */
  readonly readModelLagSeconds: Gauge<'projection'>;
  /** From an event's append to its batch committing in the read model: the commit-to-visible delay. */
  readonly readModelVisibleDelay: Histogram;
  readonly readModelSkippedEvents: Counter<'projection' | 'event_type'>;
  readonly readModelWriteFailures: Counter<'projection'>;
  readonly deadLettered: Counter<'transport' | 'reason'>;
  readonly retries: Counter<'transport'>;
  readonly ignoredEvents: Counter<'transport' | 'event_type'>;
  readonly outboxPublished: Counter<'destination'>;
  /** Committed but unpublished outbox messages, read from the database at each scrape (every instance reports the same). */
  readonly outboxBacklog: Gauge<'destination'>;
  /** Consumer-group joins of this instance's Kafka consumer: 1 after start; more means rebalances. */
  readonly kafkaGroupJoins: Counter;
  /** Messages of each input partition not yet consumed by this instance (from the fetch's high watermark). */
  readonly kafkaConsumerLag: Gauge<'topic' | 'partition'>;
  /** Dead letters still parked, by reason code, read from the database at each scrape. */
  readonly deadLettersParked: Gauge<'reason'>;
  /** `route` is the route pattern (`/api/v1/customers/:customerId`), never the raw URL, so the label set stays small. */
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>;
  /** 1 while a dependency (db, read model, kafka, nats, mirror…) answers, 0 otherwise; sampled at each scrape. */
  readonly dependencyUp: Gauge<'dependency'>;
  /** Always 1; its labels say which build runs (version, source revision, Node.js version). */
  readonly buildInfo: Gauge<'version' | 'revision' | 'nodejs'>;
  /** Requests answered 503 by load shedding, by what was over its limit. */
  readonly requestsShed: Counter<'reason'>;
}

/** Database-backed gauges: sampled on scrape, so they are right whichever instance wrote the rows. */
export interface DatabaseGaugeSources {
  /** Unpublished outbox messages per destination (`outbox.ts` `pendingCounts`). */
  readonly outboxBacklog: () => Promise<Record<string, number>>;
  /** Parked dead letters per reason code (`dead-letters.ts` `parkedCounts`). */
  readonly parkedDeadLetters: () => Promise<Record<string, number>>;
  /** The destinations the flows declare: each has a backlog sample, 0 when empty, from the first scrape on. */
  readonly outboxDestinations?: readonly string[];
}

export interface MetricsOptions {
  readonly defaultMetrics?: boolean;
  readonly database?: DatabaseGaugeSources;
  /** What `build_info` reports; absent in tests that do not care. */
  readonly build?: { readonly version: string; readonly revision: string };
  /** Every dependency's state (`health.routes.ts` `dependencyStates`), read at each scrape. */
  readonly dependencies?: () => Promise<Record<string, boolean>>;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const { database } = options;
  const dependencies = () => options.dependencies?.() ?? Promise.resolve({});
  return {
    registry,
    customerCreated: new Counter({
      name: 'customer_created_total',
      help: 'Registration outcomes of input events',
      labelNames: ['status'],
      registers,
    }),
    customerActivated: new Counter({
      name: 'customer_activated_total',
      help: 'Activation outcomes of UserActivated events',
      labelNames: ['status'],
      registers,
    }),
    customerCreationDuration: new Histogram({
      name: 'customer_creation_duration_seconds',
      help: 'Time to register a customer (the transaction and what leads to it)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    eventProcessingLag: new Histogram({
      name: 'event_processing_lag_seconds',
      help: 'From the input event timestamp to its effect being committed',
      labelNames: ['event_type'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    readModelProjectionDuration: new Histogram({
      name: 'read_model_projection_duration_seconds',
      help: 'Time to apply a batch of events to the read model',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    readModelLagEvents: new Gauge({
      name: 'read_model_projection_lag_events',
      help: 'Events in the event store not yet applied to the read model',
      labelNames: ['projection'],
      registers,
    }),
    readModelLagSeconds: new Gauge({
      name: 'read_model_projection_lag_seconds',
      help: 'Age of the oldest event not yet applied to the read model (0 when caught up)',
      labelNames: ['projection'],
      registers,
    }),
    readModelVisibleDelay: new Histogram({
      name: 'read_model_visible_delay_seconds',
      help: 'From appending an event to the read model batch that applied it committing',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers,
    }),
    readModelSkippedEvents: new Counter({
      name: 'read_model_skipped_events_total',
      help: 'Events of a type the projection does not handle, skipped',
      labelNames: ['projection', 'event_type'],
      registers,
    }),
    readModelWriteFailures: new Counter({
      name: 'read_model_projection_failures_total',
      help: 'Projection batches that failed (rolled back and retried with backoff)',
      labelNames: ['projection'],
      registers,
    }),
    deadLettered: new Counter({
      name: 'dead_letters_total',
      help: 'Input messages parked in the dead-letter store',
      labelNames: ['transport', 'reason'],
      registers,
    }),
    retries: new Counter({ name: 'event_retries_total', help: 'Retries of transient failures', labelNames: ['transport'], registers }),
    ignoredEvents: new Counter({
      name: 'ignored_events_total',
      help: 'Input events of a type this service does not handle',
      labelNames: ['transport', 'event_type'],
      registers,
    }),
    outboxPublished: new Counter({
      name: 'outbox_published_total',
      help: 'Outbox messages published',
      labelNames: ['destination'],
      registers,
    }),
    outboxBacklog: new Gauge({
      name: 'outbox_backlog_messages',
      help: 'Outbox messages committed but not yet published',
      labelNames: ['destination'],
      registers,
      ...(database === undefined ? {} : { collect: sampled(database.outboxBacklog, 'destination', database.outboxDestinations ?? []) }),
    }),
    deadLettersParked: new Gauge({
      name: 'dead_letters_parked',
      help: 'Dead letters parked and not yet replayed or discarded, by reason code',
      labelNames: ['reason'],
      registers,
      ...(database === undefined ? {} : { collect: sampled(database.parkedDeadLetters, 'reason', []) }),
    }),
    httpRequestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    kafkaGroupJoins: new Counter({
      name: 'kafka_consumer_group_joins_total',
      help: 'Times the Kafka consumer joined its group (the first join, then one per rebalance)',
      registers,
    }),
    kafkaConsumerLag: new Gauge({
      name: 'kafka_consumer_lag_messages',
      help: 'Messages of an input partition behind its high watermark after the last commit',
      labelNames: ['topic', 'partition'],
      registers,
    }),
    dependencyUp: new Gauge({
      name: 'dependency_up',
      help: 'Whether a dependency answers (1) or not (0): readiness ones (db, read_model) and background ones (kafka, nats, mirrors)',
      labelNames: ['dependency'],
      registers,
      collect: sampled(async () => Object.fromEntries(Object.entries(await dependencies()).map(([name, up]) => [name, up ? 1 : 0])), 'dependency', []),
    }),
    buildInfo: (() => {
      const gauge = new Gauge({
        name: 'build_info',
        help: 'The build that runs: version, source revision and Node.js version as labels; always 1',
        labelNames: ['version', 'revision', 'nodejs'],
        registers,
      });
      gauge.set({ version: options.build?.version ?? 'unknown', revision: options.build?.revision ?? 'unknown', nodejs: process.version }, 1);
      return gauge;
    })(),
    requestsShed: new Counter({
      name: 'http_requests_shed_total',
      help: 'Requests answered 503 with Retry-After because the process was under pressure',
      labelNames: ['reason'],
      registers,
    }),
  };
}

/**
 * A gauge `collect` hook that replaces the gauge's values with a fresh database reading. Label values seen before (and
 * `always`) drop to 0 when their rows are gone. When the database does not answer, the previous values stay: a scrape
 * never fails because of it (readiness reports the outage).
 */
function sampled(read: () => Promise<Record<string, number>>, label: string, always: readonly string[]) {
  const seen = new Set(always);
  return async function collect(this: Gauge) {
    let counts: Record<string, number>;
    try {
      counts = await read();
    } catch {
      return;
    }
    for (const value of Object.keys(counts)) seen.add(value);
    for (const value of seen) this.set({ [label]: value }, counts[value] ?? 0);
  };
}
