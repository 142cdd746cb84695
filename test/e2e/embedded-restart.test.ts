/**
 * Issue #11 item 2: after `kill -9` of the service in embedded mode, its orphaned PostgreSQL still holds the data
 * directory. The next start finds it (postmaster.pid names a live postgres whose owner is gone), stops it and goes
 * on; any other conflict gives a clear message, never `customer-service: undefined`.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { userRegistered } from '../support/events.js';
import { freePort } from '../support/global-setup.js';
import { request, startServiceProcess, type ServiceProcess } from '../support/service-process.js';

let root: string | undefined;
const services: ServiceProcess[] = [];
const orphans: number[] = [];

afterAll(async () => {
  for (const service of services) await service.stop();
  for (const pid of orphans) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

function postmasterPid(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('embedded PostgreSQL after a crash of the service', () => {
  it('starts again after kill -9: the orphaned server is stopped and the data kept', async () => {
    root = await mkdtemp(path.join(tmpdir(), 'customer-service-kill9-'));
    const dataDir = path.join(root, 'postgres');
    const [port, pgPort] = [await freePort(), await freePort()];
    const env = { PORT: String(port), EMBEDDED_POSTGRES_DIR: dataDir, EMBEDDED_POSTGRES_PORT: String(pgPort), LOG_LEVEL: 'info' };
    const post = (body: unknown) =>
      request({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/events', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const first = await startServiceProcess(env);
    services.push(first);
    const event = userRegistered();
    expect(await post(event)).toMatchObject({ status: 201 });
    first.child.kill('SIGKILL');
    await first.exited;
    const orphan = postmasterPid(dataDir);
    orphans.push(orphan);
    expect(alive(orphan), 'the embedded postmaster outlives its service').toBe(true);

    const second = await startServiceProcess(env);
    services.push(second);
    expect(alive(orphan), 'the orphaned postmaster was stopped').toBe(false);
    expect(second.output()).toContain('stale embedded PostgreSQL');
    // The data survived: the customer is there (a duplicate now), and a new one gets the next number.
    expect(await post(event)).toMatchObject({ status: 200 });
    const created = await post(userRegistered());
    expect(created).toMatchObject({ status: 201 });
    expect(JSON.parse((created as { body: string }).body)).toMatchObject({ customerNumber: expect.stringMatching(/-000002$/) as unknown });
    await second.stop();
    expect(await second.exited).toEqual({ code: 0, signal: null });
  }, 120_000);

  it('says clearly why it cannot start when the embedded port is taken by something else', async () => {
    root ??= await mkdtemp(path.join(tmpdir(), 'customer-service-kill9-'));
    const pgPort = await freePort();
    const blocker: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => blocker.listen(pgPort, '127.0.0.1', resolve));
    try {
      const result = await runCli(['migrate'], { EMBEDDED_POSTGRES_DIR: path.join(root, 'other'), EMBEDDED_POSTGRES_PORT: String(pgPort), LOG_LEVEL: 'warn' });
      expect(result.code).toBe(1);
      expect(result.stderr).not.toContain('undefined');
      expect(result.stderr).toContain(String(pgPort));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  }, 60_000);
});
