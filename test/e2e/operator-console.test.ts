/**
 * The operator console end to end, in a real headless Chromium (Debian's `chromium`, driven by playwright-core): the
 * service runs as `serve` does; a registration whose retries ran out is parked as a dead letter; from the page, the
 * operator sees it with its reason and a masked payload, replays it, and finds the customer it registered with the
 * lookup (personal data masked). The page's screenshot path is printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { park } from '../../src/platform/postgres/dead-letters.js';
import { ROOT } from '../support/cli.js';
import { eventually } from '../support/eventually.js';
import { userRegistered } from '../support/events.js';
import { freePort } from '../support/global-setup.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const SCREENSHOT_DIR = path.join(ROOT, 'test-results');

let db: TestDatabase;
let service: ChildProcess | undefined;
let browser: Browser | undefined;
let base: string;
let keysDir: string;
let keysFile: string;
const OPERATOR_KEY = `op-${randomBytes(24).toString('hex')}`;
const READER_KEY = `rd-${randomBytes(24).toString('hex')}`;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install it with \`apt-get install -y chromium\` (.ci/run does), or set CHROMIUM_BIN`);
  db = await createTestDatabase();
  // The console is behind the API's authentication: an operator key (scope operations) and a reader key.
  keysDir = await mkdtemp(path.join(tmpdir(), 'customer-service-console-keys-'));
  keysFile = path.join(keysDir, 'api-keys');
  const sha256 = (key: string) => createHash('sha256').update(key).digest('hex');
  await writeFile(keysFile, `operator ${sha256(OPERATOR_KEY)} operations\nreader ${sha256(READER_KEY)} customers:read\n`);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  service = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: db.url,
      AUTH_API_KEYS_FILE: keysFile,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      PROJECTOR_POLL_INTERVAL_MS: '100',
    },
    stdio: 'ignore',
  });
  await eventually(async () => (await fetch(`${base}/health/ready`)).status === 200, { what: 'the service ready', timeoutMs: 60_000, intervalMs: 200 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  if (service !== undefined && service.exitCode === null) {
    const exited = new Promise((resolve) => service?.once('exit', resolve));
    service.kill('SIGTERM');
    await exited;
  }
  await db?.drop();
  if (keysDir !== undefined) await rm(keysDir, { recursive: true, force: true });
});

/** A page of a browser context that sends the operator's API key with every request (as an auth proxy would). */
const operatorPage = async () => (await (browser as Browser).newContext({ extraHTTPHeaders: { 'x-api-key': OPERATOR_KEY } })).newPage();

describe('operator console', () => {
  it('needs credentials with the operations scope (401 without, 403 with another scope)', async () => {
    for (const url of ['/console', '/console/api/dead-letters']) {
      expect((await fetch(`${base}${url}`)).status, url).toBe(401);
      expect((await fetch(`${base}${url}`, { headers: { 'x-api-key': READER_KEY } })).status, url).toBe(403);
      expect((await fetch(`${base}${url}`, { headers: { 'x-api-key': OPERATOR_KEY } })).status, url).toBe(200);
    }
  });

  it('shows a parked registration with its reason and masked payload; Replay registers the customer; the lookup finds it masked', async () => {
    // A registration that failed on a transient error until its retries ran out, as the Kafka consumer parks it.
    const event = userRegistered();
    const email = event.payload.email;
    const [id] = await park(db.pool, [
      {
        transport: 'kafka',
        source: 'identity.user.events',
        partition: 0,
        offset: '41',
        key: Buffer.from(event.payload.userId),
        headers: { eventType: 'UserRegistered', eventId: event.eventId },
        payload: Buffer.from(JSON.stringify(event)),
        messageId: event.eventId,
        reasonCode: 'RETRIES_EXHAUSTED',
        errorMessage: 'database unavailable after 5 retries',
        attempts: 6,
      },
    ]);

    const page = await operatorPage();
    await page.goto(`${base}/console`);
    const row = page.locator(`#dead-letters tr[data-id="${id}"]`);
    await row.waitFor({ timeout: 15_000 });
    expect(await row.textContent()).toContain('RETRIES_EXHAUSTED');
    const payloadText = (await row.locator('pre').textContent()) ?? '';
    expect(payloadText).toContain(event.payload.userId);
    expect(payloadText).not.toContain(email);
    expect(payloadText).not.toContain(event.payload.lastName);
    expect(payloadText).toContain('[redacted]');
    await expect.poll(async () => page.locator('#dead-letter-count').textContent(), { timeout: 10_000 }).toBe('1');

    await row.getByRole('button', { name: 'Replay' }).click();
    await page.locator('#action-result', { hasText: `Dead letter ${id}: replayed` }).waitFor({ timeout: 15_000 });
    await page.locator(`#dead-letters tr[data-id="${id}"]`).waitFor({ state: 'detached', timeout: 15_000 });

    // The customer is registered: the API and the console's lookup both find it.
    const customer = await eventually(async () => {
      const response = await fetch(`${base}/api/v1/customers/by-user/${event.payload.userId}`, { headers: { 'x-api-key': READER_KEY } });
      return response.status === 200 ? ((await response.json()) as { customerNumber: string }) : undefined;
    }, { what: 'the replayed customer readable', timeoutMs: 15_000 });
    expect(customer.customerNumber).toMatch(/^ACME-\d{6}-\d{6}$/);
    expect((await db.rows<{ status: string }>('SELECT status FROM dead_letters WHERE id = $1', [id]))[0]?.status).toBe('replayed');

    await page.fill('#lookup-q', event.payload.userId);
    await page.click('#lookup button');
    await page.locator('#lookup-result', { hasText: customer.customerNumber }).waitFor({ timeout: 10_000 });
    const lookedUp = (await page.locator('#lookup-result').textContent()) ?? '';
    expect(lookedUp).not.toContain(email);
    expect(lookedUp).not.toContain(event.payload.firstName);
    await expect.poll(async () => page.locator('#flows').textContent(), { timeout: 10_000 }).toContain('UserRegistered');

    await mkdir(SCREENSHOT_DIR, { recursive: true });
    const screenshot = path.join(SCREENSHOT_DIR, 'operator-console.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    console.info(`operator console screenshot: ${screenshot}`);
    expect(existsSync(screenshot)).toBe(true);
  }, 120_000);

  it('discards a dead letter from the page', async () => {
    const [id] = await park(db.pool, [
      { transport: 'kafka', source: 'identity.user.events', payload: Buffer.from('not json at all'), reasonCode: 'MALFORMED_JSON', errorMessage: 'not JSON' },
    ]);
    const page = await operatorPage();
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(`${base}/console`);
    const row = page.locator(`#dead-letters tr[data-id="${id}"]`);
    await row.waitFor({ timeout: 15_000 });
    await row.getByRole('button', { name: 'Discard' }).click();
    await page.locator('#action-result', { hasText: `Dead letter ${id}: discarded` }).waitFor({ timeout: 15_000 });
    expect((await db.rows<{ status: string }>('SELECT status FROM dead_letters WHERE id = $1', [id]))[0]?.status).toBe('discarded');
  }, 60_000);
});
