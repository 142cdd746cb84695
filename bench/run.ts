/**
 * `npm run bench`: the end-to-end benchmark (issue 7). Starts a PostgreSQL (embedded, fsync and synchronous_commit
 * on, unless DATABASE_URL names one), a real Apache Kafka broker (KRaft, from `scripts/fetch-kafka.sh`; librdkafka's
 * mock only with `--kafka mock` or without Java) and the compiled service, then measures in one run:
 *
 * - the database limit: pgbench doing the writes of one registration, 1 and 100 per transaction;
 * - the pipeline at full speed, twice on the same process (throughput, latencies, memory, CPU per event);
 * - the pipeline at a fixed offered rate (latency from each input event's timestamp to committed, visible, published);
 * - activation: `UserActivated` at full speed to customers of the first run (committed, visible, published);
 * - HTTP lookups from the read model by id and by e-mail at 50 concurrent clients (requests/s, latency);
 * - the per-event design (one registration per transaction), for the batching ratio;
 * - the corporate flow over NATS JetStream (nats-server), at full speed and at a fixed rate;
 * - correctness after each: one customer per user, gapless numbers, an event per customer, nothing unpublished
 *   (activation: every customer and document ACTIVE, one CustomerActivated each, published; corporate: every company
 *   and user stored, with its event, and seen on customer-saved / user-saved; lookups: every answer the customer asked).
 *
 * Prints a table, the targets of issue 17 met or missed, and the load average at start and end, and writes every figure
 * as JSON (bench/results/latest.json unless --json says otherwise).
 */
import { execFile } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';
import { migrate } from '../src/platform/postgres/migrate.js';
import { startEmbeddedPostgres } from '../src/platform/postgres/embedded.js';
import { freePort } from '../test/support/global-setup.js';
import { javaAvailable, startKafkaBroker } from '../test/support/kafka-broker.js';
import { startKafkaMock } from '../test/support/kafka-mock.js';
import { startNatsServer, type NatsServer } from '../test/support/nats.js';
import {
  checkCorporateCorrectness,
  connectCorporateLoad,
  CORPORATE_USERS_PER_COMPANY,
  corporateStallReport,
  corporateTimings,
  watchCorporateOutput,
  type CorporateCorrectness,
  type CorporateLoad,
  type CorporateWatch,
} from './corporate.js';
import { cpuByGroup, cpuDelta, type CpuGroup } from './cpu.js';
import { connectLoad, watchOutput, type LoadShape } from './load.js';
import { runLookups, type LookupClient, type LookupFigures, type LookupKey } from './lookups.js';
import {
  activationTimings,
  checkCorrectness,
  databaseTimings,
  distribution,
  progress,
  progressEstimate,
  type Correctness,
  type DatabaseTimings,
  type Distribution,
  type ReadModelLocation,
} from './measure.js';
import { findPgbench, runPgbench, type PgbenchResult } from './pgbench.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';

const ROOT = path.resolve(new URL('..', import.meta.url).pathname);

/** The PostgreSQL read model's table (the embedded default). */
const READ_MODEL: ReadModelLocation = { table: 'customer_documents', customerIdColumn: 'customer_id' };

/**
 * The seed's design: a per-message listener, one event per transaction, one at a time. One partition at a time
 * matters as much as the batch size: partitions handled concurrently share a transaction (group commit).
 */
const PER_EVENT_ENV = { KAFKA_BATCH_SIZE: '1', KAFKA_PARTITIONS_CONCURRENTLY: '1' };

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    rate: { type: 'string', default: '1000' },
    'rate-seconds': { type: 'string', default: '30' },
    'per-event-events': { type: 'string', default: '10000' },
    duplicates: { type: 'string', default: '0' },
    invalid: { type: 'string', default: '0' },
    'pgbench-seconds': { type: 'string', default: '10' },
    json: { type: 'string', default: path.join(ROOT, 'bench/results/latest.json') },
    'no-build': { type: 'boolean', default: false },
    profile: { type: 'string' },
    only: { type: 'string' },
    partitions: { type: 'string' },
    brokers: { type: 'string', default: '1' },
    kafka: { type: 'string' },
    activations: { type: 'string', default: '20000' },
    'lookup-seconds': { type: 'string', default: '10' },
    'lookup-clients': { type: 'string', default: '50' },
    'lookup-client': { type: 'string', default: 'socket' },
    'corporate-events': { type: 'string', default: '5000' },
    'corporate-rate': { type: 'string', default: '100' },
    'corporate-seconds': { type: 'string', default: '20' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(`Usage: npm run bench -- [options]

  --events N            events per full-speed run (default 100000; two runs)
  --rate R              offered rate of the fixed-rate run, events/s (default 1000)
  --rate-seconds S      length of the fixed-rate run (default 30)
  --per-event-events N  events for the one-per-transaction comparison (default 10000)
  --duplicates F        share of redelivered events, 0..1 (default 0)
  --invalid F           share of invalid events, 0..1 (default 0)
  --pgbench-seconds S   length of each pgbench run (default 10)
  --json FILE           where to write the figures (default bench/results/latest.json)
  --no-build            use the existing dist/ instead of running npm run build
  --profile DIR         write V8 CPU profiles of the service processes into DIR
  --only per-event|batched|fixed|corporate  one pipeline and one run of --events (--per-event-events, --corporate-events), for profiling
  --kafka real|mock     the broker: Apache Kafka 4 (KRaft, default when Java is here) or librdkafka's mock
  --brokers N           broker nodes, partition leaders spread over them (default 1)
  --partitions N        partitions per topic (default: by event count, at least 8; the full run has 88)
  --activations N       UserActivated events sent at full speed to customers of the first run (default 20000; 0: none)
  --lookup-seconds S    length of each HTTP lookup run, by id and by e-mail (default 10; 0: none)
  --lookup-clients N    concurrent HTTP clients of the lookup runs (default 50)
  --lookup-client C     socket (default: one keep-alive TCP connection per client) or http (the node:http client loop, to compare)
  --corporate-events N  corporate registrations (3 users each) over JetStream at full speed (default 5000; 0: none)
  --corporate-rate R    offered rate of the corporate fixed-rate run, registrations/s (default 100)
  --corporate-seconds S length of the corporate fixed-rate run (default 20)

DATABASE_URL selects an external PostgreSQL (the benchmark creates its own databases on it).
BENCH_SERVICE_NODE_OPTIONS passes Node flags to the service under test (as its NODE_OPTIONS).
BENCH_SERVICE_NODE_ARGS passes Node flags NODE_OPTIONS refuses (e.g. --trace-gc); BENCH_SERVICE_LOG=FILE appends the
service's output to FILE; BENCH_SERVICE_ENV='K=V ...' passes settings to the service (e.g. KAFKA_FETCH_MAX_BYTES).
`);
  process.exit(0);
}

const events = Number(args.events);
const shape = (count: number): LoadShape => ({ events: count, duplicateShare: Number(args.duplicates), invalidShare: Number(args.invalid) });

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

interface RunFigures {
  readonly name: string;
  readonly sent: number;
  readonly customers: number;
  readonly seconds: number;
  /** Registrations per second, first publish to last CustomerRegistered published and last document projected. */
  readonly throughput: number;
  readonly committed: Distribution;
  readonly visible: Distribution;
  readonly published: Distribution;
  readonly cpuMsPerEvent: number;
  /** CPU ms per event of every process on the machine's cores that this benchmark started, by kind. */
  readonly cpuMsPerEventByProcess: Record<CpuGroup, number>;
  readonly rssAfterMb: number;
  /** Autovacuum and autoanalyze passes PostgreSQL ran on the database during the run (work beside the pipeline's). */
  readonly autovacuum: { readonly vacuums: number; readonly analyzes: number };
  /** The machine's 1-minute load average when the run started and when it ended (other work on the same cores). */
  readonly load1: { readonly atStart: number; readonly atEnd: number };
  /** The service's V8 heap and external memory after the run (its /metrics), MB: what the resident set holds. */
  readonly memoryAfter: Record<string, number>;
  readonly correctness: Correctness;
  /** Per second of the run: input count, committed p50 and max, visible max. */
  readonly bySecond: DatabaseTimings['bySecond'];
}

interface Pipeline {
  readonly service: ServiceProcess;
  readonly pool: pg.Pool;
  readonly inputTopic: string;
  readonly outputTopic: string;
  readonly watch: Awaited<ReturnType<typeof watchOutput>>;
  readonly load: Awaited<ReturnType<typeof connectLoad>>;
  expectedCustomers: number;
  expectedDeadLetters: number;
  close(): Promise<void>;
}

async function main(): Promise<void> {
  if (!args['no-build']) {
    log('building (npm run build)…');
    await promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT });
  }
  const loadAtStart = loadavg();
  log(`load average at start: ${loadAtStart.map((value) => value.toFixed(2)).join(', ')}`);
  const scratch = await mkdtemp(path.join(tmpdir(), 'customer-service-bench-'));
  let stopPostgres: (() => Promise<void>) | undefined;
  let kafka: BenchKafka | undefined;
  try {
    let adminUrl = process.env.DATABASE_URL;
    if (adminUrl === undefined || adminUrl === '') {
      const port = await freePort();
      log(`starting embedded PostgreSQL on port ${port} (fsync on, synchronous_commit on)…`);
      const server = await startEmbeddedPostgres({
        dataDir: path.join(scratch, 'postgres'),
        port,
        settings: { fsync: 'on', synchronous_commit: 'on', track_commit_timestamp: 'on', max_connections: '200', shared_buffers: '256MB' },
      });
      adminUrl = server.connectionString;
      stopPostgres = () => server.stop();
    }
    const database = databaseFactory(adminUrl);

    kafka = await startBenchKafka();
    log(`Kafka: ${kafka.description} at ${kafka.bootstrapServers.join(',')}`);
    // Each run has topics of its own. On the mock, sized so no partition holds more than ~3 MiB (it silently drops
    // past 5 MiB); a real broker keeps everything, so 8 partitions there unless --partitions says otherwise.
    const partitionsFor = (count: number) =>
      args.partitions !== undefined ? Number(args.partitions) : kafka?.real === true ? 8 : Math.max(8, Math.ceil((count * 1200) / (3 * 1024 * 1024)));
    const brokers = kafka.bootstrapServers;
    const machine = { cpus: cpus().length, node: process.version, kafka: kafka.description };

    if (args.only === 'corporate') {
      const pipeline = await startCorporatePipeline(database);
      try {
        const count = Number(args['corporate-events']);
        process.stdout.write(`${JSON.stringify(await measureCorporateRun(pipeline, 'corporate full speed', count), null, 2)}\n`);
      } finally {
        await pipeline.close();
      }
      return;
    }
    if (args.only !== undefined) {
      // Profiling aid: one pipeline, one run, figures as JSON; no comparison.
      const perEvent = args.only === 'per-event';
      const count = perEvent ? Number(args['per-event-events']) : events;
      const pipeline = await startPipeline(args.only, { kafka, brokers, database, partitions: partitionsFor(count), env: perEvent ? PER_EVENT_ENV : {} });
      try {
        const rate = args.only === 'fixed' ? Number(args.rate) : undefined;
        process.stdout.write(`${JSON.stringify(await measureRun(pipeline, args.only, shape(count), rate), null, 2)}\n`);
      } finally {
        await pipeline.close();
      }
      return;
    }

    // 1. The database limit.
    let pgbench: PgbenchResult | undefined;
    if (findPgbench() === undefined) {
      log('pgbench not found (apt-get install -y postgresql-client): skipping the database limit');
    } else {
      log(`pgbench: one registration per transaction, then 100 per transaction (${args['pgbench-seconds']} s each)…`);
      const url = await database.create('bench_pgbench');
      pgbench = await runPgbench(url, { seconds: Number(args['pgbench-seconds']) });
    }

    // 2. The pipeline at full speed, twice on the same process; then 3. at a fixed rate.
    const runs: RunFigures[] = [];
    let activation: ActivationRun | undefined;
    let lookups: LookupRun[] = [];
    const fullSpeedEvents = events * 2 + Number(args.rate) * Number(args['rate-seconds']);
    const batched = await startPipeline('batched', { kafka, brokers, database, partitions: partitionsFor(fullSpeedEvents), env: {} });
    let peakRssMb: number;
    try {
      runs.push(await measureRun(batched, 'full speed #1', shape(events)));
      runs.push(await measureRun(batched, 'full speed #2', shape(events)));
      runs.push(await measureRun(batched, `fixed ${args.rate}/s`, shape(Number(args.rate) * Number(args['rate-seconds'])), Number(args.rate)));
      // 3b. Activation of customers of the first run, then 3c. lookups from the read model the runs filled.
      if (Number(args.activations) > 0) activation = await measureActivation(batched, Number(args.activations));
      if (Number(args['lookup-seconds']) > 0) lookups = await measureLookups(batched);
      peakRssMb = batched.service.peakRss() / 2 ** 20;
    } finally {
      await batched.close();
    }

    // 4. The per-event design: one registration per transaction.
    const perEventCount = Number(args['per-event-events']);
    const single = await startPipeline('per-event', {
      kafka,
      brokers,
      database,
      partitions: partitionsFor(perEventCount),
      env: PER_EVENT_ENV,
    });
    try {
      runs.push(await measureRun(single, 'per-event (1 per tx)', shape(perEventCount)));
    } finally {
      await single.close();
    }

    // 5. The corporate flow over NATS JetStream: full speed, then a fixed rate, on one service process.
    const corporate: CorporateRun[] = [];
    let corporatePeakRssMb: number | undefined;
    if (Number(args['corporate-events']) > 0) {
      const pipeline = await startCorporatePipeline(database);
      try {
        corporate.push(await measureCorporateRun(pipeline, 'corporate full speed', Number(args['corporate-events'])));
        const rate = Number(args['corporate-rate']);
        corporate.push(await measureCorporateRun(pipeline, `corporate fixed ${rate}/s`, rate * Number(args['corporate-seconds']), rate));
        corporatePeakRssMb = pipeline.service.peakRss() / 2 ** 20;
      } finally {
        await pipeline.close();
      }
    }

    const [first, second, fixed, perEvent] = runs as [RunFigures, RunFigures, RunFigures, RunFigures];
    const report = {
      at: new Date().toISOString(),
      loadAverage: { atStart: loadAtStart, atEnd: loadavg() },
      machine,
      events,
      pgbench,
      runs,
      peakRssMb,
      rssGrowthMb: second.rssAfterMb - first.rssAfterMb,
      ratios: {
        toPgbenchBatch100: pgbench === undefined ? null : first.throughput / pgbench.batch100PerSecond,
        toPgbenchSingle: pgbench === undefined ? null : first.throughput / pgbench.singlePerSecond,
        batchedToPerEvent: first.throughput / perEvent.throughput,
      },
      fixedRate: { rate: Number(args.rate), committedP99: fixed.committed.p99, visibleP99: fixed.visible.p99, publishedP99: fixed.published.p99 },
      activation,
      lookups,
      corporate,
      corporatePeakRssMb,
      correct:
        runs.every((run) => run.correctness.ok) &&
        (activation === undefined || activation.ok) &&
        lookups.every((run) => run.errors === 0) &&
        corporate.every((run) => run.correctness.ok),
    };
    printTable(report);
    await mkdir(path.dirname(args.json), { recursive: true });
    await writeFile(args.json, `${JSON.stringify(report, null, 2)}\n`);
    log(`figures written to ${path.relative(process.cwd(), args.json)}`);
    if (!report.correct) process.exitCode = 1;
  } finally {
    await kafka?.stop();
    await stopPostgres?.();
    await rm(scratch, { recursive: true, force: true });
  }
}

interface BenchKafka {
  readonly real: boolean;
  readonly description: string;
  readonly bootstrapServers: readonly string[];
  createTopic(name: string, partitions: number): Promise<void>;
  stop(): Promise<void>;
}

/** Apache Kafka (the test harness's, `test/support/kafka-broker.ts`) unless `--kafka mock` or there is no Java. */
async function startBenchKafka(): Promise<BenchKafka> {
  const nodes = Number(args.brokers);
  if (args.kafka !== undefined && args.kafka !== 'real' && args.kafka !== 'mock') throw new Error(`--kafka: expected real or mock, got ${args.kafka}`);
  if (args.kafka === 'mock' || (args.kafka === undefined && !(await javaAvailable()))) {
    const mock = await startKafkaMock({ brokers: nodes });
    return { ...mock, real: false, description: "librdkafka's mock cluster (a stand-in)" };
  }
  log(`starting Apache Kafka (${nodes} node${nodes === 1 ? '' : 's'})…`);
  const broker = await startKafkaBroker({ nodes, heapMb: 1024 });
  return { ...broker, real: true };
}

function databaseFactory(adminUrl: string) {
  return {
    async create(name: string): Promise<string> {
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
      await migrate(pool);
      await pool.end();
      return url.toString();
    },
  };
}

async function startPipeline(
  name: string,
  options: {
    kafka: BenchKafka;
    brokers: readonly string[];
    database: ReturnType<typeof databaseFactory>;
    partitions: number;
    env: Record<string, string>;
  },
): Promise<Pipeline> {
  const slug = name.replace(/[^a-z0-9]+/g, '-');
  const inputTopic = `bench.${slug}.identity.user.events`;
  const outputTopic = `bench.${slug}.customer.events`;
  await options.kafka.createTopic(inputTopic, options.partitions);
  await options.kafka.createTopic(outputTopic, options.partitions);
  const url = await options.database.create(`bench_${slug.replace(/-/g, '_')}`);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  log(`${name}: starting the service (${options.partitions} partitions per topic)…`);
  const service = await startBenchService(url, {
    KAFKA_BROKERS: options.brokers.join(','),
    KAFKA_INPUT_TOPIC: inputTopic,
    KAFKA_OUTPUT_TOPIC: outputTopic,
    KAFKA_GROUP_ID: `bench-${slug}`,
    // librdkafka's mock broker cannot serve kafkajs' idempotent producer; a real broker runs the service's default.
    ...(options.kafka.real ? {} : { KAFKA_IDEMPOTENT_PRODUCER: 'false' }),
    ...options.env,
  });
  const watch = await watchOutput(options.brokers, outputTopic);
  const load = await connectLoad(options.brokers, inputTopic);
  return {
    service,
    pool,
    inputTopic,
    outputTopic,
    watch,
    load,
    expectedCustomers: 0,
    expectedDeadLetters: 0,
    close: inOrder(() => load.close(), () => watch.close(), () => service.stop(), () => pool.end()),
  };
}

/** The compiled service as its own process on database `url`, with the flow settings `env`. */
async function startBenchService(url: string, env: Record<string, string>): Promise<ServiceProcess> {
  return startServiceProcess({
    ...(args.profile === undefined ? {} : { cpuProfileDir: path.resolve(args.profile) }),
    root: ROOT,
    port: await freePort(),
    // The service's own output (e.g. with BENCH_SERVICE_NODE_ARGS=--trace-gc), appended to a file.
    ...(process.env.BENCH_SERVICE_LOG === undefined ? {} : { onOutput: (text: string) => appendFileSync(process.env.BENCH_SERVICE_LOG as string, text) }),
    env: {
      DATABASE_URL: url,
      // The benchmark's HTTP clients are one address: the per-client lookup limit (1,200 a minute) is for callers.
      AUTH_MODE: 'none',
      RATE_LIMIT_LOOKUPS: '0',
      // Node flags for the service under test (e.g. heap or GC settings), passed through as NODE_OPTIONS.
      ...(process.env.BENCH_SERVICE_NODE_OPTIONS === undefined ? {} : { NODE_OPTIONS: process.env.BENCH_SERVICE_NODE_OPTIONS }),
      ...env,
    },
  });
}

async function autovacuumCounts(pool: pg.Pool): Promise<{ vacuums: number; analyzes: number }> {
  const { rows } = await pool.query<{ vacuums: string; analyzes: string }>(
    'SELECT sum(autovacuum_count) AS vacuums, sum(autoanalyze_count) AS analyzes FROM pg_stat_user_tables',
  );
  return { vacuums: Number(rows[0]?.vacuums ?? 0), analyzes: Number(rows[0]?.analyzes ?? 0) };
}

/** Runs the steps one after the other (a pipeline's close: the load first, the service before its database). */
function inOrder(...steps: (() => Promise<unknown>)[]): () => Promise<void> {
  return async () => {
    for (const step of steps) await step();
  };
}

async function measureRun(pipeline: Pipeline, name: string, load: LoadShape, rate?: number): Promise<RunFigures> {
  const cpuBefore = await pipeline.service.cpuSeconds();
  const groupsBefore = await cpuByGroup();
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  const vacuumBefore = await autovacuumCounts(pipeline.pool);
  const receivedBefore = pipeline.watch.received.length;
  const customersBefore = pipeline.expectedCustomers;
  log(`${name}: sending ${load.events} events${rate === undefined ? ' as fast as possible' : ` at ${rate}/s`}…`);
  let sentSoFar = 0;
  const ticker = setInterval(() => {
    progressEstimate(pipeline.pool, READ_MODEL).then(
      (p) => log(`  ${name}: sent ${sentSoFar}, committed ${p.customers - customersBefore}, published ${pipeline.watch.received.length - receivedBefore}, projected ${p.projected - customersBefore}, unpublished ${p.unpublished}`),
      () => undefined,
    );
  }, 2000);
  try {
    const sent = await pipeline.load.send(load, rate, (count) => (sentSoFar = count));
    pipeline.expectedCustomers += sent.expectedCustomers;
    pipeline.expectedDeadLetters += sent.invalid;
    const timeoutMs = 120_000 + load.events * 5;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // The counts scan whole tables: ask the database only once the output topic shows every customer, so the
      // measurement does not compete with the last events of the run it measures.
      if (pipeline.watch.received.length < pipeline.expectedCustomers && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      const p = await progress(pipeline.pool, READ_MODEL);
      const published = new Set(pipeline.watch.received.map((item) => item.customerId)).size;
      if (p.customers >= pipeline.expectedCustomers && p.unpublished === 0 && p.projected >= p.customers && published >= p.customers) break;
      if (Date.now() > deadline) throw new Error(`${name}: not done after ${timeoutMs} ms: ${JSON.stringify(p)}, published ${published}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const cpuAfter = await pipeline.service.cpuSeconds();
    const groupsAfter = await cpuByGroup();
    const timings = await databaseTimings(pipeline.pool, READ_MODEL, sent.firstSentAt, sent.lastSentAt + 1);
    const publishedNow = pipeline.watch.received.slice(receivedBefore);
    const publishedLatencies = publishedNow.map((item) => item.publishedAt - item.registeredAt);
    const lastPublishedAt = Math.max(...publishedNow.map((item) => item.publishedAt));
    const seconds = (Math.max(lastPublishedAt, timings.lastProjectedAt) - sent.firstSentAt) / 1000;
    const correctness = await checkCorrectness(
      pipeline.pool,
      READ_MODEL,
      { customers: pipeline.expectedCustomers, deadLetters: pipeline.expectedDeadLetters },
      new Set(pipeline.watch.received.map((item) => item.customerId)),
    );
    const figures: RunFigures = {
      name,
      sent: sent.sent,
      customers: sent.expectedCustomers,
      seconds,
      throughput: sent.expectedCustomers / seconds,
      committed: timings.committed,
      visible: timings.visible,
      published: distribution(publishedLatencies),
      cpuMsPerEvent: ((cpuAfter - cpuBefore) * 1000) / sent.sent,
      cpuMsPerEventByProcess: cpuDelta(groupsBefore, groupsAfter, sent.sent),
      bySecond: timings.bySecond,
      rssAfterMb: (await pipeline.service.rss()) / 2 ** 20,
      load1: { atStart: loadAtStart, atEnd: loadavg()[0] ?? Number.NaN },
      autovacuum: await autovacuumCounts(pipeline.pool).then((after) => ({
        vacuums: after.vacuums - vacuumBefore.vacuums,
        analyzes: after.analyzes - vacuumBefore.analyzes,
      })),
      memoryAfter: await pipeline.service.memory(),
      correctness,
    };
    log(`${name}: ${Math.round(figures.throughput)} registrations/s, memory ${JSON.stringify(figures.memoryAfter)}, correct: ${correctness.ok}; CPU ms/event ${JSON.stringify(roundAll(figures.cpuMsPerEventByProcess))}`);
    return figures;
  } finally {
    clearInterval(ticker);
  }
}

interface ActivationRun {
  readonly name: string;
  readonly sent: number;
  readonly seconds: number;
  /** Activations per second, first sent to last CustomerActivated published and last document projected. */
  readonly throughput: number;
  readonly committed: Distribution;
  readonly visible: Distribution;
  readonly published: Distribution;
  readonly activeCustomers: number;
  readonly activeDocuments: number;
  readonly activatedEvents: number;
  readonly publishedEvents: number;
  readonly unpublished: number;
  readonly ok: boolean;
}

/** `count` customers of the runs so far are activated by `UserActivated` events sent at full speed. */
async function measureActivation(pipeline: Pipeline, count: number): Promise<ActivationRun> {
  const { rows } = await pipeline.pool.query<{ user_id: string }>(
    `SELECT user_id::text AS user_id FROM customers WHERE status <> 'ACTIVE' ORDER BY registered_at LIMIT $1`,
    [count],
  );
  const userIds = rows.map((row) => row.user_id);
  const publishedBefore = pipeline.watch.activated.length;
  log(`activation: sending ${userIds.length} UserActivated as fast as possible…`);
  const firstSentAt = Date.now();
  const sentAt = await pipeline.load.activate(userIds);
  const deadline = Date.now() + 120_000 + userIds.length * 5;
  for (;;) {
    const published = pipeline.watch.activated.length - publishedBefore;
    if (published >= userIds.length) {
      const figures = await activationTimings(pipeline.pool, READ_MODEL, sentAt);
      if (figures.activeDocuments >= userIds.length) break;
    }
    if (Date.now() > deadline) throw new Error(`activation: not done after the deadline: published ${published} of ${userIds.length}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const figures = await activationTimings(pipeline.pool, READ_MODEL, sentAt);
  const publishedNow = pipeline.watch.activated.slice(publishedBefore);
  const publishedLatencies = publishedNow.map((item) => item.publishedAt - (sentAt.get(item.userId) ?? Number.NaN));
  const lastPublishedAt = Math.max(...publishedNow.map((item) => item.publishedAt));
  const seconds = (Math.max(lastPublishedAt, figures.lastVisibleAt) - firstSentAt) / 1000;
  const unpublished = Number((await pipeline.pool.query<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL')).rows[0]?.n);
  const publishedUsers = new Set(publishedNow.map((item) => item.userId)).size;
  const run: ActivationRun = {
    name: 'activation, full speed',
    sent: userIds.length,
    seconds,
    throughput: userIds.length / seconds,
    committed: figures.committed,
    visible: figures.visible,
    published: distribution(publishedLatencies),
    activeCustomers: figures.activeCustomers,
    activeDocuments: figures.activeDocuments,
    activatedEvents: figures.activatedEvents,
    publishedEvents: publishedUsers,
    unpublished,
    ok:
      figures.activeCustomers === userIds.length &&
      figures.activeDocuments === userIds.length &&
      figures.activatedEvents === userIds.length &&
      publishedUsers === userIds.length &&
      unpublished === 0,
  };
  log(`activation: ${Math.round(run.throughput)} activations/s, correct: ${run.ok}`);
  return run;
}

/** A lookup run with the CPU each process used per lookup (µs): the client loop is on the same cores as the service. */
interface LookupRun extends LookupFigures {
  readonly cpuUsPerLookupByProcess: Record<CpuGroup, number>;
  readonly load1: { readonly atStart: number; readonly atEnd: number };
}

/** Lookups by id, then by e-mail, of customers the runs registered (e-mails that answer with exactly that customer). */
async function measureLookups(pipeline: Pipeline): Promise<LookupRun[]> {
  const { rows } = await pipeline.pool.query<{ customer_id: string; email: string }>(
    `SELECT customer_id, email FROM (
       SELECT DISTINCT ON (email_lower) customer_id::text AS customer_id, document->'email'->>'address' AS email
       FROM ${READ_MODEL.table} ORDER BY email_lower, registered_at, customer_number) AS d
     ORDER BY random() LIMIT 20000`,
  );
  const keys: LookupKey[] = rows.map((row) => ({ customerId: row.customer_id, email: row.email }));
  const client = args['lookup-client'] as LookupClient;
  if (client !== 'socket' && client !== 'http') throw new Error(`--lookup-client: socket or http (got ${String(client)})`);
  const results: LookupRun[] = [];
  for (const by of ['id', 'email'] as const) {
    log(`lookups by ${by}: ${args['lookup-clients']} ${client} clients for ${args['lookup-seconds']} s over ${keys.length} customers…`);
    const loadAtStart = loadavg()[0] ?? Number.NaN;
    const cpuBefore = await cpuByGroup();
    const figures = await runLookups(pipeline.service.url, keys, { by, clients: Number(args['lookup-clients']), seconds: Number(args['lookup-seconds']), client });
    const run: LookupRun = {
      ...figures,
      // CPU ms / thousands of lookups = µs per lookup.
      cpuUsPerLookupByProcess: cpuDelta(cpuBefore, await cpuByGroup(), figures.requests / 1000),
      load1: { atStart: loadAtStart, atEnd: loadavg()[0] ?? Number.NaN },
    };
    log(
      `lookups by ${by}: ${Math.round(figures.requestsPerSecond)} requests/s, p99 ${figures.latency.p99.toFixed(1)} ms, errors ${figures.errors}; CPU µs/lookup ${JSON.stringify(roundAll(run.cpuUsPerLookupByProcess))}`,
    );
    results.push(run);
  }
  return results;
}

interface CorporatePipeline {
  readonly service: ServiceProcess;
  readonly pool: pg.Pool;
  readonly nats: NatsServer;
  readonly load: CorporateLoad;
  readonly watch: CorporateWatch;
  expectedCompanies: number;
  close(): Promise<void>;
}

interface CorporateRun {
  readonly name: string;
  readonly sent: number;
  readonly seconds: number;
  /** Registrations per second, first sent to the last customer-saved and user-saved on the stream. */
  readonly throughput: number;
  readonly committed: Distribution;
  readonly published: Distribution;
  readonly cpuMsPerRegistration: number;
  /** CPU ms per registration of each process group (service, PostgreSQL, nats-server as `broker`, the benchmark). */
  readonly cpuMsPerRegistrationByProcess: Record<CpuGroup, number>;
  /** The machine's 1-minute load average when the run started and when it ended. */
  readonly load1: { readonly atStart: number; readonly atEnd: number };
  readonly rssAfterMb: number;
  readonly correctness: CorporateCorrectness;
}

const CORPORATE_SUBJECTS = { customerRegistered: 'customer-registered', customerSaved: 'customer-saved', userSaved: 'user-saved' };
const CORPORATE_STREAM = 'customer-onboarding';

async function startCorporatePipeline(database: ReturnType<typeof databaseFactory>): Promise<CorporatePipeline> {
  const nats = await startNatsServer();
  const url = await database.create('bench_corporate');
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  log(`corporate: starting nats-server and the service…`);
  const service = await startBenchService(url, { NATS_URL: nats.url, NATS_STREAM: CORPORATE_STREAM });
  let watch: CorporateWatch;
  let load: CorporateLoad;
  try {
    watch = await watchCorporateOutput(nats.url, CORPORATE_STREAM, CORPORATE_SUBJECTS);
    load = await connectCorporateLoad(nats.url, CORPORATE_SUBJECTS.customerRegistered);
  } catch (error) {
    // Nothing may outlive a failed start: the service process would keep its database and ports.
    await service.stop().catch(() => undefined);
    await pool.end();
    await nats.close();
    throw error;
  }
  return {
    service,
    pool,
    nats,
    load,
    watch,
    expectedCompanies: 0,
    close: inOrder(() => load.close(), () => watch.close(), () => service.stop(), () => pool.end(), () => nats.close()),
  };
}

async function measureCorporateRun(pipeline: CorporatePipeline, name: string, count: number, rate?: number): Promise<CorporateRun> {
  const cpuBefore = await pipeline.service.cpuSeconds();
  const groupsBefore = await cpuByGroup();
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  log(`${name}: sending ${count} registrations${rate === undefined ? ' as fast as possible' : ` at ${rate}/s`}…`);
  let sentSoFar = 0;
  const ticker = setInterval(() => {
    log(`  ${name}: sent ${sentSoFar}, customer-saved ${pipeline.watch.customerSaved.length}, user-saved ${pipeline.watch.userSaved.length}`);
  }, 2000);
  try {
    const sent = await pipeline.load.send(count, rate, (n) => (sentSoFar = n));
    pipeline.expectedCompanies += sent.companies;
    const expected = { companies: pipeline.expectedCompanies, users: pipeline.expectedCompanies * CORPORATE_USERS_PER_COMPANY };
    const deadline = Date.now() + 120_000 + count * 20;
    let seen = -1;
    let lastProgressAt = Date.now();
    while (pipeline.watch.customerSaved.length < expected.companies || pipeline.watch.userSaved.length < expected.users) {
      const now = pipeline.watch.customerSaved.length + pipeline.watch.userSaved.length;
      if (now !== seen) {
        seen = now;
        lastProgressAt = Date.now();
      } else if (Date.now() - lastProgressAt > 15_000) {
        // Nothing new on the stream for 15 s: say which part is stuck (the service, its consumer, or this watch).
        log(`  ${name}: no progress for 15 s: ${await corporateStallReport(pipeline.pool, pipeline.nats.url, CORPORATE_STREAM, 'customer-service').catch((error: unknown) => String(error))}`);
        lastProgressAt = Date.now();
      }
      if (Date.now() > deadline) {
        throw new Error(`${name}: not done: customer-saved ${pipeline.watch.customerSaved.length}/${expected.companies}, user-saved ${pipeline.watch.userSaved.length}/${expected.users}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const cpuAfter = await pipeline.service.cpuSeconds();
    const groupsAfter = await cpuByGroup();
    const timings = await corporateTimings(pipeline.pool, pipeline.watch, sent.firstSentAt, sent.lastSentAt + 1);
    const correctness = await checkCorporateCorrectness(pipeline.pool, expected, pipeline.watch);
    const seconds = (Math.max(timings.lastPublishedAt, timings.lastCommittedAt) - sent.firstSentAt) / 1000;
    const run: CorporateRun = {
      name,
      sent: sent.companies,
      seconds,
      throughput: sent.companies / seconds,
      committed: timings.committed,
      published: timings.published,
      cpuMsPerRegistration: ((cpuAfter - cpuBefore) * 1000) / sent.companies,
      cpuMsPerRegistrationByProcess: cpuDelta(groupsBefore, groupsAfter, sent.companies),
      load1: { atStart: loadAtStart, atEnd: loadavg()[0] ?? Number.NaN },
      rssAfterMb: (await pipeline.service.rss()) / 2 ** 20,
      correctness,
    };
    log(
      `${name}: ${Math.round(run.throughput)} registrations/s, correct: ${correctness.ok}; CPU ms/registration ${JSON.stringify(roundAll(run.cpuMsPerRegistrationByProcess))}; load ${run.load1.atStart.toFixed(1)} → ${run.load1.atEnd.toFixed(1)}`,
    );
    return run;
  } finally {
    clearInterval(ticker);
  }
}

function roundAll(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, Math.round(value * 1000) / 1000]));
}

type Report = {
  loadAverage: { atStart: number[]; atEnd: number[] };
  pgbench: PgbenchResult | undefined;
  runs: readonly RunFigures[];
  peakRssMb: number;
  rssGrowthMb: number;
  ratios: { toPgbenchBatch100: number | null; toPgbenchSingle: number | null; batchedToPerEvent: number };
  machine: { cpus: number; node: string; kafka: string };
  fixedRate: { rate: number };
  activation: ActivationRun | undefined;
  lookups: readonly LookupRun[];
  corporate: readonly CorporateRun[];
  corporatePeakRssMb: number | undefined;
};

function printTable(report: Report): void {
  const ms = (d: Distribution) => `${d.p50.toFixed(0)} / ${d.p95.toFixed(0)} / ${d.p99.toFixed(0)} / ${d.max.toFixed(0)}`;
  const load = (values: number[]) => values.map((value) => value.toFixed(2)).join(', ');
  const lines = [
    `| run | events | registrations/s | committed ms p50/p95/p99/max | visible ms | published ms | CPU ms/event | RSS after MB | correct |`,
    `|---|---:|---:|---|---|---|---:|---:|---|`,
    ...report.runs.map(
      (run) =>
        `| ${run.name} | ${run.sent} | ${Math.round(run.throughput)} | ${ms(run.committed)} | ${ms(run.visible)} | ${ms(run.published)} | ${run.cpuMsPerEvent.toFixed(3)} | ${run.rssAfterMb.toFixed(0)} | ${run.correctness.ok ? 'yes' : 'NO'} |`,
    ),
  ];
  const activation = report.activation;
  if (activation !== undefined) {
    lines.push(
      `| ${activation.name} | ${activation.sent} | ${Math.round(activation.throughput)} (activations) | ${ms(activation.committed)} | ${ms(activation.visible)} | ${ms(activation.published)} | | | ${activation.ok ? 'yes' : 'NO'} |`,
    );
  }
  lines.push(
    '',
    `| CPU ms per event, by process | service | PostgreSQL | broker | benchmark (load, watch) | load average (1 min) at start → end | service heap used / total MB after | autovacuum / autoanalyze passes |`,
    `|---|---:|---:|---:|---:|---|---|---|`,
    ...report.runs.map((run) => {
      const cpu = run.cpuMsPerEventByProcess;
      return `| ${run.name} | ${cpu.service.toFixed(3)} | ${cpu.postgres.toFixed(3)} | ${cpu.broker.toFixed(3)} | ${cpu.bench.toFixed(3)} | ${run.load1.atStart.toFixed(1)} → ${run.load1.atEnd.toFixed(1)} | ${run.memoryAfter.heap_size_usedMb ?? '?'} / ${run.memoryAfter.heap_size_totalMb ?? '?'} | ${run.autovacuum.vacuums} / ${run.autovacuum.analyzes} |`;
    }),
  );
  if (report.corporate.length > 0) {
    lines.push(
      '',
      `| corporate (NATS JetStream, 3 users each) | registrations | registrations/s | committed ms p50/p95/p99/max | customer-saved published ms | CPU ms/registration | RSS after MB | correct |`,
      `|---|---:|---:|---|---|---:|---:|---|`,
      ...report.corporate.map(
        (run) =>
          `| ${run.name} | ${run.sent} | ${Math.round(run.throughput)} | ${ms(run.committed)} | ${ms(run.published)} | ${run.cpuMsPerRegistration.toFixed(3)} | ${run.rssAfterMb.toFixed(0)} | ${run.correctness.ok ? 'yes' : 'NO'} |`,
      ),
    );
  }
  if (report.lookups.length > 0) {
    lines.push(
      '',
      `| lookups (read model, HTTP keep-alive) | clients | requests | requests/s | latency ms p50/p95/p99/max | errors |`,
      `|---|---:|---:|---:|---|---:|`,
      ...report.lookups.map(
        (run) =>
          `| by ${run.by} | ${run.clients} | ${run.requests} | ${Math.round(run.requestsPerSecond)} | ${run.latency.p50.toFixed(1)} / ${run.latency.p95.toFixed(1)} / ${run.latency.p99.toFixed(1)} / ${run.latency.max.toFixed(1)} | ${run.errors} |`,
      ),
    );
  }
  if (report.pgbench !== undefined) {
    lines.push(
      '',
      `| database limit (pgbench, same server) | registrations/s |`,
      `|---|---:|`,
      `| 1 per transaction, ${report.pgbench.clients} clients | ${Math.round(report.pgbench.singlePerSecond)} |`,
      `| 100 per transaction, 2 clients | ${Math.round(report.pgbench.batch100PerSecond)} |`,
    );
  }
  lines.push(
    '',
    `pipeline / pgbench 100-per-tx: ${report.ratios.toPgbenchBatch100?.toFixed(2) ?? 'n/a'}; batched / per-event: ${report.ratios.batchedToPerEvent.toFixed(1)}×; ` +
      `peak RSS ${report.peakRssMb.toFixed(0)} MB${report.corporatePeakRssMb === undefined ? '' : ` (corporate service ${report.corporatePeakRssMb.toFixed(0)} MB)`}; ` +
      `RSS growth run 1 → run 2: ${report.rssGrowthMb.toFixed(1)} MB; ${report.machine.cpus} CPUs, Node ${report.machine.node}; ${report.machine.kafka}; ` +
      `load average (1, 5, 15 min) at start ${load(report.loadAverage.atStart)}, at end ${load(report.loadAverage.atEnd)}`,
    '',
    ...targetTable(report),
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The targets of issue 17, each met or missed with the figure of this run. */
function targetTable(report: Report): string[] {
  const [first, second, fixed] = report.runs as [RunFigures, RunFigures, RunFigures];
  const rows: [string, string, string, boolean | undefined][] = [];
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'met' : 'MISSED');
  rows.push(['individual registrations, full speed', '>= 5,000/s', `${Math.round(first.throughput)}, ${Math.round(second.throughput)}`, Math.min(first.throughput, second.throughput) >= 5000]);
  const ratio = report.ratios.toPgbenchBatch100;
  rows.push(['… / pgbench 100-per-tx (same run)', '>= 0.5', ratio === null ? 'n/a' : ratio.toFixed(2), ratio === null ? undefined : ratio >= 0.5]);
  const rate = report.fixedRate.rate;
  rows.push([`at ${rate}/s offered: sustained`, `${rate}/s`, `${Math.round(fixed.throughput)}/s`, fixed.throughput >= rate * 0.97]);
  rows.push([`at ${rate}/s: p99 committed`, '< 50 ms', `${fixed.committed.p99.toFixed(0)} ms`, fixed.committed.p99 < 50]);
  rows.push([`at ${rate}/s: p99 visible`, '< 100 ms', `${fixed.visible.p99.toFixed(0)} ms`, fixed.visible.p99 < 100]);
  rows.push([`at ${rate}/s: p99 published`, '< 100 ms', `${fixed.published.p99.toFixed(0)} ms`, fixed.published.p99 < 100]);
  const corporate = report.corporate[0];
  rows.push(['corporate registrations (3 users), full speed', '>= 1,000/s', corporate === undefined ? 'not run' : `${Math.round(corporate.throughput)}/s`, corporate === undefined ? undefined : corporate.throughput >= 1000]);
  for (const run of report.lookups) {
    rows.push([`lookups by ${run.by}, ${run.clients} clients`, '>= 10,000 req/s, p99 < 20 ms', `${Math.round(run.requestsPerSecond)} req/s, p99 ${run.latency.p99.toFixed(1)} ms`, run.requestsPerSecond >= 10_000 && run.latency.p99 < 20]);
  }
  const peak = Math.max(report.peakRssMb, report.corporatePeakRssMb ?? 0);
  rows.push(['peak RSS of the service', '< 300 MB', `${peak.toFixed(0)} MB`, peak < 300]);
  return ['| target | wanted | measured | |', '|---|---|---|---|', ...rows.map(([what, wanted, measured, ok]) => `| ${what} | ${wanted} | ${measured} | ${verdict(ok)} |`)];
}

await main();
