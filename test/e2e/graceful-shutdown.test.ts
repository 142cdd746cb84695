/**
 * SIGTERM to a real `customer-service serve` process under HTTP load: it stops taking work, finishes what is in flight
 * and exits within SHUTDOWN_TIMEOUT_MS, losing and duplicating nothing. Afterwards every request answered 201 or 200
 * has exactly one customer, and every request refused (503, or a connection the server closed unread) has none.
 * The process's real log output is checked for personal data on the way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/platform/postgres/embedded.js';
import { userRegistered } from '../support/events.js';
import { freePort } from '../support/global-setup.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SHUTDOWN_TIMEOUT_MS = 15_000;
const WORKERS = 12;
const SIGTERM_AFTER = 150;
const MAX_REQUESTS = 5_000;

interface Attempt {
  readonly userId: string;
  readonly email: string;
  readonly status?: number;
  readonly error?: string;
  /** Sent before SIGTERM, answered after it: in flight during the shutdown. */
  readonly inFlight: boolean;
}

let root: string | undefined;
let child: ChildProcess | undefined;
let database: EmbeddedDatabase | undefined;

afterAll(async () => {
  if (child?.exitCode === null) child.kill('SIGKILL');
  await database?.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

function post(agent: http.Agent, port: number, body: string): Promise<{ status: number } | { error: string }> {
  return new Promise((resolve) => {
    const request = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/api/v1/events', agent, headers: { 'content-type': 'application/json' } },
      (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? 0 }));
        response.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    request.end(body);
  });
}

describe('graceful shutdown', () => {
  it('on SIGTERM under load, loses and duplicates nothing and exits 0 within SHUTDOWN_TIMEOUT_MS', async () => {
    root = await mkdtemp(path.join(tmpdir(), 'customer-service-shutdown-'));
    const [port, pgPort] = [await freePort(), await freePort()];
    const dataDir = path.join(root, 'pg');
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOST: '127.0.0.1',
        PORT: String(port),
        EMBEDDED_POSTGRES_PORT: String(pgPort),
        EMBEDDED_POSTGRES_DIR: dataDir,
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child?.once('exit', (code, signal) => resolve({ code, signal })),
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`service did not start:\n${stdout}\n${stderr}`)), 60_000);
      const check = () => {
        if (stdout.includes('customer-service is listening')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child?.stdout?.on('data', check);
      void exited.then(() => reject(new Error(`service exited at start:\n${stdout}\n${stderr}`)));
    });

    // Keep-alive connections, so some requests arrive on open connections while the server is closing.
    const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS });
    const attempts: Attempt[] = [];
    let answered = 0;
    let signalled: number | undefined;
    const worker = async () => {
      while (attempts.length < MAX_REQUESTS) {
        const event = userRegistered({ email: `shutdown.${attempts.length}.${Math.random().toString(36).slice(2)}@mailer.example` });
        const sentBeforeSignal = signalled === undefined;
        const outcome = await post(agent, port, JSON.stringify(event));
        attempts.push({ userId: event.payload.userId, email: event.payload.email, ...outcome, inFlight: sentBeforeSignal && signalled !== undefined });
        if ('status' in outcome) answered += 1;
        if (answered >= SIGTERM_AFTER && signalled === undefined) {
          signalled = Date.now();
          child?.kill('SIGTERM');
        }
        if ('error' in outcome && outcome.error === 'ECONNREFUSED') return; // the listener is gone
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    agent.destroy();

    const exit = await exited;
    const shutdownMs = Date.now() - (signalled ?? Date.now());
    expect(signalled, 'SIGTERM was sent under load').toBeDefined();
    expect(exit, `stderr:\n${stderr}`).toEqual({ code: 0, signal: null });
    expect(shutdownMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    expect(stdout).toContain('customer-service stopped');

    // Every outcome is one of: created (201), refused while closing (503), or a connection the server closed or refused.
    const byKind = new Map<string, Attempt[]>();
    for (const attempt of attempts) {
      const kind = attempt.status !== undefined ? String(attempt.status) : attempt.error ?? '?';
      byKind.set(kind, [...(byKind.get(kind) ?? []), attempt]);
    }
    const kinds = [...byKind.keys()].sort();
    for (const kind of kinds) expect(['201', '503', 'ECONNREFUSED', 'ECONNRESET', 'socket hang up', 'EPIPE']).toContain(kind);
    const accepted = byKind.get('201') ?? [];
    const refused = attempts.filter((attempt) => attempt.status !== 201);
    expect(accepted.length).toBeGreaterThanOrEqual(SIGTERM_AFTER);
    // Requests in flight when SIGTERM came were finished, not cut off.
    const finishedInFlight = accepted.filter((attempt) => attempt.inFlight).length;
    expect(finishedInFlight).toBeGreaterThan(0);

    // Reopen the data directory the service left behind and check every request against it.
    database = await startEmbeddedPostgres({ dataDir, port: pgPort });
    const client = new pg.Client({ connectionString: database.connectionString });
    await client.connect();
    try {
      const { rows } = await client.query<{ user_id: string; n: string }>(
        'SELECT user_id::text AS user_id, count(*) AS n FROM customers GROUP BY user_id',
      );
      const customers = new Map(rows.map((row) => [row.user_id, Number(row.n)]));
      const lost = accepted.filter((attempt) => customers.get(attempt.userId) !== 1);
      const written = refused.filter((attempt) => customers.has(attempt.userId));
      expect(lost, 'answered 201 but not exactly one customer').toEqual([]);
      expect(written, 'refused but a customer was written').toEqual([]);
      expect(customers.size).toBe(accepted.length);
      // Numbers stayed gapless through the shutdown: the counter equals the customers written.
      const { rows: counters } = await client.query<{ total: string }>('SELECT sum(current_value) AS total FROM customer_number_sequences');
      expect(Number(counters[0]?.total)).toBe(accepted.length);
      // Each created customer's event is in the outbox, waiting for a relay (none is configured here).
      const { rows: outbox } = await client.query<{ n: string }>('SELECT count(*) AS n FROM outbox');
      expect(Number(outbox[0]?.n)).toBe(accepted.length);
    } finally {
      await client.end();
    }

    // The real log output (debug level) holds no e-mail address or name.
    expect(stdout).not.toMatch(/mailer\.example|"Jane"|"Doe"/);
    expect(stdout).not.toContain('Jane Doe');

    console.info(
      `graceful shutdown: ${attempts.length} requests, ${kinds.map((kind) => `${kind}: ${byKind.get(kind)?.length}`).join(', ')}; ` +
        `${finishedInFlight} in flight at SIGTERM finished with 201; exit ${shutdownMs} ms after SIGTERM`,
    );
  }, 120_000);
});
