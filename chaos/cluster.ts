/**
 * The system under fire: one PostgreSQL, one Apache Kafka broker, one NATS JetStream server and three `serve`
 * instances, all real processes on free ports, plus the faults the schedule applies to them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/platform/postgres/embedded.js';
import { migrate } from '../src/platform/postgres/migrate.js';
import { freePort } from '../test/support/global-setup.js';
import { startKafkaBroker, type KafkaBroker } from '../test/support/kafka-broker.js';
import { startNatsServer, type NatsServer } from '../test/support/nats.js';

export const INPUT_TOPIC = 'identity.user.events';
export const OUTPUT_TOPIC = 'customer.events';
export const PARTITIONS = 6;
const MAX_CONNECTIONS = 60;

export interface Instance {
  readonly index: number;
  readonly port: number;
  alive(): boolean;
  /** The running process's id. */
  pid(): number | undefined;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

export interface Cluster {
  readonly databaseUrl: string;
  readonly kafka: KafkaBroker;
  readonly nats: NatsServer;
  readonly instances: readonly Instance[];
  /** `pg_ctl stop -m immediate` (SIGQUIT to the postmaster): a crash, recovered on the next start. */
  killPostgres(): Promise<void>;
  startPostgres(): Promise<void>;
  /** SIGSTOP/SIGCONT to the postmaster and every backend. */
  signalPostgres(signal: 'SIGSTOP' | 'SIGCONT'): Promise<void>;
  /**
   * Terminates every backend in the middle of a transaction (as a failover, a proxy restart or an
   * idle_in_transaction_session_timeout does); returns how many it terminated.
   */
  terminateTransactions(): Promise<number>;
  /** Takes every free connection slot; the returned function gives them back. */
  exhaustConnections(): Promise<() => Promise<void>>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Where the run keeps its database, logs and ledger. */
  readonly dir: string;
  /** The source tree the instances run (a planted copy for the checker's own test). */
  readonly sourceRoot: string;
  readonly instances?: number;
  /** Extra environment of every instance. */
  readonly env?: Readonly<Record<string, string>>;
  readonly log: (line: string) => void;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const dataDir = path.join(options.dir, 'postgres');
  const pgPort = await freePort();
  const pgOptions = { dataDir, port: pgPort, settings: { max_connections: String(MAX_CONNECTIONS) } };
  let postgres: EmbeddedDatabase = await startEmbeddedPostgres(pgOptions);
  const databaseUrl = postgres.connectionString;
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  admin.on('error', () => undefined);
  await migrate(admin);
  await admin.end();

  const [kafka, nats] = await Promise.all([
    startKafkaBroker({ topics: { [INPUT_TOPIC]: PARTITIONS, [OUTPUT_TOPIC]: PARTITIONS } }),
    startNatsServer(),
  ]);
  options.log(`${kafka.description} at ${kafka.bootstrapServers.join(',')}; NATS at ${nats.url}; PostgreSQL on ${pgPort}`);

  const env = (port: number): Record<string, string> => ({
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_SIZE: '6',
    KAFKA_BROKERS: kafka.bootstrapServers.join(','),
    KAFKA_INPUT_TOPIC: INPUT_TOPIC,
    KAFKA_OUTPUT_TOPIC: OUTPUT_TOPIC,
    KAFKA_GROUP_ID: 'customer-service-chaos',
    // A killed member never says goodbye: the group waits out its session before its partitions move on.
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    NATS_URL: nats.url,
    // RETRY_BACKOFF_MS stays the SPEC's 1, 2, 4, 8, 16 s: every fault of a schedule is shorter, so nothing valid may
    // be parked for having outlived it.
    AUTH_MODE: 'none',
    LOG_LEVEL: 'info',
    ...options.env,
  });

  const instances: Instance[] = [];
  for (let index = 0; index < (options.instances ?? 3); index += 1) {
    instances.push(instanceProcess(index, await freePort(), env, options));
  }
  for (const instance of instances) instance.start();

  const postmasterPid = async (): Promise<number> => Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const cluster: Cluster = {
    databaseUrl,
    kafka,
    nats,
    instances,
    killPostgres: async () => {
      const pid = await postmasterPid();
      process.kill(pid, 'SIGQUIT');
      await waitForExit(pid);
    },
    startPostgres: async () => {
      // Crash recovery after an immediate stop, on a loaded machine, may outlast one start's patience: try again.
      for (let attempt = 1; ; attempt += 1) {
        try {
          postgres = await startEmbeddedPostgres(pgOptions);
          return;
        } catch (error) {
          if (attempt === 5) throw error;
          options.log(`PostgreSQL did not start (attempt ${attempt}): ${(error as Error).message}; trying again`);
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      }
    },
    signalPostgres: async (signal) => {
      const pid = await postmasterPid();
      // The postmaster first on STOP (no new backends), last on CONT (none start before the others run again).
      if (signal === 'SIGSTOP') process.kill(pid, signal);
      for (const child of await childrenOf(pid)) signalQuietly(child, signal);
      if (signal === 'SIGCONT') process.kill(pid, signal);
    },
    terminateTransactions: async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const { rows } = await client.query<{ n: string }>(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity
           WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND xact_start IS NOT NULL`,
        );
        return Number(rows[0]?.n);
      } catch {
        return 0; // the database is down or full: nothing to terminate now
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    exhaustConnections: async () => {
      const held: pg.Client[] = [];
      let refusal = '';
      for (let attempt = 0; attempt < MAX_CONNECTIONS; attempt += 1) {
        const client = new pg.Client({ connectionString: databaseUrl });
        client.on('error', () => undefined);
        try {
          await client.connect();
          held.push(client);
        } catch (error) {
          refusal = (error as Error).message; // "sorry, too many clients already": every slot is taken
          break;
        }
      }
      options.log(`holding ${held.length} connections (then: ${refusal})`);
      return async () => {
        await Promise.all(held.map((client) => client.end().catch(() => undefined)));
      };
    },
    stop: async () => {
      await Promise.all(instances.map((instance) => instance.stop()));
      // A server left frozen by a failed run must be thawed before it can stop.
      await Promise.allSettled([cluster.signalPostgres('SIGCONT')]);
      await Promise.all([kafka.stop(), nats.close(), withTimeout(postgres.stop(), 30_000).catch(() => undefined)]);
    },
  };
  return cluster;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  return Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);
}

function instanceProcess(index: number, port: number, env: (port: number) => Record<string, string>, options: ClusterOptions): Instance {
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let logFile: WriteStream | undefined;
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const instance: Instance = {
    index,
    port,
    alive,
    pid: () => (alive() ? child?.pid : undefined),
    start: () => {
      if (alive()) return;
      logFile ??= createWriteStream(path.join(options.dir, `instance-${index}.log`), { flags: 'a' });
      const started = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
        cwd: options.sourceRoot,
        env: env(port),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      started.stdout.pipe(logFile, { end: false });
      started.stderr.pipe(logFile, { end: false });
      exited = new Promise((resolve) =>
        started.once('exit', (code, signal) => {
          logFile?.write(`--- instance ${index} exited (code ${code}, signal ${signal})\n`);
          resolve();
        }),
      );
      child = started;
    },
    kill: async () => {
      if (!alive()) return;
      child?.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (alive()) {
        const timer = setTimeout(() => child?.kill('SIGKILL'), 15_000);
        child?.kill('SIGTERM');
        await exited;
        clearTimeout(timer);
      }
      logFile?.end();
      logFile = undefined;
    },
  };
  return instance;
}

async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // "pid (comm) state ppid …": comm may hold spaces, so read after its closing parenthesis.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) children.push(Number(entry));
  }
  return children;
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone meanwhile
  }
}

async function waitForExit(pid: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`process ${pid} did not exit within ${timeoutMs} ms`);
}
