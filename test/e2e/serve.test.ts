/**
 * `npm start` on a fresh machine: the real executable, no database configured, so it starts its own embedded
 * PostgreSQL in an empty data directory, serves the API, and on SIGTERM stops everything and exits 0.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/global-setup.js';

const ROOT = new URL('../..', import.meta.url).pathname;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('customer-service serve with nothing configured', () => {
  let root: string | undefined;
  let child: ChildProcessWithoutNullStreams | undefined;

  afterAll(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it('starts an embedded PostgreSQL in an empty data directory, serves the API, and stops cleanly on SIGTERM', async () => {
    root = await mkdtemp(path.join(tmpdir(), 'customer-service-serve-'));
    const [httpPort, pgPort] = [await freePort(), await freePort()];
    const started = performance.now();
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(httpPort),
        HOST: '127.0.0.1',
        EMBEDDED_POSTGRES_DIR: path.join(root, 'postgres'),
        EMBEDDED_POSTGRES_PORT: String(pgPort),
        LOG_LEVEL: 'warn',
      },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child?.on('close', resolve));

    const base = `http://127.0.0.1:${httpPort}`;
    await waitFor('readiness', async () => ((await fetch(`${base}/health/ready`)).ok ? true : undefined), 45_000);
    const firstAnswerMs = performance.now() - started;

    const fixture = await readFile(path.join(ROOT, 'test/fixtures/user-registered.event.json'), 'utf8');
    const created = await fetch(`${base}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: fixture });
    expect(created.status).toBe(201);
    const { customerNumber } = (await created.json()) as { customerNumber: string };
    expect(customerNumber).toMatch(/^ACME-\d{6}-000001$/);
    // ACME's acceptance tests poll the e-mail lookup until the profile appears; so do we.
    const profile = await waitFor(
      'the profile',
      async () => {
        const response = await fetch(`${base}/api/v1/customers/by-email/customer@example.com`);
        return response.ok ? ((await response.json()) as { customerNumber: string }) : undefined;
      },
      10_000,
    );
    expect(profile.customerNumber).toBe(customerNumber);
    expect(await portOpen(pgPort)).toBe(true);
    // Open on purpose (no database configured), and the first thing it says is so.
    const first = JSON.parse(output.split('\n')[0] ?? '{}') as { level?: string; msg?: string };
    expect(first.level).toBe('warn');
    expect(first.msg).toMatch(/^authentication is off \(embedded defaults/);

    child.kill('SIGTERM');
    expect(await exited, output).toBe(0);
    // The embedded server went down with the service: nothing left listening on its port.
    expect(await portOpen(pgPort)).toBe(false);
    expect(await portOpen(httpPort)).toBe(false);
    process.stdout.write(`serve: first ready answer ${Math.round(firstAnswerMs)} ms after spawn (fresh data directory)\n`);
  }, 90_000);
});
