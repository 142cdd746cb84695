/**
 * The start rule of `serve` with an external database (issue 16): refused without authentication unless
 * AUTH_MODE=none, refused with an API-keys file it cannot use, and served with authentication when configured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/platform/auth/api-keys.js';
import { ROOT, runCli } from '../support/cli.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../support/global-setup.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), 'customer-service-serve-auth-'));
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
  await db?.drop();
});

/** `serve` until it answers readiness; its output so far is in `output()`. */
async function serve(env: Record<string, string>) {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url, HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  const base = `http://127.0.0.1:${port}`;
  await eventually(async () => (await fetch(`${base}/health/ready`)).ok, { timeoutMs: 45_000, what: `serve ready (${output})` });
  return {
    base,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

describe('serve with an external database', () => {
  it('refuses to start without authentication (exit 2), naming the variables', async () => {
    const result = await runCli(['serve'], { DATABASE_URL: db.url, HOST: '127.0.0.1', PORT: String(await freePort()) });
    expect(result.code).toBe(2);
    for (const name of ['AUTH_JWKS_URL', 'AUTH_API_KEYS_FILE', 'AUTH_MODE=none']) expect(result.stderr).toContain(name);
  });

  it('refuses an API-keys file it cannot parse (exit 2, naming the line) or read', async () => {
    const file = path.join(dir, 'bad-keys');
    await writeFile(file, `# keys\nreader ${hashApiKey('k')} customers:read\nwriter not-a-hash events:write\n`);
    const bad = await runCli(['serve'], { DATABASE_URL: db.url, AUTH_API_KEYS_FILE: file });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('AUTH_API_KEYS_FILE: line 3');
    const missing = await runCli(['serve'], { DATABASE_URL: db.url, AUTH_API_KEYS_FILE: path.join(dir, 'absent') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('AUTH_API_KEYS_FILE: cannot read the file (ENOENT)');
  });

  it('starts open with AUTH_MODE=none and warns in its first log line', async () => {
    const service = await serve({ AUTH_MODE: 'none', LOG_LEVEL: 'info' });
    expect((await fetch(`${service.base}/api/v1/customers/by-email/nobody@example.com`)).status).toBe(404);
    const first = JSON.parse(service.output().split('\n')[0] ?? '{}') as { level?: string; msg?: string };
    expect(first).toMatchObject({ level: 'warn', msg: expect.stringContaining('AUTH_MODE=none') as string });
    expect(await service.stop()).toBe(0);
  }, 60_000);

  it('serves with API keys: 401 without one, in with one', async () => {
    const file = path.join(dir, 'keys');
    await writeFile(file, `reader ${hashApiKey('e2e-reader-key')} customers:read\nfeeder ${hashApiKey('e2e-feeder-key')} events:write\n`);
    const service = await serve({ AUTH_API_KEYS_FILE: file, LOG_LEVEL: 'warn' });
    const url = `${service.base}/api/v1/customers/by-email/nobody@example.com`;
    const refused = await fetch(url);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await fetch(url, { headers: { 'x-api-key': 'e2e-reader-key' } })).status).toBe(404);
    // The publish command sends its credential from PUBLISH_HTTP_TOKEN (or PUBLISH_HTTP_TOKEN_FILE).
    const tokenFile = path.join(dir, 'feeder-token');
    await writeFile(tokenFile, 'e2e-feeder-key\n');
    const args = ['publish', 'user-registered', '--count', '2', '--to', 'http', '--url', `${service.base}/api/v1/events`];
    const refusedPublish = await runCli(args, {});
    expect(JSON.parse(refusedPublish.stdout)).toMatchObject({ statuses: { 401: 2 } });
    const published = await runCli(args, { PUBLISH_HTTP_TOKEN_FILE: tokenFile });
    expect(JSON.parse(published.stdout), published.stderr).toMatchObject({ sent: 2, statuses: { 201: 2 } });
    expect(service.output()).not.toContain('e2e-reader-key');
    expect(service.output()).not.toContain('e2e-feeder-key');
    expect(await service.stop()).toBe(0);
  }, 60_000);
});
