/**
 * A real MongoDB wire-protocol server for the read-model tests: FerretDB 1.x (`.ci/install-ferretdb.sh` builds it into
 * `.cache/bin/ferretdb`; or set FERRETDB_BIN), on a PostgreSQL database of its own on the suite's embedded server, on a
 * free port. `stop()` and `start()` again on the same port and database simulate an outage.
 *
 * MongoDB itself cannot be installed on these machines; FerretDB is the real server the MongoDB adapter meets here.
 * Set MONGODB_URL to run the same tests against a real MongoDB instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { stopProcess } from './stop-process.js';

export const FERRETDB_BIN = process.env.FERRETDB_BIN ?? new URL('../../.cache/bin/ferretdb', import.meta.url).pathname;
export const FERRETDB_INSTALL_HINT = 'Build it with `.ci/install-ferretdb.sh` (needs Go; `.ci/run` does it), or set FERRETDB_BIN to its path.';
const START_TIMEOUT_MS = 30_000;

export interface FerretDb {
  /** `mongodb://127.0.0.1:<port>/` */
  readonly url: string;
  readonly port: number;
  /** How long the last start took until the server answered a ping. */
  readonly startMs: number;
  readonly version: string;
  /** Starts the server (again); resolves once it answers a ping. */
  start(): Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL), keeping its data. */
  stop(): Promise<void>;
  /** Stops the server, drops its PostgreSQL database and state directory. */
  close(): Promise<void>;
}

export function ferretDbAvailable(): boolean {
  return existsSync(FERRETDB_BIN);
}

/** Starts FerretDB on a new database `ferretdb_<suffix>` of the PostgreSQL server at `postgresAdminUrl`. */
export async function startFerretDb(options: { postgresAdminUrl: string; port: number; database?: string }): Promise<FerretDb> {
  if (!ferretDbAvailable()) throw new Error(`FerretDB not found at ${FERRETDB_BIN}. ${FERRETDB_INSTALL_HINT}`);
  const database = options.database ?? `ferretdb_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: options.postgresAdminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  const pgUrl = new URL(options.postgresAdminUrl);
  pgUrl.pathname = `/${database}`;
  // FerretDB's pool defaults to 10 to 50 connections; the suite's server is shared by many test files.
  pgUrl.searchParams.set('pool_min_conns', '1');
  pgUrl.searchParams.set('pool_max_conns', '20');
  const stateDir = await mkdtemp(path.join(tmpdir(), 'customer-service-test-ferretdb-'));
  const url = `mongodb://127.0.0.1:${options.port}/`;
  let child: ChildProcess | undefined;
  let startMs = 0;
  let version = '';

  const start = async (): Promise<void> => {
    const started = performance.now();
    const args = [
      '--handler=postgresql',
      `--postgresql-url=${pgUrl.toString()}`,
      `--listen-addr=127.0.0.1:${options.port}`,
      '--debug-addr=-',
      `--state-dir=${stateDir}`,
      '--telemetry=disable',
      `--log-level=${process.env.FERRETDB_LOG_LEVEL ?? 'WARN'}`,
      '--log-format=text',
    ];
    const process_ = spawn(FERRETDB_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = process_;
    let log = '';
    let exited: string | undefined;
    process_.stderr?.setEncoding('utf8');
    process_.stderr?.on('data', (chunk: string) => {
      log = (log + chunk).slice(-4000);
      // FERRETDB_LOG=<file> keeps the server's log (warnings and errors; FERRETDB_LOG_LEVEL=DEBUG for every command).
      if (process.env.FERRETDB_LOG !== undefined) appendFileSync(process.env.FERRETDB_LOG, chunk);
    });
    process_.once('exit', (code, signal) => (exited = `FerretDB exited (code ${code}, signal ${signal}) before it was ready:\n${log}`));
    process_.once('error', (error) => (exited = `FerretDB did not start: ${error.message}`));
    for (;;) {
      if (exited !== undefined) throw new Error(exited);
      if (performance.now() - started > START_TIMEOUT_MS) {
        process_.kill('SIGKILL');
        throw new Error(`FerretDB did not answer a ping within ${START_TIMEOUT_MS} ms:\n${log}`);
      }
      const client = new MongoClient(url, { serverSelectionTimeoutMS: 200, connectTimeoutMS: 200 });
      try {
        await client.connect();
        const info = await client.db('admin').command({ buildInfo: 1 });
        version = String(info.ferretdbVersion ?? info.version);
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        await client.close();
      }
    }
    startMs = Math.round(performance.now() - started);
  };

  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    await stopProcess(running);
  };

  await start();
  return {
    url,
    port: options.port,
    get startMs() {
      return startMs;
    },
    get version() {
      return version;
    },
    start,
    stop,
    close: async () => {
      await stop();
      await rm(stateDir, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: options.postgresAdminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
