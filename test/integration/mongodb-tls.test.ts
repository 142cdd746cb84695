/**
 * MongoDB over TLS with MONGODB_TLS_CA_FILE (issue 16): the driver must trust only that CA and check the host name.
 * No MongoDB can run on these machines, so a STAND-IN is used: a plain Node TLS server with a certificate the test
 * makes with openssl. It speaks no MongoDB; what is checked is whether the client completed the TLS handshake and sent
 * its first MongoDB message (`hello`) over it, which it does only when it accepts the server's certificate.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { mongoClientOptions } from '../../src/individual-customers/customer-read-model.mongo.js';
import { createTestCertificates, type TestCertificates } from '../support/tls.js';

let certs: TestCertificates;
let server: tls.Server;
let port: number;
let messagesReceived = 0;

beforeAll(async () => {
  certs = await createTestCertificates();
  server = tls.createServer({ cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile) }, (socket) => {
    socket.on('data', () => {
      messagesReceived += 1;
    });
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  ({ port } = server.address() as AddressInfo);
});
afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  if (certs !== undefined) await rm(certs.dir, { recursive: true, force: true });
});

/** Tries to connect; resolves with how many messages the stand-in got over TLS during the attempt, and the error. */
async function attempt(host: string, tlsCaFile: string): Promise<{ messages: number; error: string }> {
  const before = messagesReceived;
  const url = `mongodb://${host}:${port}/?directConnection=true&serverSelectionTimeoutMS=1500&connectTimeoutMS=1500`;
  const client = new MongoClient(url, mongoClientOptions({ url, tlsCaFile }));
  let error = '';
  try {
    await client.connect();
  } catch (caught) {
    error = String((caught as Error).message);
  } finally {
    await client.close().catch(() => undefined);
  }
  return { messages: messagesReceived - before, error };
}

describe('MongoDB over TLS (stand-in TLS server)', () => {
  it('with the right CA and host name, completes the handshake and speaks MongoDB over it', async () => {
    expect((await attempt('localhost', certs.caFile)).messages).toBeGreaterThan(0);
  });

  it('refuses a certificate another CA signed: not one message is sent', async () => {
    const result = await attempt('localhost', certs.otherCaFile);
    expect(result.messages).toBe(0);
    expect(result.error).toMatch(/certificate|self.signed/i);
  });

  it('refuses a host name the certificate does not name', async () => {
    const result = await attempt('127.0.0.1', certs.caFile);
    expect(result.messages).toBe(0);
    expect(result.error).toMatch(/127\.0\.0\.1|altnames|hostname/i);
  });

  it('refuses a MONGODB_URL that would weaken the checks', () => {
    expect(() => mongoClientOptions({ url: 'mongodb://m:27017/?tlsInsecure=true', tlsCaFile: certs.caFile })).toThrow(ConfigError);
    expect(() => mongoClientOptions({ url: 'mongodb://m:27017/?tls=true&tlsAllowInvalidHostnames=true', tlsCaFile: certs.caFile })).toThrow(/MONGODB_URL/);
  });
});
