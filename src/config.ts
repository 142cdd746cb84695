/**
 * The only reader of `process.env`. Every setting is parsed and validated once, at start; a bad or missing value
 * is reported together with every other bad value, and the CLI exits with code 2 (see `ConfigError`).
 *
 * Every variable here is listed, with its default, in the README's configuration table.
 */
import { z } from 'zod';

export type Environment = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const port = z.coerce.number().int().min(1).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' })
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

/** Raw environment schema: names are the variable names, so an issue path is the offending variable. */
const environmentSchema = z.object({
  PORT: port.default(10301),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  LOG_PERSONAL_DATA: bool.default(false),

  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'expected a postgres:// or postgresql:// URL' }).optional(),
  DB_HOST: z.string().min(1).optional(),
  DB_PORT: port.default(5432),
  DB_USER: z.string().min(1).optional(),
  DB_PASSWORD: z.string().optional(),
  DB_NAME: z.string().min(1).optional(),
  DATABASE_POOL_SIZE: positiveInt.max(200).default(10),
  EMBEDDED_POSTGRES_DIR: z.string().min(1).default('./.data/postgres'),
  EMBEDDED_POSTGRES_PORT: port.default(54329),

  CUSTOMER_NUMBER_PREFIX: z
    .string()
    .regex(/^[A-Z][A-Z0-9]{0,15}$/, 'expected 1-16 upper-case letters or digits, starting with a letter')
    .default('ACME'),
  HTTP_BODY_LIMIT_BYTES: positiveInt.max(64 * 1024 * 1024).default(1024 * 1024),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),

  // Read model (projector and query store).
  // A regex, not z.url(): a replica-set URL lists several host:port pairs, which WHATWG URL parsing rejects.
  MONGODB_URL: z.string().regex(/^mongodb(\+srv)?:\/\/\S+$/, 'expected a mongodb:// or mongodb+srv:// URL').optional(),
  MONGODB_DATABASE: z.string().regex(/^[^/\\. "$]{1,63}$/, 'expected a MongoDB database name').default('customer-service'),
  PROJECTOR_BATCH_SIZE: positiveInt.max(10_000).default(500),
  PROJECTOR_POLL_INTERVAL_MS: positiveInt.max(60_000).default(250),
});

export type LogLevel = (typeof LOG_LEVELS)[number];

export type DatabaseConfig =
  | { readonly kind: 'external'; readonly connectionString: string; readonly poolSize: number }
  | {
      readonly kind: 'embedded';
      readonly dataDir: string;
      readonly port: number;
      readonly poolSize: number;
    };

export interface Config {
  readonly http: { readonly host: string; readonly port: number; readonly bodyLimitBytes: number };
  readonly log: { readonly level: LogLevel; readonly personalData: boolean };
  readonly database: DatabaseConfig;
  readonly customers: { readonly numberPrefix: string };
  readonly shutdownTimeoutMs: number;
  /** The query side: MongoDB when a URL is given, else the PostgreSQL read model; projector tuning. */
  readonly readModel: {
    readonly mongodb?: { readonly url: string; readonly database: string };
    readonly batchSize: number;
    readonly pollIntervalMs: number;
  };
}

/** Thrown when the environment is invalid; `problems` holds one line per offending variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

/** Reads and validates the whole configuration; throws `ConfigError` naming every bad variable. */
export function loadConfig(env: Environment = process.env): Config {
  const parsed = environmentSchema.safeParse(emptyAsUnset(env));
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '?');
      problems.push(`${name}: ${issue.message} (got ${describeValue(name, env[name])})`);
    }
  }
  if (!parsed.success) {
    // Still report an incomplete DB_* set, so one run names every offending variable.
    const raw = emptyAsUnset(env);
    databaseConfig({ DATABASE_URL: raw.DATABASE_URL, DB_HOST: raw.DB_HOST, DB_USER: raw.DB_USER, DB_NAME: raw.DB_NAME } as z.infer<typeof environmentSchema>, problems);
    throw new ConfigError(problems);
  }
  const database = databaseConfig(parsed.data, problems);
  if (database === undefined || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    http: { host: e.HOST, port: e.PORT, bodyLimitBytes: e.HTTP_BODY_LIMIT_BYTES },
    log: { level: e.LOG_LEVEL, personalData: e.LOG_PERSONAL_DATA },
    database,
    customers: { numberPrefix: e.CUSTOMER_NUMBER_PREFIX },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    readModel: {
      ...(e.MONGODB_URL === undefined ? {} : { mongodb: { url: e.MONGODB_URL, database: e.MONGODB_DATABASE } }),
      batchSize: e.PROJECTOR_BATCH_SIZE,
      pollIntervalMs: e.PROJECTOR_POLL_INTERVAL_MS,
    },
  };
}

function databaseConfig(
  e: z.infer<typeof environmentSchema>,
  problems: string[],
): DatabaseConfig | undefined {
  if (e.DATABASE_URL !== undefined) {
    return { kind: 'external', connectionString: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE };
  }
  // The DB_* set is what the existing knapscen-config Secret provides: all of host, user and name, or none.
  const parts = { DB_HOST: e.DB_HOST, DB_USER: e.DB_USER, DB_NAME: e.DB_NAME };
  const given = Object.entries(parts).filter(([, value]) => value !== undefined);
  if (given.length === 0) {
    return { kind: 'embedded', dataDir: e.EMBEDDED_POSTGRES_DIR, port: e.EMBEDDED_POSTGRES_PORT, poolSize: e.DATABASE_POOL_SIZE };
  }
  if (given.length < 3) {
    for (const [name, value] of Object.entries(parts)) {
      if (value === undefined) problems.push(`${name}: required when any of DB_HOST, DB_USER, DB_NAME is set (got unset)`);
    }
    return undefined;
  }
  const url = new URL('postgres://localhost');
  url.hostname = e.DB_HOST ?? '';
  url.port = String(e.DB_PORT);
  url.username = e.DB_USER ?? '';
  url.password = e.DB_PASSWORD ?? '';
  url.pathname = `/${e.DB_NAME ?? ''}`;
  return { kind: 'external', connectionString: url.toString(), poolSize: e.DATABASE_POOL_SIZE };
}

/** Kubernetes and shells often pass `VAR=` for "not set"; treat an empty string as unset. */
function emptyAsUnset(env: Environment): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') result[name] = value;
  }
  return result;
}

function describeValue(name: string, value: string | undefined): string {
  if (value === undefined || value === '') return 'unset';
  if (/PASSWORD|URL|TOKEN|SECRET/.test(name)) return 'a value, not shown';
  return value.length > 40 ? `"${value.slice(0, 40)}…"` : `"${value}"`;
}
