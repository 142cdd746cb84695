/**
 * `npx tsx bench/kafka-clients/run.ts`: the Kafka client comparison of issue 13 on a real Apache Kafka broker (the
 * test harness's, KRaft, one node): the same workload (`worker.js`) for each client, one process per client and run.
 *
 *   --clients kafkajs,platformatic,confluent   which to run (default: kafkajs, and the others when their dirs are given)
 *   --platformatic-dir DIR   where `@platformatic/kafka` is installed (npm i --prefix DIR @platformatic/kafka@2)
 *   --confluent-dir DIR      where `@confluentinc/kafka-javascript` is installed (built from source here)
 *   --node24 FILE            Node 24 binary (for @platformatic/kafka 2.x, which needs >= 22.22; kafkajs runs on it too)
 *   --events N, --rate R, --rate-seconds S, --runs N
 *
 * Prints a Markdown table (events/s produced and consumed, p50/p99/max latency at the fixed rate, peak RSS) and the
 * raw JSON lines.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { startKafkaBroker } from '../../test/support/kafka-broker.js';

const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
const { values: args } = parseArgs({
  options: {
    clients: { type: 'string' },
    'platformatic-dir': { type: 'string' },
    'confluent-dir': { type: 'string' },
    node24: { type: 'string' },
    events: { type: 'string', default: '50000' },
    rate: { type: 'string', default: '1000' },
    'rate-seconds': { type: 'string', default: '10' },
    runs: { type: 'string', default: '1' },
  },
});

interface Result {
  client: string;
  node: string;
  producePerSecond: number;
  consumePerSecond: number;
  consumed: number;
  latency: { received: number; expected: number; p50: number | null; p99: number | null; max: number | null };
  peakRssMb: number;
}

const plans: { client: string; node: string; moduleDir?: string }[] = [];
const wanted = (args.clients ?? ['kafkajs', args['platformatic-dir'] === undefined ? '' : 'platformatic', args['confluent-dir'] === undefined ? '' : 'confluent'].join(','))
  .split(',')
  .filter((name) => name !== '');
for (const client of wanted) {
  if (client === 'kafkajs') {
    plans.push({ client, node: process.execPath });
    if (args.node24 !== undefined) plans.push({ client, node: args.node24 });
  } else if (client === 'platformatic') {
    plans.push({ client, node: args.node24 ?? process.execPath, ...(args['platformatic-dir'] === undefined ? {} : { moduleDir: args['platformatic-dir'] }) });
  } else if (client === 'confluent') {
    plans.push({ client, node: process.execPath, ...(args['confluent-dir'] === undefined ? {} : { moduleDir: args['confluent-dir'] }) });
  } else {
    throw new Error(`--clients: unknown client ${client}`);
  }
}

process.stderr.write('starting Apache Kafka…\n');
const broker = await startKafkaBroker({ heapMb: 1024 });
process.stderr.write(`${broker.description} at ${broker.bootstrapServers.join(',')}, started in ${broker.startedInMs} ms\n`);
const results: Result[] = [];
try {
  let serial = 0;
  for (let run = 1; run <= Number(args.runs); run += 1) {
    for (const plan of plans) {
      serial += 1;
      const topic = `clients.${plan.client}.${serial}`;
      await broker.createTopic(topic, 8);
      await broker.createTopic(`${topic}.latency`, 8);
      process.stderr.write(`run ${run}: ${plan.client} on ${plan.node}…\n`);
      const { stdout } = await promisify(execFile)(
        plan.node,
        [
          path.join(ROOT, 'bench/kafka-clients/worker.js'),
          `--client=${plan.client}`,
          `--brokers=${broker.bootstrapServers.join(',')}`,
          `--topic=${topic}`,
          `--latency-topic=${topic}.latency`,
          `--events=${args.events}`,
          `--rate=${args.rate}`,
          `--rate-seconds=${args['rate-seconds']}`,
          ...(plan.moduleDir === undefined ? [] : [`--module-dir=${plan.moduleDir}`]),
        ],
        { cwd: ROOT, maxBuffer: 16 * 1024 * 1024, timeout: 600_000 },
      );
      const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Result;
      process.stderr.write(`${JSON.stringify(result)}\n`);
      results.push(result);
    }
  }
} finally {
  await broker.stop();
}

process.stdout.write(`| client | Node | produced/s | consumed/s | latency at ${args.rate}/s p50 / p99 / max (ms) | peak RSS (MB) |\n|---|---|---|---|---|---|\n`);
for (const r of results) {
  process.stdout.write(
    `| ${r.client} | ${r.node} | ${r.producePerSecond} | ${r.consumePerSecond} | ${r.latency.p50} / ${r.latency.p99} / ${r.latency.max}` +
      `${r.latency.received < r.latency.expected ? ` (${r.latency.received} of ${r.latency.expected})` : ''} | ${r.peakRssMb} |\n`,
  );
}
