/**
 * A real Apache Kafka broker (KRaft) for tests and benchmarks, from the jars `scripts/fetch-kafka.sh` puts in
 * `.cache/kafka/<version>/libs` (Maven Central's `org.apache.kafka:kafka_2.13`). No Docker, no distribution tarball:
 * the storage tool formats a data directory (once, then copied per node) and `kafka.Kafka server.properties` runs it.
 *
 * `startKafkaBroker()` starts one node or a cluster of combined broker+controller nodes on free ports and returns its
 * bootstrap servers. It depends on nothing but Node and Java, so other harnesses (a Schema Registry, a benchmark) can
 * reuse it. Always call `stop()`. A node is killed when the process that started it dies (its stdin closes), so a
 * crashed test run leaves no JVM behind.
 *
 * - `proxied: true` puts a TCP proxy in front of each node's client listener (and advertises the proxy), so
 *   `brokersDown()`/`brokersUp()` can cut clients off without touching the broker (a network outage).
 * - `stopNode()`/`startNode()` stop and restart a node's process on the same ports and data (a broker restart, a
 *   leader change when the node led partitions).
 * - Topics are not created automatically (`auto.create.topics.enable=false`, as on a managed cluster): `createTopic()`.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { fileURLToPath } from 'node:url';
import { freePort } from './global-setup.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const POM = path.join(ROOT, 'test/support/kafka-broker/pom.xml');
const FETCH_SCRIPT = path.join(ROOT, 'scripts/fetch-kafka.sh');
const START_TIMEOUT_MS = 120_000;

export interface KafkaBrokerOptions {
  /** Combined broker+controller nodes (ids 1..n). Default 1. Replication factor of created topics: min(3, nodes). */
  readonly nodes?: number;
  /** A TCP proxy in front of each node's client listener, for `brokersDown()`/`brokersUp()`. Default false. */
  readonly proxied?: boolean;
  /** Java heap per node. Default 512 MiB for one node, 384 MiB each in a cluster. */
  readonly heapMb?: number;
  /** Topics to create once the cluster is up: name -> partition count. */
  readonly topics?: Readonly<Record<string, number>>;
  /** Extra `server.properties` lines (e.g. `{ 'message.max.bytes': '10000' }`). */
  readonly properties?: Readonly<Record<string, string>>;
}

export interface KafkaBroker {
  /** e.g. `Apache Kafka 4.4.0 (KRaft, 1 node)`. */
  readonly description: string;
  readonly version: string;
  /** One `host:port` per node (the proxies' when proxied). */
  readonly bootstrapServers: string[];
  /** Milliseconds from the call to every node serving clients. */
  readonly startedInMs: number;
  readonly nodeIds: readonly number[];
  createTopic(name: string, partitions: number, config?: Readonly<Record<string, string>>): Promise<void>;
  /** Cuts every client connection to one node (or all) and refuses new ones; needs `proxied`. */
  brokersDown(nodeId?: number): Promise<void>;
  brokersUp(nodeId?: number): Promise<void>;
  /**
   * For `ms`, requests still reach the node but its responses are thrown away; then every client connection is
   * dropped (as when a network path fails after the broker acted): the client retries what it never saw answered.
   * Resolves with the number of response chunks thrown away. Needs `proxied`.
   */
  loseResponses(ms: number, nodeId?: number): Promise<number>;
  /** Stops a node's process (SIGTERM: controlled shutdown; SIGKILL: a crash) and waits for it to exit. */
  stopNode(nodeId: number, signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts a stopped node again on its ports and data; resolves when it serves clients. */
  startNode(nodeId: number): Promise<void>;
  /** Sends a running node's JVM `SIGSTOP` (frozen: connections stay open, nothing answers) or `SIGCONT`. */
  signalNode(nodeId: number, signal: 'SIGSTOP' | 'SIGCONT'): void;
  /** Kills every node and removes the data. Safe to call twice. */
  stop(): Promise<void>;
}

/** Whether `java` runs here (a machine without Java falls back to the librdkafka mock). */
export async function javaAvailable(): Promise<boolean> {
  return new Promise((resolve) => execFile('java', ['-version'], (error) => resolve(error === null)));
}

export async function kafkaVersion(): Promise<string> {
  const pom = await readFile(POM, 'utf8');
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom);
  if (match?.[1] === undefined) throw new Error(`no <kafka.version> in ${POM}`);
  return match[1];
}

let fetching: Promise<string> | undefined;

/** The directory of the broker's jars, fetched with Maven by `scripts/fetch-kafka.sh` when missing. */
export function kafkaJars(): Promise<string> {
  fetching ??= (async () => {
    const libs = path.join(process.env.KAFKA_CACHE_DIR ?? path.join(ROOT, '.cache/kafka'), await kafkaVersion(), 'libs');
    if (await exists(path.join(libs, '..', 'complete'))) return libs;
    return new Promise<string>((resolve, reject) =>
      execFile('bash', [FETCH_SCRIPT], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
        error === null
          ? resolve(stdout.trim().split('\n').pop() ?? libs)
          : reject(new Error(`${FETCH_SCRIPT} failed (Java 17 and Maven are needed): ${stderr.slice(-2000)}`)),
      ),
    );
  })();
  return fetching;
}

interface Node {
  readonly id: number;
  readonly clientPort: number;
  readonly internalPort: number;
  readonly controllerPort: number;
  readonly dir: string;
  proxy?: TcpProxy;
  process?: ChildProcessWithoutNullStreams;
  exited?: Promise<void>;
  /** The JVM's pid (the wrapper script's first line). */
  pid?: number;
  logTail: string;
}

export async function startKafkaBroker(options: KafkaBrokerOptions = {}): Promise<KafkaBroker> {
  const began = Date.now();
  const count = options.nodes ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new Error(`Kafka broker: nodes must be a positive integer, got ${count}`);
  const [libs, version] = await Promise.all([kafkaJars(), kafkaVersion()]);
  const root = await mkdtemp(path.join(tmpdir(), 'customer-service-kafka-'));
  const heapMb = options.heapMb ?? (count === 1 ? 512 : 384);
  const clusterId = uuidString();
  const template = await formattedTemplate(libs, version, clusterId, root);

  const nodes: Node[] = [];
  for (let id = 1; id <= count; id += 1) {
    const [clientPort, internalPort, controllerPort] = await Promise.all([freePort(), freePort(), freePort()]);
    nodes.push({ id, clientPort, internalPort, controllerPort, dir: path.join(root, `node-${id}`), logTail: '' });
  }
  if (options.proxied === true) for (const node of nodes) node.proxy = await startTcpProxy({ host: '127.0.0.1', port: node.clientPort });
  const voters = nodes.map((node) => `${node.id}@127.0.0.1:${node.controllerPort}`).join(',');
  const replication = Math.min(3, count);
  const minIsr = Math.min(2, replication);

  for (const node of nodes) {
    await cp(template, path.join(node.dir, 'data'), { recursive: true });
    // The template was formatted as node 1; each node gets its own id and directory id.
    const metaFile = path.join(node.dir, 'data', 'meta.properties');
    const meta = (await readFile(metaFile, 'utf8'))
      .replace(/^node\.id=.*$/m, `node.id=${node.id}`)
      .replace(/^directory\.id=.*$/m, `directory.id=${uuidString()}`);
    await writeFile(metaFile, meta);
    const properties: Record<string, string> = {
      'process.roles': 'broker,controller',
      'node.id': String(node.id),
      'controller.quorum.voters': voters,
      listeners: `CLIENT://127.0.0.1:${node.clientPort},INTERNAL://127.0.0.1:${node.internalPort},CONTROLLER://127.0.0.1:${node.controllerPort}`,
      'advertised.listeners': `CLIENT://127.0.0.1:${node.proxy?.port ?? node.clientPort},INTERNAL://127.0.0.1:${node.internalPort}`,
      'listener.security.protocol.map': 'CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name': 'INTERNAL',
      'controller.listener.names': 'CONTROLLER',
      'log.dirs': path.join(node.dir, 'data'),
      'auto.create.topics.enable': 'false',
      'num.partitions': '1',
      'default.replication.factor': String(replication),
      'min.insync.replicas': String(minIsr),
      'offsets.topic.replication.factor': String(replication),
      'offsets.topic.num.partitions': '8',
      'transaction.state.log.replication.factor': String(replication),
      'transaction.state.log.min.isr': String(minIsr),
      'transaction.state.log.num.partitions': '4',
      'share.coordinator.state.topic.replication.factor': String(replication),
      'share.coordinator.state.topic.min.isr': String(minIsr),
      'group.initial.rebalance.delay.ms': '0',
      // Two cores are shared with everything else: fewer threads, a small compaction buffer for the 512 MiB heap.
      'num.network.threads': '2',
      'num.io.threads': '4',
      'background.threads': '2',
      'log.cleaner.dedupe.buffer.size': String(8 * 1024 * 1024),
      // A stopped node's partitions move to another leader quickly, and a restarted node takes them back.
      'leader.imbalance.check.interval.seconds': '5',
      ...options.properties,
    };
    await writeFile(
      path.join(node.dir, 'server.properties'),
      Object.entries(properties)
        .map(([key, value]) => `${key}=${value}`)
        .join('\n') + '\n',
    );
  }

  const launch = async (node: Node): Promise<void> => {
    const child = spawn(path.join(ROOT, 'test/support/kafka-broker/run-node.sh'), javaArgs(libs, heapMb, path.join(node.dir, 'server.properties')), {
      stdio: 'pipe',
    });
    node.process = child;
    node.logTail = '';
    node.pid = undefined;
    const collect = (chunk: Buffer) => {
      node.logTail = (node.logTail + chunk.toString('utf8')).slice(-20_000);
      node.pid ??= Number(/^pid (\d+)$/m.exec(node.logTail)?.[1]) || undefined;
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.stdin.on('error', () => undefined);
    node.exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!node.logTail.includes('Kafka Server started')) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`Kafka node ${node.id} exited while starting (code ${child.exitCode}, signal ${child.signalCode}):\n${node.logTail.slice(-4000)}`);
      }
      if (Date.now() > deadline) throw new Error(`Kafka node ${node.id} did not start within ${START_TIMEOUT_MS} ms:\n${node.logTail.slice(-4000)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const kill = async (node: Node, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    const child = node.process;
    if (child === undefined) return;
    if (child.exitCode === null && child.signalCode === null) {
      // Signal the JVM itself (the wrapper exits with it); without its pid yet, closing stdin kills it.
      const pid = node.pid;
      if (pid !== undefined) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      } else child.stdin.end();
      const escalate = setTimeout(() => child.stdin.end(), 30_000);
      await node.exited;
      clearTimeout(escalate);
    }
    node.process = undefined;
  };

  const nodeById = (nodeId: number): Node => {
    const node = nodes.find((candidate) => candidate.id === nodeId);
    if (node === undefined) throw new Error(`Kafka broker: no node ${nodeId} (nodes ${nodes.map((n) => n.id).join(', ')})`);
    return node;
  };
  const proxiesOf = (nodeId: number | undefined): TcpProxy[] => {
    if (options.proxied !== true) throw new Error('Kafka broker: brokersDown()/brokersUp() need startKafkaBroker({ proxied: true })');
    return (nodeId === undefined ? nodes : [nodeById(nodeId)]).map((node) => node.proxy as TcpProxy);
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all(nodes.map((node) => kill(node, 'SIGKILL')));
      for (const node of nodes) await node.proxy?.close();
      await rm(root, { recursive: true, force: true });
    })());

  try {
    await Promise.all(nodes.map(launch));
  } catch (error) {
    await stop();
    throw error;
  }
  const bootstrapServers = nodes.map((node) => `127.0.0.1:${node.proxy?.port ?? node.clientPort}`);
  
  const broker: KafkaBroker = {
    description: `Apache Kafka ${version} (KRaft, ${count === 1 ? '1 node' : `${count} nodes`})`,
    version,
    bootstrapServers,
    startedInMs: Date.now() - began,
    nodeIds: nodes.map((node) => node.id),
    // Through the nodes' own listeners, not the proxies: a test may have cut those.
    createTopic: (name, partitions, config = {}) =>
      createTopics(
        nodes.filter((node) => node.process !== undefined).map((node) => `127.0.0.1:${node.clientPort}`),
        { [name]: partitions },
        config,
      ),
    brokersDown: async (nodeId) => {
      for (const proxy of proxiesOf(nodeId)) await proxy.cut();
    },
    brokersUp: async (nodeId) => {
      for (const proxy of proxiesOf(nodeId)) await proxy.restore();
    },
    loseResponses: async (ms, nodeId) => (await Promise.all(proxiesOf(nodeId).map((proxy) => proxy.loseResponses(ms)))).reduce((a, b) => a + b, 0),
    stopNode: (nodeId, signal = 'SIGTERM') => kill(nodeById(nodeId), signal),
    startNode: async (nodeId) => {
      const node = nodeById(nodeId);
      if (node.process !== undefined) throw new Error(`Kafka node ${nodeId} is running`);
      await launch(node);
    },
    signalNode: (nodeId, signal) => {
      const { pid } = nodeById(nodeId);
      if (pid === undefined) throw new Error(`Kafka node ${nodeId} is not running`);
      process.kill(pid, signal);
    },
    stop,
  };
  for (const [name, partitions] of Object.entries(options.topics ?? {})) await broker.createTopic(name, partitions);
  return broker;
}

function javaArgs(libs: string, heapMb: number, properties: string): string[] {
  return [
    `-Xmx${heapMb}m`,
    '-Xss512k',
    '-XX:+UseSerialGC',
    '-XX:-UsePerfData',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    // slf4j-simple: warnings and errors, plus the line that says the node is up.
    '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
    '-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info',
    '-Dorg.slf4j.simpleLogger.showDateTime=true',
    '-cp',
    `${libs}/*`,
    'kafka.Kafka',
    properties,
  ];
}

/**
 * A data directory formatted by the storage tool (what `bin/kafka-storage.sh format` runs), once per process and
 * cluster id; nodes start from copies. Formatting starts a JVM, which costs seconds on a busy machine.
 */
async function formattedTemplate(libs: string, version: string, clusterId: string, root: string): Promise<string> {
  const dir = path.join(root, 'template');
  const properties = path.join(root, 'format.properties');
  await mkdir(dir, { recursive: true });
  await writeFile(
    properties,
    [
      'process.roles=broker,controller',
      'node.id=1',
      'controller.quorum.voters=1@127.0.0.1:9093',
      'listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093',
      'controller.listener.names=CONTROLLER',
      `log.dirs=${dir}`,
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve, reject) =>
    execFile(
      'java',
      ['-Xmx128m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', '-cp', `${libs}/*`, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties],
      (error, _stdout, stderr) => (error === null ? resolve() : reject(new Error(`Kafka ${version} storage format failed: ${stderr || error.message}`))),
    ),
  );
  return dir;
}

/**
 * Creates topics (name -> partitions; the broker's default replication factor) through `bootstrapServers` and waits
 * for their leaders. Fails if one exists already: each test file owns its topics.
 */
export async function createTopics(
  bootstrapServers: readonly string[],
  topics: Readonly<Record<string, number>>,
  config: Readonly<Record<string, string>> = {},
): Promise<void> {
  if (Object.keys(topics).length === 0) return;
  const kafka = new Kafka({ clientId: 'kafka-broker-harness', brokers: [...bootstrapServers], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 200 } });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const taken = Object.keys(topics).filter((name) => existing.has(name));
    if (taken.length > 0) throw new Error(`Kafka broker: topic(s) ${taken.join(', ')} already exist (topic names must be unique per test run)`);
    await admin.createTopics({
      waitForLeaders: false,
      topics: Object.entries(topics).map(([topic, numPartitions]) => ({
        topic,
        numPartitions,
        configEntries: Object.entries(config).map(([name, value]) => ({ name, value })),
      })),
    });
    // kafkajs' own waitForLeaders gives up when a node of a cluster does not know the topic yet; ask until all do.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ready = await admin.fetchTopicMetadata({ topics: Object.keys(topics) }).then(
        (metadata) => metadata.topics.every((topic) => topic.partitions.length === topics[topic.name] && topic.partitions.every((p) => p.leader >= 0)),
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`Kafka broker: topics ${Object.keys(topics).join(', ')} have no leaders after 60 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Kafka's own Uuid text form: 16 random bytes, base64url without padding. */
/** A cluster id as Kafka makes them (`Uuid.randomUuid`): base64url, never starting with '-', which the storage
 * tool's argument parser would take for an option (1 run in 64 failed to format before). */
function uuidString(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
