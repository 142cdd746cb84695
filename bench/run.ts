/**
 * `npm run bench`: the end-to-end benchmark (issue 7). Starts a PostgreSQL (embedded, fsync and synchronous_commit
 * on, unless DATABASE_URL names one), a real Apache Kafka broker (KRaft, from `scripts/fetch-kafka.sh`; librdkafka's
 * mock only with `--kafka mock` or without Java) and the compiled service, then measures in one run:
 *
 * - the database limit: pgbench doing the writes of one registration, 1 and 100 per transaction;
 * - the pipeline at full speed, twice on the same process (throughput, latencies, memory, CPU per event);
 * - the pipeline at a fixed offered rate (latency from each input event's timestamp to committed, visible, published);
 * - the per-event design (one registration per transaction), for the batching ratio;
 * - correctness after each: one customer per user, gapless numbers, an event per customer, nothing unpublished.
 *
 * Prints a table and writes every figure as JSON (bench/results/latest.json unless --json says otherwise).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';
import { migrate } from '../src/platform/postgres/migrate.js';
import { startEmbeddedPostgres } from '../src/platform/postgres/embedded.js';
import { freePort } from '../test/support/global-setup.js';
import { javaAvailable, startKafkaBroker } from '../test/support/kafka-broker.js';
import { startKafkaMock } from '../test/support/kafka-mock.js';
import { connectLoad, watchOutput, type LoadShape } from './load.js';
import { checkCorrectness, databaseTimings, distribution, progress, progressEstimate, type Correctness, type Distribution, type ReadModelLocation } from './measure.js';
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
  --only per-event|batched|fixed  one pipeline and one run of --events (--per-event-events), for profiling
  --kafka real|mock     the broker: Apache Kafka 4 (KRaft, default when Java is here) or librdkafka's mock
  --brokers N           broker nodes, partition leaders spread over them (default 1)
  --partitions N        partitions per topic (default: by event count, at least 8; the full run has 88)

DATABASE_URL selects an external PostgreSQL (the benchmark creates its own databases on it).
BENCH_SERVICE_NODE_OPTIONS passes Node flags to the service under test (as its NODE_OPTIONS).
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
  readonly rssAfterMb: number;
  readonly correctness: Correctness;
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
    const machine = { cpus: (await import('node:os')).cpus().length, node: process.version, kafka: kafka.description };

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
    const fullSpeedEvents = events * 2 + Number(args.rate) * Number(args['rate-seconds']);
    const batched = await startPipeline('batched', { kafka, brokers, database, partitions: partitionsFor(fullSpeedEvents), env: {} });
    let peakRssMb: number;
    try {
      runs.push(await measureRun(batched, 'full speed #1', shape(events)));
      runs.push(await measureRun(batched, 'full speed #2', shape(events)));
      runs.push(await measureRun(batched, `fixed ${args.rate}/s`, shape(Number(args.rate) * Number(args['rate-seconds'])), Number(args.rate)));
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

    const [first, second, fixed, perEvent] = runs as [RunFigures, RunFigures, RunFigures, RunFigures];
    const report = {
      at: new Date().toISOString(),
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
      correct: runs.every((run) => run.correctness.ok),
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
  const profileDir = args.profile === undefined ? {} : { cpuProfileDir: path.resolve(args.profile) };
  const slug = name.replace(/[^a-z0-9]+/g, '-');
  const inputTopic = `bench.${slug}.identity.user.events`;
  const outputTopic = `bench.${slug}.customer.events`;
  await options.kafka.createTopic(inputTopic, options.partitions);
  await options.kafka.createTopic(outputTopic, options.partitions);
  const url = await options.database.create(`bench_${slug.replace(/-/g, '_')}`);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  log(`${name}: starting the service (${options.partitions} partitions per topic)…`);
  const service = await startServiceProcess({
    ...profileDir,
    root: ROOT,
    port: await freePort(),
    env: {
      DATABASE_URL: url,
      // The benchmark feeds Kafka only; its HTTP API serves nothing but the readiness probe.
      AUTH_MODE: 'none',
      KAFKA_BROKERS: options.brokers.join(','),
      KAFKA_INPUT_TOPIC: inputTopic,
      KAFKA_OUTPUT_TOPIC: outputTopic,
      KAFKA_GROUP_ID: `bench-${slug}`,
      // librdkafka's mock broker cannot serve kafkajs' idempotent producer; a real broker runs the service's default.
      ...(options.kafka.real ? {} : { KAFKA_IDEMPOTENT_PRODUCER: 'false' }),
      // Node flags for the service under test (e.g. heap or GC settings), passed through as NODE_OPTIONS.
      ...(process.env.BENCH_SERVICE_NODE_OPTIONS === undefined ? {} : { NODE_OPTIONS: process.env.BENCH_SERVICE_NODE_OPTIONS }),
      ...options.env,
    },
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
    async close() {
      await load.close();
      await watch.close();
      await service.stop();
      await pool.end();
    },
  };
}

async function measureRun(pipeline: Pipeline, name: string, load: LoadShape, rate?: number): Promise<RunFigures> {
  const cpuBefore = await pipeline.service.cpuSeconds();
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
      rssAfterMb: (await pipeline.service.rss()) / 2 ** 20,
      correctness,
    };
    log(`${name}: ${Math.round(figures.throughput)} registrations/s, correct: ${correctness.ok}`);
    return figures;
  } finally {
    clearInterval(ticker);
  }
}

function printTable(report: {
  pgbench: PgbenchResult | undefined;
  runs: readonly RunFigures[];
  peakRssMb: number;
  rssGrowthMb: number;
  ratios: { toPgbenchBatch100: number | null; toPgbenchSingle: number | null; batchedToPerEvent: number };
  machine: { cpus: number; node: string };
}): void {
  const ms = (d: Distribution) => `${d.p50.toFixed(0)} / ${d.p95.toFixed(0)} / ${d.p99.toFixed(0)} / ${d.max.toFixed(0)}`;
  const lines = [
    `| run | events | registrations/s | committed ms p50/p95/p99/max | visible ms | published ms | CPU ms/event | RSS after MB | correct |`,
    `|---|---:|---:|---|---|---|---:|---:|---|`,
    ...report.runs.map(
      (run) =>
        `| ${run.name} | ${run.sent} | ${Math.round(run.throughput)} | ${ms(run.committed)} | ${ms(run.visible)} | ${ms(run.published)} | ${run.cpuMsPerEvent.toFixed(3)} | ${run.rssAfterMb.toFixed(0)} | ${run.correctness.ok ? 'yes' : 'NO'} |`,
    ),
  ];
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
      `peak RSS ${report.peakRssMb.toFixed(0)} MB; RSS growth run 1 → run 2: ${report.rssGrowthMb.toFixed(1)} MB; ${report.machine.cpus} CPUs, Node ${report.machine.node}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
