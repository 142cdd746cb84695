/**
 * Test harness for librdkafka's built-in Kafka-protocol mock cluster (Debian `librdkafka-dev`): the stand-in the
 * Kafka tests fall back to on a machine without Java (the real broker is `kafka-broker.ts`; see
 * `kafka-test-broker.ts`).
 *
 * `startKafkaMock()` compiles `kafka-mock/mock-broker.c` on first use (into the gitignored
 * `kafka-mock/bin/`), starts it as a child process and returns its bootstrap servers, which any
 * Kafka client (kafkajs included) can connect to. Always call `stop()` (e.g. in `afterAll`).
 *
 * Limitations of the mock (librdkafka 2.0.2 with kafkajs 2.2.4): no CreateTopics/DeleteTopics
 * admin API (use `topics` / `createTopic()` or produce-time auto-creation, 4 partitions), no
 * kafkajs idempotent producer or transactions, no ListGroups/DescribeGroups (so no
 * `admin.resetOffsets`/`setOffsets`), and each partition only retains about 5 MiB, silently
 * dropping older messages. A group's first join takes 3 s; joining a group whose previous member
 * just left waits about sessionTimeout - 1 s, so use a fresh group id per test.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface KafkaMockOptions {
  /** Topics to create up front: name -> partition count. */
  topics?: Record<string, number>;
  /** Number of brokers (ids 1..n). Default 1. */
  brokers?: number;
}

export interface KafkaMock {
  /** e.g. `['127.0.0.1:41234']`, one entry per broker. */
  readonly bootstrapServers: string[];
  /** Disconnects every broker (or one, by id) and refuses new connections. No leader change. */
  brokersDown(brokerId?: number): Promise<void>;
  /** Lets the broker(s) accept connections again. */
  brokersUp(brokerId?: number): Promise<void>;
  /** Creates a topic (replication factor 1); rejects if it already exists. */
  createTopic(name: string, partitions: number): Promise<void>;
  /** Destroys the cluster and waits for the process to exit. Safe to call twice. */
  stop(): Promise<void>;
}

const SOURCE = fileURLToPath(new URL('./kafka-mock/mock-broker.c', import.meta.url));
const BIN_DIR = fileURLToPath(new URL('./kafka-mock/bin/', import.meta.url));
const BINARY = `${BIN_DIR}mock-broker`;
const INSTALL_HINT = 'Install the build dependencies with: apt-get install -y librdkafka-dev gcc';
const START_TIMEOUT_MS = 15_000;
const COMMAND_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

let building: Promise<string> | undefined;

/** Builds the mock broker binary if it is missing or older than its source; returns its path. */
export function buildKafkaMock(): Promise<string> {
  building ??= build().catch((err: unknown) => {
    building = undefined;
    throw err;
  });
  return building;
}

async function build(): Promise<string> {
  const [src, bin] = await Promise.all([stat(SOURCE), stat(BINARY).catch(() => undefined)]);
  if (bin && bin.mtimeMs >= src.mtimeMs) return BINARY;

  await mkdir(BIN_DIR, { recursive: true });
  // Several vitest workers may build at once: compile to a private name, then rename atomically.
  const tmp = `${BINARY}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await new Promise<void>((resolve, reject) => {
      execFile('gcc', ['-O2', '-o', tmp, SOURCE, '-lrdkafka'], (err, _stdout, stderr) => {
        if (!err) return resolve();
        const code = (err as NodeJS.ErrnoException).code;
        reject(
          new Error(
            code === 'ENOENT'
              ? `Kafka mock: gcc not found. ${INSTALL_HINT}`
              : `Kafka mock: compiling ${SOURCE} failed (is librdkafka-dev installed? ` +
                  `/usr/include/librdkafka/rdkafka_mock.h is needed). ${INSTALL_HINT}\n${stderr}`,
          ),
        );
      });
    });
    await rename(tmp, BINARY);
  } finally {
    await rm(tmp, { force: true });
  }
  return BINARY;
}

export async function startKafkaMock(options: KafkaMockOptions = {}): Promise<KafkaMock> {
  const binary = await buildKafkaMock();
  const args = ['--brokers', String(options.brokers ?? 1)];
  for (const [name, partitions] of Object.entries(options.topics ?? {})) {
    checkTopic(name, partitions);
    args.push('--topic', `${name}:${partitions}`);
  }

  const child: ChildProcessWithoutNullStreams = spawn(binary, args, { stdio: 'pipe' });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });

  // The first stdout line is the bootstrap list; each later line answers one command, in order.
  const waiting: Array<{ resolve: (line: string) => void; reject: (err: Error) => void }> = [];
  let failure: Error | undefined;
  const fail = (err: Error): void => {
    failure ??= err;
    for (const w of waiting.splice(0)) w.reject(failure);
  };
  const exited = new Promise<void>((resolve) => {
    child.once('close', (code, signal) => {
      fail(new Error(`Kafka mock exited (code ${code}, signal ${signal})${stderr ? `: ${stderr.trim()}` : ''}`));
      resolve();
    });
    child.once('error', (err) => {
      fail(new Error(`Kafka mock could not start (${binary}): ${err.message}`));
      resolve();
    });
  });
  child.stdin.on('error', () => {}); // EPIPE after the process died is reported via 'close'.
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.resolve(line));

  const nextLine = (timeoutMs: number, what: string): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      if (failure) return reject(failure);
      // After a timeout, replies can no longer be matched to commands: the mock is unusable.
      const timer = setTimeout(() => fail(new Error(`Kafka mock: timed out waiting for ${what}`)), timeoutMs);
      waiting.push({
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });

  // Commands are serialised so that replies cannot be attributed to the wrong command.
  let queue: Promise<unknown> = Promise.resolve();
  const command = (cmd: string): Promise<void> => {
    const run = async (): Promise<void> => {
      if (failure) throw failure;
      const reply = nextLine(COMMAND_TIMEOUT_MS, `reply to "${cmd}"`);
      child.stdin.write(`${cmd}\n`);
      const line = await reply;
      if (line !== 'ok') throw new Error(`Kafka mock: "${cmd}" failed: ${line}`);
    };
    const result = queue.then(run, run);
    queue = result.catch(() => {});
    return result;
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin.end(); // EOF makes the program destroy the cluster and exit.
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
    })());

  let bootstrap: string;
  try {
    bootstrap = await nextLine(START_TIMEOUT_MS, 'the bootstrap servers');
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    bootstrapServers: bootstrap.split(','),
    brokersDown: (brokerId = -1) => command(`down ${brokerId}`),
    brokersUp: (brokerId = -1) => command(`up ${brokerId}`),
    createTopic: async (name, partitions) => {
      checkTopic(name, partitions);
      await command(`create ${name} ${partitions}`);
    },
    stop,
  };
}

function checkTopic(name: string, partitions: number): void {
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(name)) throw new Error(`Kafka mock: invalid topic name "${name}"`);
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new Error(`Kafka mock: topic "${name}" needs a positive integer partition count, got ${partitions}`);
  }
}
