/**
 * The only reader of `process.env`. Every setting is parsed and validated once, at start; a bad or missing value
 * is reported together with every other bad value, and the CLI exits with code 2 (see `ConfigError`).
 *
 * Every variable here is listed, with its default, in docs/configuration.md (the README shows the main ones).
 */
import { readFileSync } from 'node:fs';
import type { SchemaRegistryConfig } from './platform/avro/schema-registry.js';
import type { AuthConfig } from './platform/auth/authenticator.js';
import { ConfigError } from './platform/config-error.js';
import type { RateLimitConfig } from './platform/http/security.js';
import type { KafkaConnection } from './platform/kafka/client.js';
import { LOG_LEVELS, type LogLevel } from './platform/logger.js';
import type { NatsConnectionOptions } from './platform/nats/connection.js';
import type { DatabaseTls } from './platform/postgres/database.js';
import type { DatabaseConfig } from './platform/postgres/open-database.js';
import { OTLP_PROTOCOLS, TRACE_PROPAGATORS, TRACE_SAMPLERS, type TracingConfig } from './platform/telemetry/options.js';
import { z } from 'zod';

export type Environment = Readonly<Record<string, string | undefined>>;

// Each platform module owns its option types; this file maps the environment into them.
export { ConfigError };
export type { AuthConfig, DatabaseConfig, DatabaseTls, LogLevel, RateLimitConfig, TracingConfig };
export type { OtlpProtocol, TracePropagator, TraceSampler } from './platform/telemetry/options.js';


const port = z.coerce.number().int().min(1).max(65535);
const positiveInt = z.coerce.number().int().positive();
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' })
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const otlpProtocol = z.enum(OTLP_PROTOCOLS, { error: `expected one of ${OTLP_PROTOCOLS.join(', ')}` });

/** The `key1=value1,key2=value2` lists of the OpenTelemetry environment specification (values URL-encoded). */

const keyValueList = z.string().transform((text, ctx) => {
  const result: Record<string, string> = {};
  for (const item of text.split(',')) {
    if (item.trim() === '') continue;
    const separator = item.indexOf('=');
    const key = separator > 0 ? item.slice(0, separator).trim() : '';
    let value: string | undefined;
    try {
      value = separator > 0 ? decodeURIComponent(item.slice(separator + 1).trim()) : undefined;
    } catch {
      value = undefined;
    }
    if (key === '' || value === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected key=value pairs separated by commas' });
      return z.NEVER;
    }
    result[key] = value;
  }
  return result;
});

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
  // A hung or locked database must not hang callers (issue #11): statements and lock waits end with a transient error.
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.default(60_000),
  DATABASE_LOCK_TIMEOUT_MS: positiveInt.default(30_000),
  EMBEDDED_POSTGRES_DIR: z.string().min(1).default('./.data/postgres'),
  EMBEDDED_POSTGRES_PORT: port.default(54329),

  CUSTOMER_NUMBER_PREFIX: z
    .string()
    .regex(/^[A-Z][A-Z0-9]{0,15}$/, 'expected 1-16 upper-case letters or digits, starting with a letter')
    .default('ACME'),
  HTTP_BODY_LIMIT_BYTES: positiveInt.max(64 * 1024 * 1024).default(1024 * 1024),
  HTTP_REQUEST_TIMEOUT_MS: positiveInt.default(10_000),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  // Set by the image build (Dockerfile ARG REVISION): the source revision `build_info` reports.
  BUILD_REVISION: z.string().min(1).max(100).default('unknown'),
  // Load shedding: over any limit, API requests get 503 + Retry-After (health and metrics stay answered); 0 turns a limit
  // off. Off by default: on a shared or overloaded machine (a laptop, a CI runner) start-up alone delays the event loop
  // past any useful limit; the Kubernetes ConfigMap turns it on.
  SHED_MAX_EVENT_LOOP_DELAY_MS: z.coerce.number().int().min(0).default(0),
  SHED_MAX_HEAP_USED_BYTES: z.coerce.number().int().min(0).default(0),
  SHED_MAX_RSS_BYTES: z.coerce.number().int().min(0).default(0),
  SHED_RETRY_AFTER_SECONDS: positiveInt.max(3_600).default(5),

  // Kafka (individual flow). No brokers: the consumer and the customer.events relay are off.
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$/, 'expected host:port[,host:port…]')
    .transform((value) => value.split(','))
    .optional(),
  KAFKA_CLIENT_ID: z.string().min(1).default('customer-service'),
  KAFKA_GROUP_ID: z.string().min(1).default('customer-service'),
  KAFKA_INPUT_TOPIC: z.string().regex(TOPIC, 'expected a Kafka topic name').default('identity.user.events'),
  KAFKA_OUTPUT_TOPIC: z.string().regex(TOPIC, 'expected a Kafka topic name').default('customer.events'),
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  KAFKA_TLS: bool.default(false),
  KAFKA_TLS_CA_FILE: z.string().min(1).optional(),
  KAFKA_TLS_REJECT_UNAUTHORIZED: bool.default(true),
  // Avro with a Schema Registry (Confluent REST API). Consumed Avro is recognised per message whenever a registry is set.
  KAFKA_VALUE_FORMAT: z.enum(['json', 'avro'], { error: 'expected json or avro' }).default('json'),
  SCHEMA_REGISTRY_URL: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
  SCHEMA_REGISTRY_USERNAME: z.string().min(1).optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().optional(),
  SCHEMA_REGISTRY_AUTO_REGISTER: bool.default(true),
  SCHEMA_REGISTRY_TIMEOUT_MS: positiveInt.max(120_000).default(5_000),
  KAFKA_MAX_MESSAGE_BYTES: positiveInt.max(64 * 1024 * 1024).default(1024 * 1024),
  KAFKA_BATCH_SIZE: positiveInt.max(10_000).default(500),
  KAFKA_PARTITIONS_CONCURRENTLY: positiveInt.max(1024).default(128),
  KAFKA_FETCH_MAX_BYTES: positiveInt.min(64 * 1024).max(64 * 1024 * 1024).default(10 * 1024 * 1024),
  KAFKA_SESSION_TIMEOUT_MS: positiveInt.min(6_000).default(30_000),
  KAFKA_IDEMPOTENT_PRODUCER: bool.default(true),
  RETRY_BACKOFF_MS: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'expected comma-separated milliseconds, e.g. 1000,2000,4000,8000,16000')
    .transform((value) => value.split(',').map(Number))
    .default([1000, 2000, 4000, 8000, 16000]),
  // Observability (issue 6): the standard OpenTelemetry variables this service honours. Tracing is on only when an
  // exporter is asked for (an OTLP endpoint, or OTEL_TRACES_EXPORTER=otlp|console) and OTEL_SDK_DISABLED is not true.
  OTEL_SDK_DISABLED: bool.default(false),
  OTEL_SERVICE_NAME: z.string().min(1).max(255).default('customer-service'),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'console', 'none'], { error: 'expected otlp, console or none' }).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
  OTEL_EXPORTER_OTLP_HEADERS: keyValueList.optional(),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: keyValueList.optional(),
  OTEL_RESOURCE_ATTRIBUTES: keyValueList.optional(),
  OTEL_TRACES_SAMPLER: z.enum(TRACE_SAMPLERS, { error: `expected one of ${TRACE_SAMPLERS.join(', ')}` }).default('parentbased_always_on'),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol.default('http/protobuf'),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol.optional(),
  OTEL_PROPAGATORS: z
    .string()
    .transform((text) => text.split(',').map((name) => name.trim()).filter((name) => name !== ''))
    .pipe(z.array(z.enum(TRACE_PROPAGATORS, { error: `expected a comma-separated list of ${TRACE_PROPAGATORS.join(', ')}` })))
    .default(['tracecontext', 'baggage']),
  // Read model (projector and query store).
  // A regex, not z.url(): a replica-set URL lists several host:port pairs, which WHATWG URL parsing rejects.
  MONGODB_URL: z.string().regex(/^mongodb(\+srv)?:\/\/\S+$/, 'expected a mongodb:// or mongodb+srv:// URL').optional(),
  MONGODB_DATABASE: z.string().regex(/^[^/\\. "$]{1,63}$/, 'expected a MongoDB database name').default('customer-service'),
  PROJECTOR_BATCH_SIZE: positiveInt.max(10_000).default(500),
  PROJECTOR_POLL_INTERVAL_MS: positiveInt.max(60_000).default(250),
  READ_MODEL_IN_TRANSACTION: bool.default(false),
  // knapscen's MySQL (disco_services): mirrored from our companies and users when set.
  KNAPSCEN_MYSQL_URL: z.url({ protocol: /^(mysql|mariadb)$/, error: 'expected a mysql:// URL' }).optional(),
  // NATS JetStream (corporate flow). NATS_SERVER is the knapscen-config Secret's name for NATS_URL.
  NATS_URL: z.string().min(1).optional(),
  NATS_SERVER: z.string().min(1).optional(),
  NATS_USER: z.string().min(1).optional(),
  NATS_PASSWORD: z.string().optional(),
  NATS_TOKEN: z.string().min(1).optional(),
  NATS_TLS: bool.default(false),
  NATS_TLS_CA_FILE: z.string().min(1).optional(),
  NATS_TLS_CERT_FILE: z.string().min(1).optional(),
  NATS_TLS_KEY_FILE: z.string().min(1).optional(),
  NATS_STREAM: z.string().regex(/^[^\s.*>]+$/, 'expected a stream name (no spaces, dots or wildcards)').default('customer-onboarding'),
  NATS_ENSURE_STREAM: bool.default(true),
  NATS_SUBJECT: z.string().min(1).default('customer-saved'),
  NATS_USER_SAVED_SUBJECT: z.string().min(1).default('user-saved'),
  NATS_CUSTOMER_REGISTERED_SUBJECT: z.string().min(1).default('customer-registered'),
  NATS_CONSUMER: z.string().regex(/^[^\s.*>]+$/, 'expected a consumer name (no spaces, dots or wildcards)').default('customer-service'),
  NATS_RETRY_DELAYS_MS: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'expected comma-separated milliseconds, e.g. 1000,2000,4000')
    .transform((value) => value.split(',').map(Number))
    .default([1000, 2000, 4000, 8000, 16000]),
  NATS_MAX_DELIVER: positiveInt.default(20),
  // Security (issue 16): authentication of the HTTP API, rate limits, TLS to the databases. docs/security.md.
  AUTH_MODE: z.enum(['none'], { error: 'expected none (or leave it unset)' }).optional(),
  AUTH_JWKS_URL: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
  AUTH_ISSUER: z.string().min(1).optional(),
  AUTH_AUDIENCE: z.string().min(1).optional(),
  AUTH_CLOCK_SKEW_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
  AUTH_JWKS_COOLDOWN_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  AUTH_API_KEYS_FILE: z.string().min(1).optional(),
  RATE_LIMIT_WINDOW_MS: positiveInt.max(3_600_000).default(60_000),
  RATE_LIMIT_LOOKUPS: z.coerce.number().int().min(0).default(1200),
  RATE_LIMIT_EVENTS: z.coerce.number().int().min(0).default(60_000),
  DB_SSLMODE: z.enum(['disable', 'require', 'verify-ca', 'verify-full'], { error: 'expected disable, require, verify-ca or verify-full' }).optional(),
  DB_SSL_CA_FILE: z.string().min(1).optional(),
  MONGODB_TLS_CA_FILE: z.string().min(1).optional(),
  NATS_PUBLISH_EMAILS: bool.default(true),
  PUBLISH_HTTP_TOKEN: z.string().min(1).optional(),
});


/** Kafka settings; `brokers` empty means the Kafka consumer and relay are off. */
export interface KafkaConfig extends KafkaConnection {
  readonly groupId: string;
  readonly inputTopic: string;
  readonly outputTopic: string;
  /** What the customer.events relay produces: JSON (default) or Confluent-framed Avro (needs `schemaRegistry`). */
  readonly valueFormat: 'json' | 'avro';
  /** Schema Registry for Avro: decoding consumed messages, registering (or only checking) this service's schemas. */
  readonly schemaRegistry?: SchemaRegistryConfig & { readonly autoRegister: boolean };
  /** Larger input messages are dead-lettered with PAYLOAD_TOO_LARGE. */
  readonly maxMessageBytes: number;
  /** Most messages registered in one transaction. */
  readonly batchSize: number;
  readonly partitionsConsumedConcurrently: number;
  /** Most bytes one fetch brings (a larger single record batch still comes, alone). */
  readonly fetchMaxBytes: number;
  readonly sessionTimeoutMs: number;
  /** The customer.events relay uses Kafka's idempotent producer (no duplicates from client retries). */
  readonly idempotentProducer: boolean;
  /** Waits before each retry of a transient failure; after the last one the message is parked (SPEC §2.4). */
  readonly retryBackoffMs: readonly number[];
}

/** Limits over which API requests are shed (503 + Retry-After); 0 turns a limit off. */
export interface LoadSheddingConfig {
  readonly maxEventLoopDelayMs: number;
  readonly maxHeapUsedBytes: number;
  readonly maxRssBytes: number;
  readonly retryAfterSeconds: number;
}

export interface Config {
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly bodyLimitBytes: number;
    readonly requestTimeoutMs: number;
    readonly loadShedding: LoadSheddingConfig;
  };
  readonly log: { readonly level: LogLevel; readonly personalData: boolean };
  readonly database: DatabaseConfig;
  /** Server-side bounds of every pooled connection (statement_timeout, lock_timeout). */
  readonly databaseTimeouts: { readonly statementMs: number; readonly lockMs: number };
  readonly customers: { readonly numberPrefix: string };
  readonly shutdownTimeoutMs: number;
  /** The source revision of this build (`build_info`). */
  readonly buildRevision: string;
  readonly kafka: KafkaConfig;
  readonly tracing: TracingConfig;
  /** The query side: MongoDB when a URL is given, else the PostgreSQL read model; projector tuning. */
  readonly readModel: {
    /** `tlsCaFile`: TLS with this CA, host name checked (the driver's default verification). */
    readonly mongodb?: { readonly url: string; readonly database: string; readonly tlsCaFile?: string };
    readonly batchSize: number;
    readonly pollIntervalMs: number;
    /**
     * PostgreSQL read model only: registration and activation write the documents in their own transactions (visible
     * on commit) and the projector passes those events by (READ_MODEL_IN_TRANSACTION).
     */
    readonly inTransaction: boolean;
  };
  /** Absent when neither NATS_URL nor NATS_SERVER is set: the JetStream consumer and relays are off. */
  readonly nats?: NatsConfig;
  /** Set by KNAPSCEN_MYSQL_URL: the projection into knapscen's MySQL tables is on (and its column limits apply). */
  readonly knapscenMirror?: { readonly mysqlUrl: string };
  readonly auth: AuthConfig;
  readonly rateLimits: RateLimitConfig;
  /** Corporate flow: whether `customer-saved`/`user-saved` carry e-mail addresses (NATS_PUBLISH_EMAILS). */
  readonly corporate: { readonly publishEmails: boolean };
  /** `publish … --to http`: the bearer credential (API key or token) sent to a service that requires one. */
  readonly publish: { readonly httpToken?: string };
}

/** NATS JetStream settings of the corporate flow. */
export interface NatsConfig extends NatsConnectionOptions {
  /** The stream created (or extended) when no stream captures a subject yet. */
  readonly stream: string;
  readonly ensureStream: boolean;
  readonly subjects: { readonly customerRegistered: string; readonly customerSaved: string; readonly userSaved: string };
  /** Durable pull consumer name on the customer-registered subject. */
  readonly consumer: string;
  /** Redelivery delays after transient failures; their count is the number of retries. */
  readonly retryDelaysMs: readonly number[];
  /** JetStream max_deliver of the consumer; must exceed the number of retry delays. */
  readonly maxDeliver: number;
}

/** Reads and validates the whole configuration; throws `ConfigError` naming every bad variable. */
export function loadConfig(env: Environment = process.env): Config {
  const problems: string[] = [];
  const resolved = withSecretFiles(emptyAsUnset(env), problems);
  const parsed = environmentSchema.safeParse(resolved);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '?');
      problems.push(`${name}: ${issue.message} (got ${describeValue(name, resolved[name])})`);
    }
  }
  if (!parsed.success) {
    // Still report an incomplete DB_* set, so one run names every offending variable.
    const raw = resolved;
    databaseConfig({ DATABASE_URL: raw.DATABASE_URL, DB_HOST: raw.DB_HOST, DB_USER: raw.DB_USER, DB_NAME: raw.DB_NAME } as z.infer<typeof environmentSchema>, problems);
    throw new ConfigError(problems);
  }
  const database = databaseConfig(parsed.data, problems);
  const kafka = kafkaConfig(parsed.data, problems);
  const nats = natsConfig(parsed.data, problems);
  const auth = authConfig(parsed.data, problems);
  if (database === undefined || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    http: {
      host: e.HOST,
      port: e.PORT,
      bodyLimitBytes: e.HTTP_BODY_LIMIT_BYTES,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      loadShedding: {
        maxEventLoopDelayMs: e.SHED_MAX_EVENT_LOOP_DELAY_MS,
        maxHeapUsedBytes: e.SHED_MAX_HEAP_USED_BYTES,
        maxRssBytes: e.SHED_MAX_RSS_BYTES,
        retryAfterSeconds: e.SHED_RETRY_AFTER_SECONDS,
      },
    },
    log: { level: e.LOG_LEVEL, personalData: e.LOG_PERSONAL_DATA },
    database,
    databaseTimeouts: { statementMs: e.DATABASE_STATEMENT_TIMEOUT_MS, lockMs: e.DATABASE_LOCK_TIMEOUT_MS },
    customers: { numberPrefix: e.CUSTOMER_NUMBER_PREFIX },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    buildRevision: e.BUILD_REVISION,
    kafka,
    tracing: tracingConfig(e),
    readModel: {
      ...(e.MONGODB_URL === undefined
        ? {}
        : { mongodb: { url: e.MONGODB_URL, database: e.MONGODB_DATABASE, ...(e.MONGODB_TLS_CA_FILE === undefined ? {} : { tlsCaFile: e.MONGODB_TLS_CA_FILE }) } }),
      batchSize: e.PROJECTOR_BATCH_SIZE,
      pollIntervalMs: e.PROJECTOR_POLL_INTERVAL_MS,
      inTransaction: e.READ_MODEL_IN_TRANSACTION,
    },
    ...(nats === undefined ? {} : { nats }),
    ...(e.KNAPSCEN_MYSQL_URL === undefined ? {} : { knapscenMirror: { mysqlUrl: e.KNAPSCEN_MYSQL_URL } }),
    auth,
    rateLimits: { windowMs: e.RATE_LIMIT_WINDOW_MS, lookups: e.RATE_LIMIT_LOOKUPS, events: e.RATE_LIMIT_EVENTS },
    corporate: { publishEmails: e.NATS_PUBLISH_EMAILS },
    publish: e.PUBLISH_HTTP_TOKEN === undefined ? {} : { httpToken: e.PUBLISH_HTTP_TOKEN },
  };
}

function authConfig(e: z.infer<typeof environmentSchema>, problems: string[]): AuthConfig {
  const jwtParts = { AUTH_JWKS_URL: e.AUTH_JWKS_URL, AUTH_ISSUER: e.AUTH_ISSUER, AUTH_AUDIENCE: e.AUTH_AUDIENCE };
  const given = Object.values(jwtParts).filter((value) => value !== undefined).length;
  if (given > 0 && given < 3) {
    for (const [name, value] of Object.entries(jwtParts)) {
      if (value === undefined) problems.push(`${name}: required when any of AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE is set (got unset)`);
    }
  }
  const disabled = e.AUTH_MODE === 'none';
  if (disabled && (given > 0 || e.AUTH_API_KEYS_FILE !== undefined)) {
    problems.push('AUTH_MODE: "none" turns authentication off, but AUTH_JWKS_URL or AUTH_API_KEYS_FILE configures it: choose one (got "none")');
  }
  return {
    disabled,
    ...(given === 3
      ? {
          jwt: {
            jwksUrl: e.AUTH_JWKS_URL ?? '',
            issuer: e.AUTH_ISSUER ?? '',
            audience: e.AUTH_AUDIENCE ?? '',
            clockSkewSeconds: e.AUTH_CLOCK_SKEW_SECONDS,
            jwksCooldownMs: e.AUTH_JWKS_COOLDOWN_MS,
          },
        }
      : {}),
    ...(e.AUTH_API_KEYS_FILE === undefined ? {} : { apiKeysFile: e.AUTH_API_KEYS_FILE }),
  };
}

function tracingConfig(e: z.infer<typeof environmentSchema>): TracingConfig {
  const endpointGiven = e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined || e.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined;
  const requested = e.OTEL_TRACES_EXPORTER ?? (endpointGiven ? 'otlp' : 'none');
  const protocol = e.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? e.OTEL_EXPORTER_OTLP_PROTOCOL;
  // The specification's rule: over HTTP the generic endpoint gets the signal path appended, the per-signal one is used
  // as is; gRPC (default port 4317) takes either as is.
  const base = (e.OTEL_EXPORTER_OTLP_ENDPOINT ?? (protocol === 'grpc' ? 'http://localhost:4317' : 'http://localhost:4318')).replace(/\/+$/, '');
  return {
    exporter: e.OTEL_SDK_DISABLED ? 'none' : requested,
    serviceName: e.OTEL_SERVICE_NAME,
    otlpTracesUrl: e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (protocol === 'grpc' ? base : `${base}/v1/traces`),
    otlpProtocol: protocol,
    propagators: e.OTEL_PROPAGATORS,
    otlpHeaders: { ...e.OTEL_EXPORTER_OTLP_HEADERS, ...e.OTEL_EXPORTER_OTLP_TRACES_HEADERS },
    resourceAttributes: e.OTEL_RESOURCE_ATTRIBUTES ?? {},
    sampler: e.OTEL_TRACES_SAMPLER,
    samplerRatio: e.OTEL_TRACES_SAMPLER_ARG ?? 1,
  };
}

function kafkaConfig(e: z.infer<typeof environmentSchema>, problems: string[]): KafkaConfig {
  let sasl: KafkaConfig['sasl'];
  if (e.KAFKA_SASL_MECHANISM !== undefined) {
    if (e.KAFKA_SASL_USERNAME === undefined) problems.push('KAFKA_SASL_USERNAME: required when KAFKA_SASL_MECHANISM is set (got unset)');
    if (e.KAFKA_SASL_PASSWORD === undefined) problems.push('KAFKA_SASL_PASSWORD: required when KAFKA_SASL_MECHANISM is set (got unset)');
    sasl = { mechanism: e.KAFKA_SASL_MECHANISM, username: e.KAFKA_SASL_USERNAME ?? '', password: e.KAFKA_SASL_PASSWORD ?? '' };
  }
  const tls = e.KAFKA_TLS || e.KAFKA_TLS_CA_FILE !== undefined;
  return {
    brokers: e.KAFKA_BROKERS ?? [],
    clientId: e.KAFKA_CLIENT_ID,
    groupId: e.KAFKA_GROUP_ID,
    inputTopic: e.KAFKA_INPUT_TOPIC,
    outputTopic: e.KAFKA_OUTPUT_TOPIC,
    ...(sasl === undefined ? {} : { sasl }),
    ...(tls
      ? { tls: { rejectUnauthorized: e.KAFKA_TLS_REJECT_UNAUTHORIZED, ...(e.KAFKA_TLS_CA_FILE === undefined ? {} : { caFile: e.KAFKA_TLS_CA_FILE }) } }
      : {}),
    valueFormat: e.KAFKA_VALUE_FORMAT,
    ...schemaRegistryConfig(e, problems),
    maxMessageBytes: e.KAFKA_MAX_MESSAGE_BYTES,
    batchSize: e.KAFKA_BATCH_SIZE,
    partitionsConsumedConcurrently: e.KAFKA_PARTITIONS_CONCURRENTLY,
    fetchMaxBytes: e.KAFKA_FETCH_MAX_BYTES,
    sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
    idempotentProducer: e.KAFKA_IDEMPOTENT_PRODUCER,
    retryBackoffMs: e.RETRY_BACKOFF_MS,
  };
}

function schemaRegistryConfig(e: z.infer<typeof environmentSchema>, problems: string[]): Pick<KafkaConfig, 'schemaRegistry'> {
  if (e.SCHEMA_REGISTRY_URL === undefined) {
    if (e.KAFKA_VALUE_FORMAT === 'avro') problems.push('SCHEMA_REGISTRY_URL: required when KAFKA_VALUE_FORMAT is avro (got unset)');
    return {};
  }
  // Credentials may come in the URL (user:password@host); they are taken out so the URL can be logged.
  const url = new URL(e.SCHEMA_REGISTRY_URL);
  const username = e.SCHEMA_REGISTRY_USERNAME ?? (url.username === '' ? undefined : decodeURIComponent(url.username));
  const password = e.SCHEMA_REGISTRY_PASSWORD ?? (url.password === '' ? undefined : decodeURIComponent(url.password));
  url.username = '';
  url.password = '';
  return {
    schemaRegistry: {
      url: url.toString().replace(/\/+$/, ''),
      ...(username === undefined ? {} : { username, password: password ?? '' }),
      timeoutMs: e.SCHEMA_REGISTRY_TIMEOUT_MS,
      autoRegister: e.SCHEMA_REGISTRY_AUTO_REGISTER,
    },
  };
}

function natsConfig(e: z.infer<typeof environmentSchema>, problems: string[]): NatsConfig | undefined {
  const url = e.NATS_URL ?? e.NATS_SERVER;
  if (url === undefined) return undefined;
  if (e.NATS_USER !== undefined && e.NATS_PASSWORD === undefined) problems.push('NATS_PASSWORD: required when NATS_USER is set (got unset)');
  if (e.NATS_MAX_DELIVER <= e.NATS_RETRY_DELAYS_MS.length) {
    problems.push(
      `NATS_MAX_DELIVER: must be greater than the number of NATS_RETRY_DELAYS_MS (${e.NATS_RETRY_DELAYS_MS.length}) (got "${e.NATS_MAX_DELIVER}")`,
    );
  }
  const { servers, credentials } = withoutUserinfo(url.split(',').map((server) => server.trim()).filter((server) => server !== ''));
  const user = e.NATS_USER ?? credentials.user;
  const password = e.NATS_USER === undefined ? (e.NATS_PASSWORD ?? credentials.password) : e.NATS_PASSWORD;
  const token = e.NATS_TOKEN ?? credentials.token;
  const files = {
    ...(e.NATS_TLS_CA_FILE === undefined ? {} : { caFile: e.NATS_TLS_CA_FILE }),
    ...(e.NATS_TLS_CERT_FILE === undefined ? {} : { certFile: e.NATS_TLS_CERT_FILE }),
    ...(e.NATS_TLS_KEY_FILE === undefined ? {} : { keyFile: e.NATS_TLS_KEY_FILE }),
  };
  const tls = e.NATS_TLS || Object.keys(files).length > 0 || servers.some((server) => server.startsWith('tls://'));
  return {
    servers,
    ...(user === undefined ? {} : { user }),
    ...(password === undefined ? {} : { password }),
    ...(token === undefined ? {} : { token }),
    ...(tls ? { tls: files } : {}),
    stream: e.NATS_STREAM,
    ensureStream: e.NATS_ENSURE_STREAM,
    subjects: {
      customerRegistered: e.NATS_CUSTOMER_REGISTERED_SUBJECT,
      customerSaved: e.NATS_SUBJECT,
      userSaved: e.NATS_USER_SAVED_SUBJECT,
    },
    consumer: e.NATS_CONSUMER,
    retryDelaysMs: e.NATS_RETRY_DELAYS_MS,
    maxDeliver: e.NATS_MAX_DELIVER,
  };
}

/**
 * Credentials in a server URL's userinfo authenticate, as the NATS tools take them: `nats://user:password@host`
 * (percent-encoded) or `nats://token@host`. The servers are returned without userinfo, so whatever logs them cannot
 * leak it; NATS_USER / NATS_PASSWORD / NATS_TOKEN, when set, win over the URL.
 */
function withoutUserinfo(urls: readonly string[]): {
  servers: string[];
  credentials: { user?: string; password?: string; token?: string };
} {
  const credentials: { user?: string; password?: string; token?: string } = {};
  const servers = urls.map((url) => {
    const match = /^([a-z][a-z0-9+.-]*:\/\/)?([^@/]*)@(.*)$/i.exec(url);
    if (match === null) return url;
    const [, scheme = '', userinfo = '', rest = ''] = match;
    const decode = (text: string) => {
      try {
        return decodeURIComponent(text);
      } catch {
        return text;
      }
    };
    const separator = userinfo.indexOf(':');
    if (credentials.user === undefined && credentials.token === undefined && userinfo !== '') {
      if (separator < 0) credentials.token = decode(userinfo);
      else {
        credentials.user = decode(userinfo.slice(0, separator));
        credentials.password = decode(userinfo.slice(separator + 1));
      }
    }
    return `${scheme}${rest}`;
  });
  return { servers, credentials };
}

/**
 * The input of `register-corporate-customer` (SPEC §4 Job mode), as the Sveltos Job template passes it. Raw strings:
 * the job validates them with reason codes, as any other input.
 */
export interface CorporateJobInput {
  readonly COMPANY_NAME?: string;
  readonly SUBSCRIPTION_TIER?: string;
  readonly COMPANY_DATA?: string;
  readonly USERS_JSON?: string;
  readonly EVENT_ID?: string;
  readonly EVENT_TIME?: string;
  readonly EVENT_SOURCE?: string;
  readonly CUSTOMER_ID?: string;
}

export function corporateJobInput(env: Environment = process.env): CorporateJobInput {
  const raw = emptyAsUnset(env);
  const names = ['COMPANY_NAME', 'SUBSCRIPTION_TIER', 'COMPANY_DATA', 'USERS_JSON', 'EVENT_ID', 'EVENT_TIME', 'EVENT_SOURCE', 'CUSTOMER_ID'] as const;
  return Object.fromEntries(names.flatMap((name) => (raw[name] === undefined ? [] : [[name, raw[name]]])));
}

function databaseConfig(
  e: z.infer<typeof environmentSchema>,
  problems: string[],
): DatabaseConfig | undefined {
  const tls = databaseTls(e);
  if (e.DATABASE_URL !== undefined) {
    return { kind: 'external', connectionString: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE, ...tls };
  }
  // The DB_* set is what the existing knapscen-config Secret provides: all of host, user and name, or none.
  const parts = { DB_HOST: e.DB_HOST, DB_USER: e.DB_USER, DB_NAME: e.DB_NAME };
  const given = Object.entries(parts).filter(([, value]) => value !== undefined);
  if (given.length === 0) {
    if (e.DB_SSLMODE !== undefined || e.DB_SSL_CA_FILE !== undefined) {
      problems.push('DB_SSLMODE: TLS settings need an external database (DATABASE_URL or DB_HOST/DB_USER/DB_NAME) (got a value with none)');
    }
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
  return { kind: 'external', connectionString: url.toString(), poolSize: e.DATABASE_POOL_SIZE, ...tls };
}

/** DB_SSLMODE (a CA file alone means verify-full); `disable` or nothing leaves the connection string's own settings. */
function databaseTls(e: z.infer<typeof environmentSchema>): { tls?: DatabaseTls } {
  const mode = e.DB_SSLMODE ?? (e.DB_SSL_CA_FILE === undefined ? undefined : 'verify-full');
  if (mode === undefined || mode === 'disable') return {};
  return { tls: { mode, ...(e.DB_SSL_CA_FILE === undefined ? {} : { caFile: e.DB_SSL_CA_FILE }) } };
}

/**
 * The variables that hold secrets. Each can instead name a file holding the value (`DB_PASSWORD_FILE=/run/secrets/db`),
 * so a mounted Secret need not pass through the environment (visible in /proc, crash dumps, `kubectl describe`).
 */
export const SECRET_VARIABLES = [
  'DATABASE_URL',
  'DB_PASSWORD',
  'NATS_PASSWORD',
  'NATS_TOKEN',
  'KAFKA_SASL_PASSWORD',
  'MONGODB_URL',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
  'PUBLISH_HTTP_TOKEN',
] as const;

/** Replaces each `<SECRET>_FILE` by `<SECRET>` holding the file's content (one trailing newline dropped). */
function withSecretFiles(env: Record<string, string>, problems: string[]): Record<string, string> {
  const result = { ...env };
  for (const name of SECRET_VARIABLES) {
    const file = env[`${name}_FILE`];
    if (file === undefined) continue;
    delete result[`${name}_FILE`];
    if (env[name] !== undefined) {
      problems.push(`${name}_FILE: ${name} is set too; give the value or the file, not both (got "${file}")`);
      continue;
    }
    try {
      const value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      if (value !== '') result[name] = value;
    } catch (error) {
      problems.push(`${name}_FILE: cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'}) (got "${file}")`);
    }
  }
  return result;
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
  if (/PASSWORD|URL|TOKEN|SECRET|HEADERS/.test(name)) return 'a value, not shown';
  return value.length > 40 ? `"${value.slice(0, 40)}…"` : `"${value}"`;
}
