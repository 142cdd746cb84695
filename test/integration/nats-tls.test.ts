/** NATS over TLS with a CA file from the configuration, against a real nats-server with a certificate made here. */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '../../src/platform/nats/connection.js';
import { natsConfigFor } from '../support/corporate.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';

let dir: string;
let server: NatsServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'customer-service-test-tls-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  server = await startNatsServer({ tls: { certFile, keyFile }, user: 'u', password: 'p' });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('NATS connection over TLS', () => {
  it('connects with NATS_TLS_CA_FILE and user/password', async () => {
    const config = natsConfigFor(`tls://127.0.0.1:${server.port}`, { NATS_TLS_CA_FILE: path.join(dir, 'cert.pem'), NATS_USER: 'u', NATS_PASSWORD: 'p' });
    const nc = await connectNats(config, { reconnect: false });
    try {
      await nc.flush();
      expect(nc.info?.tls_required).toBe(true);
    } finally {
      await nc.close();
    }
  });

  it('refuses a server certificate it cannot verify', async () => {
    const config = natsConfigFor(`tls://127.0.0.1:${server.port}`, { NATS_USER: 'u', NATS_PASSWORD: 'p' });
    await expect(connectNats(config, { reconnect: false, timeoutMs: 3_000 })).rejects.toThrow(/certificate/i);
  });
});
