/**
 * The lookup runs of `npm run bench` on their own (issue 17), to measure a change to the lookup path without the whole
 * benchmark: an embedded PostgreSQL (the benchmark's settings), a read model seeded directly with `--customers`
 * documents, the compiled service (`dist/main.js`, as the benchmark runs it: `AUTH_MODE=none`, no lookup limit, no
 * tracing), then `bench/lookups.ts` by id and by e-mail, `--rounds` times. Prints requests/s, latency and the CPU each
 * process used per lookup (service, with its user + system split; PostgreSQL; the client loop, this process), from /proc.
 *
 *   npm run build && npx tsx bench/lookups-experiment.ts [options]
 *
 * --roots A=DIR,B=DIR   services to compare (each DIR a checkout with a built dist/), run in alternating rounds: on the
 *                       shared two cores only runs next to each other compare; DIR+K=V+K=V gives one of them settings
 * --client socket,http  the client loops to compare, alternating
 * --statements          loads pg_stat_statements and prints the statements per run (lookups per statement: the batch)
 * --profile DIR         V8 CPU profiles of the services (DIR/NAME/), --service-env K=V,… settings for them
 * --customers N, --seconds S, --clients N, --rounds N, --by id,email
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { migrate } from '../src/platform/postgres/migrate.js';
import { startEmbeddedPostgres } from '../src/platform/postgres/embedded.js';
import { newCustomer } from '../src/individual-customers/domain/customer.js';
import type { CustomerNumber } from '../src/individual-customers/domain/customer-number.js';
import type { CustomerId, UserId } from '../src/individual-customers/domain/ids.js';
import { freePort } from '../test/support/global-setup.js';
import { cpuByGroup } from './cpu.js';
import { runLookups, type LookupClient, type LookupKey } from './lookups.js';
import { startServiceProcess, type ServiceProcess } from './service-process.js';

const ROOT = path.resolve(new URL('..', import.meta.url).pathname);

const { values: args } = parseArgs({
  options: {
    customers: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '8' },
    clients: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '1' },
    by: { type: 'string', default: 'id,email' },
    profile: { type: 'string' },
    'service-env': { type: 'string', default: '' },
    statements: { type: 'boolean', default: false },
    roots: { type: 'string' },
    client: { type: 'string', default: 'socket' },
  },
});

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
const uuidOf = (kind: number, i: number) => `${hex(kind, 8)}-0000-4000-8000-${hex(i, 12)}`;

async function seed(pool: pg.Pool, count: number): Promise<LookupKey[]> {
  const keys: LookupKey[] = [];
  const chunk = 5_000;
  for (let start = 0; start < count; start += chunk) {
    const documents = Array.from({ length: Math.min(chunk, count - start) }, (_, j) => {
      const i = start + j;
      return newCustomer(
        {
          userId: uuidOf(2, i) as UserId,
          email: `user.${i}@example.com`,
          firstName: `First${i}`,
          lastName: `Last${i}`,
          marketingOptIn: i % 2 === 0,
          registeredAt: new Date(Date.UTC(2026, 11, 1) + i * 1000),
        },
        uuidOf(1, i) as CustomerId,
        `ACME-202612-${String(i + 1).padStart(6, '0')}` as CustomerNumber,
      );
    });
    await pool.query(
      `INSERT INTO customer_documents (generation, customer_id, user_id, customer_number, email_lower, status, registered_at, version, document)
       SELECT 1, * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::int[], $8::jsonb[])`,
      [
        documents.map((d) => d.customerId),
        documents.map((d) => d.userId),
        documents.map((d) => d.customerNumber),
        documents.map((d) => d.email.address.toLowerCase()),
        documents.map((d) => d.status),
        documents.map((d) => d.registeredAt),
        documents.map(() => 1),
        documents.map((d) => JSON.stringify(d)),
      ],
    );
    for (const d of documents) keys.push({ customerId: d.customerId, email: d.email.address });
  }
  await pool.query('VACUUM ANALYZE customer_documents');
  // The benchmark's order: random keys.
  for (let i = keys.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [keys[i], keys[j]] = [keys[j] as LookupKey, keys[i] as LookupKey];
  }
  return keys;
}

/** User and system CPU of a process so far, µs. */
async function userSystem(pid: number): Promise<{ user: number; system: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) * 10_000, system: Number(fields[12]) * 10_000 };
}

async function main(): Promise<void> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'lookups-experiment-'));
  const port = await freePort();
  const server = await startEmbeddedPostgres({
    dataDir: path.join(scratch, 'postgres'),
    port,
    settings: { fsync: 'on', synchronous_commit: 'on', track_commit_timestamp: 'on', max_connections: '200', shared_buffers: '256MB',
      ...(args.statements ? { shared_preload_libraries: 'pg_stat_statements' } : {}),
    },
  });
  const pool = new pg.Pool({ connectionString: server.connectionString, max: 2 });
  try {
    await migrate(pool);
    if (args.statements) await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    log(`seeding ${args.customers} documents…`);
    const keys = await seed(pool, Number(args.customers));
    const serviceEnv = Object.fromEntries(
      args['service-env']
        .split(',')
        .filter((pair) => pair !== '')
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    );
    const roots = (args.roots ?? `this=${ROOT}`).split(',').map((entry) => {
      const [dir = '', ...settings] = entry.slice(entry.indexOf('=') + 1).split('+');
      const env = Object.fromEntries(settings.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
      return { name: entry.slice(0, entry.indexOf('=')), root: path.resolve(dir), env };
    });
    const services: { name: string; service: ServiceProcess }[] = [];
    try {
      for (const { name, root, env } of roots) {
        const service = await startServiceProcess({
          root,
          port: await freePort(),
          ...(args.profile === undefined ? {} : { cpuProfileDir: path.resolve(args.profile, name) }),
          env: { DATABASE_URL: server.connectionString, AUTH_MODE: 'none', RATE_LIMIT_LOOKUPS: '0', ...serviceEnv, ...env },
        });
        services.push({ name, service });
        log(`${name}: service pid ${service.pid} (${root}), client pid ${process.pid}`);
        // Warm-up: the service's JIT and the database's caches.
        await runLookups(service.url, keys, { by: 'id', clients: Number(args.clients), seconds: 2 });
        await runLookups(service.url, keys, { by: 'email', clients: Number(args.clients), seconds: 1 });
      }
      for (let round = 0; round < Number(args.rounds); round += 1) {
        for (const by of args.by.split(',') as ('id' | 'email')[]) {
          for (const { name, service } of services) for (const client of args.client.split(',') as LookupClient[]) {
            const load = loadavg()[0] ?? 0;
            if (args.statements) await pool.query('SELECT pg_stat_statements_reset()');
            const before = await cpuByGroup();
            const serviceBefore = await userSystem(service.pid);
            const clientBefore = process.cpuUsage();
            const figures = await runLookups(service.url, keys, { by, clients: Number(args.clients), seconds: Number(args.seconds), client });
            const after = await cpuByGroup();
            const serviceAfter = await userSystem(service.pid);
            const clientAfter = process.cpuUsage(clientBefore);
            const split = (user: number, system: number) => `${Math.round(user / figures.requests)}+${Math.round(system / figures.requests)}`;
            const us = (group: 'postgres' | 'bench') => Math.round(((after[group] - before[group]) * 1000) / figures.requests);
            const serviceUs = Math.round((serviceAfter.user + serviceAfter.system - serviceBefore.user - serviceBefore.system) / figures.requests);
            const l = figures.latency;
            let batches = '';
            if (args.statements) {
              const { rows } = await pool.query<{ calls: string }>(
                `SELECT sum(calls) AS calls FROM pg_stat_statements WHERE query LIKE '%unnest($1::text[]) WITH ORDINALITY%'`,
              );
              const calls = Number(rows[0]?.calls ?? 0);
              batches = `  statements ${calls} (${(figures.requests / Math.max(1, calls)).toFixed(1)} lookups each)`;
            }
            process.stdout.write(
              `${name.padEnd(8)} ${client.padEnd(6)} ${by.padEnd(5)} ${String(Math.round(figures.requestsPerSecond)).padStart(5)} req/s  p50/p95/p99/max ${l.p50.toFixed(1)}/${l.p95.toFixed(1)}/${l.p99.toFixed(1)}/${l.max.toFixed(1)} ms  errors ${figures.errors}  CPU µs/lookup: service ${serviceUs} (${split(serviceAfter.user - serviceBefore.user, serviceAfter.system - serviceBefore.system)}), postgres ${us('postgres')}, client ${us('bench')} (${split(clientAfter.user, clientAfter.system)})  load ${load.toFixed(2)}${batches}\n`,
            );
          }
        }
      }
    } finally {
      for (const { service } of services) await service.stop();
    }
  } finally {
    await pool.end();
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
