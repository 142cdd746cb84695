/**
 * Fuzzing of every way in, against one running instance on a real PostgreSQL, Kafka broker and NATS server:
 * - the Kafka and NATS consumers get `--messages` generated malformed messages each (chaos/malformed.ts); every one
 *   must be parked with a reason code, and nothing may be written;
 * - the HTTP API gets schemathesis (PyPI) driven by its own `/openapi.json`: no 5xx for any input.
 * The instance must survive all of it, and its RSS is reported at the start and at the end.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { connect as connectNats } from '@nats-io/transport-node';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { INPUT_TOPIC, startCluster, type Cluster } from './cluster.js';
import { malformed, type Malformed } from './malformed.js';
import { random } from './schedule.js';

export interface FuzzOptions {
  readonly seed: number;
  /** Malformed messages per broker transport. */
  readonly messages: number;
  /** schemathesis test cases per API operation; 0 skips the HTTP fuzzing. */
  readonly httpExamples: number;
  /** The schemathesis executable (`st`); absent: HTTP fuzzing is not run, and the result says so. */
  readonly schemathesis?: string;
  readonly dir: string;
  readonly sourceRoot: string;
  readonly log?: (line: string) => void;
}

export interface FuzzResult {
  readonly kafka: TransportResult;
  readonly nats: TransportResult;
  readonly http: { readonly ran: boolean; readonly cases: number; readonly serverErrors: number; readonly exitCode: number; readonly summary: string };
  /** Rows in customers, companies, event_store and outbox: none may exist, every input was malformed. */
  readonly written: number;
  readonly alive: boolean;
  readonly rssStartMb: number;
  readonly rssEndMb: number;
}

export interface TransportResult {
  readonly sent: number;
  readonly parked: number;
  /** Sent but not parked with a reason code: must be zero. */
  readonly notParked: number;
  /** The kinds of those not parked. */
  readonly notParkedKinds: Readonly<Record<string, number>>;
  readonly reasons: Readonly<Record<string, number>>;
  readonly kinds: Readonly<Record<string, number>>;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const began = Date.now();
  const log = (line: string) => (options.log ?? console.info)(`[fuzz +${((Date.now() - began) / 1000).toFixed(1)}s] ${line}`);
  const cluster = await startCluster({ dir: options.dir, sourceRoot: options.sourceRoot, instances: 1, env: { LOG_LEVEL: 'warn' }, log });
  try {
    const [instance] = cluster.instances;
    if (instance === undefined) throw new Error('no instance');
    await waitReady(instance.port);
    const rssStartMb = await rssMb(instance.pid());
    const next = random(options.seed);
    const kafkaInputs = Array.from({ length: options.messages }, () => malformed('individual', next));
    const natsInputs = Array.from({ length: options.messages }, () => malformed('corporate', next));
    await Promise.all([sendKafka(cluster, kafkaInputs), sendNats(cluster, natsInputs)]);
    log(`sent ${kafkaInputs.length} malformed messages to Kafka and ${natsInputs.length} to NATS`);
    const http = await fuzzHttp(options, instance.port, log);
    const [kafka, nats] = await waitParked(cluster, kafkaInputs, natsInputs, log);
    const written = await writtenRows(cluster.databaseUrl);
    const alive = instance.alive() && (await fetch(`http://127.0.0.1:${instance.port}/health/live`).then((response) => response.ok, () => false));
    const rssEndMb = await rssMb(instance.pid());
    return { kafka, nats, http, written, alive, rssStartMb, rssEndMb };
  } finally {
    await cluster.stop();
  }
}

async function sendKafka(cluster: Cluster, inputs: readonly Malformed[]): Promise<void> {
  const kafka = new Kafka({ clientId: 'fuzz', brokers: cluster.kafka.bootstrapServers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  try {
    // The marker as the key: some malformed values have none of their own the dead letter could be found by.
    for (const messages of batchesOf(inputs.map((input) => ({ key: input.marker, value: input.body })))) {
      await producer.send({ topic: INPUT_TOPIC, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
}

/**
 * At most 200 messages and 512 kB a send: the oversized inputs (up to 210 kB each) keyed to one partition could
 * otherwise add up past the broker's `message.max.bytes` (1 MiB a record batch), and the send itself would fail.
 */
function batchesOf<M extends { readonly value: string | Buffer }>(messages: readonly M[]): M[][] {
  const batches: M[][] = [];
  let current: M[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = Buffer.byteLength(message.value);
    if (current.length > 0 && (current.length === 200 || bytes + size > 512 * 1024)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

async function sendNats(cluster: Cluster, inputs: readonly Malformed[]): Promise<void> {
  const nc = await connectNats({ servers: cluster.nats.url });
  try {
    const js = jetstream(nc);
    for (let index = 0; index < inputs.length; index += 100) {
      await Promise.all(
        inputs.slice(index, index + 100).map((input) => {
          const headers = natsHeaders();
          headers.set('content-type', 'application/cloudevents+json');
          headers.set('x-chaos-marker', input.marker);
          return js.publish('customer-registered', input.body, { headers });
        }),
      );
    }
  } finally {
    await nc.close();
  }
}

async function waitParked(cluster: Cluster, kafkaInputs: readonly Malformed[], natsInputs: readonly Malformed[], log: (line: string) => void): Promise<[TransportResult, TransportResult]> {
  const db = new pg.Client({ connectionString: cluster.databaseUrl });
  await db.connect();
  try {
    const expected = kafkaInputs.length + natsInputs.length;
    const deadline = Date.now() + 600_000;
    let count = 0;
    while (Date.now() < deadline) {
      count = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM dead_letters')).rows[0]?.n);
      if (count >= expected) break;
      log(`parked ${count}/${expected}`);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
    const rows = (await db.query<{ transport: string; reason_code: string; payload: Buffer; message_key: Buffer | null; headers: string }>('SELECT transport, reason_code, payload, message_key, headers::text FROM dead_letters')).rows;
    const result = (transport: string, inputs: readonly Malformed[]): TransportResult => {
      const letters = rows.filter((row) => row.transport === transport && row.reason_code !== '');
      const found = Buffer.concat(letters.flatMap((row) => [row.payload, row.message_key ?? Buffer.alloc(0), Buffer.from(row.headers), Buffer.from('\n')]));
      const missing = inputs.filter((input) => !found.includes(input.marker));
      return {
        sent: inputs.length,
        parked: letters.length,
        notParked: missing.length,
        notParkedKinds: tally(missing.map((input) => input.kind)),
        reasons: tally(letters.map((row) => row.reason_code)),
        kinds: tally(inputs.map((input) => input.kind)),
      };
    };
    return [result('kafka', kafkaInputs), result('nats', natsInputs)];
  } finally {
    await db.end();
  }
}

async function fuzzHttp(options: FuzzOptions, port: number, log: (line: string) => void): Promise<FuzzResult['http']> {
  if (options.httpExamples === 0 || options.schemathesis === undefined) {
    return { ran: false, cases: 0, serverErrors: 0, exitCode: 0, summary: 'schemathesis not run (no --schemathesis executable)' };
  }
  const args = [
    'run',
    `http://127.0.0.1:${port}/openapi.json`,
    '--checks',
    'not_a_server_error',
    '--max-examples',
    String(options.httpExamples),
    '--seed',
    String(options.seed),
    '--workers',
    '4',
    '--continue-on-failure',
    '--suppress-health-check',
    'all',
    '--generation-allow-x00',
    'true',
    '--report',
    'junit',
    '--report-dir',
    path.join(options.dir, 'schemathesis'),
  ];
  log(`schemathesis ${args.join(' ')}`);
  const run = await promisify(execFile)(options.schemathesis, args, { maxBuffer: 64 * 1024 * 1024, timeout: 1_800_000, env: { ...process.env, NO_COLOR: '1' } }).then(
    ({ stdout }) => ({ stdout, code: 0 }),
    (error: { stdout?: string; code?: number }) => ({ stdout: error.stdout ?? '', code: typeof error.code === 'number' ? error.code : 1 }),
  );
  const junit = await readFile(path.join(options.dir, 'schemathesis', 'junit.xml'), 'utf8').catch(() => '');
  const cases = [...run.stdout.matchAll(/(\d+) generated/g)].reduce((sum, match) => sum + Number(match[1]), 0);
  const serverErrors = (junit.match(/Server error/g) ?? []).length + (run.stdout.match(/Server error/g) ?? []).length;
  const summary = run.stdout.split('\n').filter((line) => /passed|failed|generated|Test cases|Server error/i.test(line)).slice(-12).join('\n');
  return { ran: true, cases, serverErrors, exitCode: run.code, summary };
}

async function writtenRows(databaseUrl: string): Promise<number> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ n: string }>(
      'SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM companies) + (SELECT count(*) FROM event_store) + (SELECT count(*) FROM outbox) AS n',
    );
    return Number(rows[0]?.n);
  } finally {
    await db.end();
  }
}

async function waitReady(port: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while ((await fetch(`http://127.0.0.1:${port}/health/ready`).then((response) => response.status, () => 0)) !== 200) {
    if (Date.now() > deadline) throw new Error('the instance did not become ready within 120 s');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function rssMb(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024);
}

function tally(items: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1;
  return counts;
}

/** What broke a fuzzing guarantee, in words; empty when none. */
export function fuzzFailures(result: FuzzResult): string[] {
  const failures: string[] = [];
  if (result.kafka.notParked > 0) failures.push(`${result.kafka.notParked} Kafka messages not parked with a reason`);
  if (result.nats.notParked > 0) failures.push(`${result.nats.notParked} NATS messages not parked with a reason`);
  if (result.written > 0) failures.push(`${result.written} rows written for malformed input`);
  if (result.http.serverErrors > 0 || result.http.exitCode !== 0) failures.push(`HTTP: ${result.http.serverErrors} server errors, schemathesis exit ${result.http.exitCode}`);
  if (!result.alive) failures.push('the instance died');
  return failures;
}
