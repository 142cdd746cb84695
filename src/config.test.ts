import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('defaults to port 10301 and an embedded PostgreSQL under ./.data', () => {
    expect(loadConfig({})).toMatchObject({
      http: { host: '0.0.0.0', port: 10301, bodyLimitBytes: 1048576 },
      database: { kind: 'embedded', dataDir: './.data/postgres', port: 54329, poolSize: 10 },
      log: { level: 'info', personalData: false },
      customers: { numberPrefix: 'ACME' },
    });
  });

  it('uses DATABASE_URL when given', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/customers' }).database).toEqual({
      kind: 'external',
      connectionString: 'postgres://u:p@db:5432/customers',
      poolSize: 10,
    });
  });

  it('builds the connection from the DB_* set of the knapscen-config Secret, escaping the password', () => {
    const config = loadConfig({ DB_HOST: 'mysql.default', DB_PORT: '5433', DB_USER: 'app', DB_PASSWORD: 'p@ss/word', DB_NAME: 'knapscen' });
    expect(config.database).toEqual({ kind: 'external', connectionString: 'postgres://app:p%40ss%2Fword@mysql.default:5433/knapscen', poolSize: 10 });
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' })).toMatchObject({ http: { port: 10301 }, database: { kind: 'embedded' } });
  });

  it('names every bad variable in one error, without echoing secrets', () => {
    const problems = problemsOf({
      PORT: '70000',
      LOG_LEVEL: 'verbose',
      DATABASE_URL: 'mysql://root:secret@db/x',
      CUSTOMER_NUMBER_PREFIX: 'acme',
      LOG_PERSONAL_DATA: 'maybe',
    });
    expect(problems.map((problem) => problem.split(':')[0])).toEqual([
      'PORT',
      'LOG_LEVEL',
      'LOG_PERSONAL_DATA',
      'DATABASE_URL',
      'CUSTOMER_NUMBER_PREFIX',
    ]);
    expect(problems.join('\n')).not.toContain('secret');
  });

  it('requires the whole DB_* set once part of it is given', () => {
    expect(problemsOf({ DB_HOST: 'db' })).toEqual([
      'DB_USER: required when any of DB_HOST, DB_USER, DB_NAME is set (got unset)',
      'DB_NAME: required when any of DB_HOST, DB_USER, DB_NAME is set (got unset)',
    ]);
  });

  describe('tracing (OTEL_*)', () => {
    it('is off unless an exporter is asked for', () => {
      expect(loadConfig({}).tracing.exporter).toBe('none');
    });

    it('exports over OTLP/HTTP to <endpoint>/v1/traces when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
      const { tracing } = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', OTEL_EXPORTER_OTLP_HEADERS: 'x-token=a%20b,tenant=t1' });
      expect(tracing).toMatchObject({
        exporter: 'otlp',
        otlpTracesUrl: 'http://collector:4318/v1/traces',
        otlpHeaders: { 'x-token': 'a b', tenant: 't1' },
        serviceName: 'customer-service',
        sampler: 'parentbased_always_on',
      });
    });

    it('uses the per-signal endpoint as given, and honours OTEL_SDK_DISABLED', () => {
      expect(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c/x' }).tracing.otlpTracesUrl).toBe('https://c/x');
      expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }).tracing.exporter).toBe('none');
      expect(loadConfig({ OTEL_TRACES_EXPORTER: 'console' }).tracing.exporter).toBe('console');
      expect(loadConfig({}).tracing).toMatchObject({ otlpProtocol: 'http/protobuf', propagators: ['tracecontext', 'baggage'] });
      expect(loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_TRACES_EXPORTER: 'otlp' }).tracing).toMatchObject({ otlpProtocol: 'grpc', otlpTracesUrl: 'http://localhost:4317' });
      expect(loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }).tracing).toMatchObject({ otlpProtocol: 'http/json', otlpTracesUrl: 'http://c:4318/v1/traces' });
      expect(loadConfig({ OTEL_PROPAGATORS: ' b3multi, jaeger ' }).tracing.propagators).toEqual(['b3multi', 'jaeger']);
    });

    it('names every bad OTEL_* variable', () => {
      const problems = problemsOf({
        OTEL_TRACES_EXPORTER: 'jaeger',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317',
        OTEL_EXPORTER_OTLP_HEADERS: 'novalue',
        OTEL_RESOURCE_ATTRIBUTES: 'a=%zz',
        OTEL_TRACES_SAMPLER: 'sometimes',
        OTEL_TRACES_SAMPLER_ARG: '1.5',
        OTEL_SDK_DISABLED: 'perhaps',
      });
      expect(problems.map((problem) => problem.split(':')[0]).sort()).toEqual(
        [
          'OTEL_SDK_DISABLED',
          'OTEL_TRACES_EXPORTER',
          'OTEL_EXPORTER_OTLP_ENDPOINT',
          'OTEL_EXPORTER_OTLP_HEADERS',
          'OTEL_RESOURCE_ATTRIBUTES',
          'OTEL_TRACES_SAMPLER',
          'OTEL_TRACES_SAMPLER_ARG',
        ].sort(),
      );
      // Headers carry credentials: their value is never echoed.
      expect(problems.join('\n')).not.toContain('novalue');
    });
  });
});

describe('Kafka configuration', () => {
  it('is off without KAFKA_BROKERS and uses the seed names and the 1, 2, 4, 8, 16 s schedule by default', () => {
    expect(loadConfig({}).kafka).toEqual({
      brokers: [],
      clientId: 'customer-service',
      groupId: 'customer-service',
      inputTopic: 'identity.user.events',
      outputTopic: 'customer.events',
      valueFormat: 'json',
      maxMessageBytes: 1048576,
      batchSize: 500,
      partitionsConsumedConcurrently: 128,
      fetchMaxBytes: 10485760,
      sessionTimeoutMs: 30000,
      idempotentProducer: true,
      retryBackoffMs: [1000, 2000, 4000, 8000, 16000],
    });
    expect(loadConfig({ KAFKA_IDEMPOTENT_PRODUCER: 'false' }).kafka.idempotentProducer).toBe(false);
    expect(loadConfig({ KAFKA_FETCH_MAX_BYTES: '524288' }).kafka.fetchMaxBytes).toBe(524288);
  });

  it('reads brokers, SASL, TLS and the retry schedule', () => {
    const kafka = loadConfig({
      KAFKA_BROKERS: 'kafka-0:9092,kafka-1.internal:9093',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD: 'secret',
      KAFKA_TLS: 'true',
      RETRY_BACKOFF_MS: '100,200',
    }).kafka;
    expect(kafka).toMatchObject({
      brokers: ['kafka-0:9092', 'kafka-1.internal:9093'],
      sasl: { mechanism: 'scram-sha-512', username: 'svc', password: 'secret' },
      tls: { rejectUnauthorized: true },
      retryBackoffMs: [100, 200],
    });
  });

  it('names every bad Kafka variable, and SASL credentials missing for a mechanism', () => {
    const problems = problemsOf({
      KAFKA_BROKERS: 'localhost',
      KAFKA_INPUT_TOPIC: 'no spaces allowed',
      RETRY_BACKOFF_MS: '1s,2s',
      KAFKA_SESSION_TIMEOUT_MS: '1000',
      KAFKA_FETCH_MAX_BYTES: '1000',
    });
    expect(problems.map((problem) => problem.split(':')[0])).toEqual([
      'KAFKA_BROKERS',
      'KAFKA_INPUT_TOPIC',
      'KAFKA_FETCH_MAX_BYTES',
      'KAFKA_SESSION_TIMEOUT_MS',
      'RETRY_BACKOFF_MS',
    ]);
    expect(problemsOf({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'x' }).map((problem) => problem.split(':')[0])).toEqual(['KAFKA_SASL_USERNAME']);
  });
  it('reads the Schema Registry, taking credentials out of its URL, and needs one to produce Avro', () => {
    expect(loadConfig({ SCHEMA_REGISTRY_URL: 'https://key:s%40cret@registry.example.com:8081/', KAFKA_VALUE_FORMAT: 'avro' }).kafka).toMatchObject({
      valueFormat: 'avro',
      schemaRegistry: { url: 'https://registry.example.com:8081', username: 'key', password: 's@cret', timeoutMs: 5000, autoRegister: true },
    });
    expect(
      loadConfig({ SCHEMA_REGISTRY_URL: 'http://registry:8080/apis/ccompat/v7', SCHEMA_REGISTRY_USERNAME: 'u', SCHEMA_REGISTRY_PASSWORD: 'p', SCHEMA_REGISTRY_AUTO_REGISTER: 'false' }).kafka
        .schemaRegistry,
    ).toEqual({ url: 'http://registry:8080/apis/ccompat/v7', username: 'u', password: 'p', timeoutMs: 5000, autoRegister: false });
    expect(problemsOf({ KAFKA_VALUE_FORMAT: 'avro' }).map((problem) => problem.split(':')[0])).toEqual(['SCHEMA_REGISTRY_URL']);
    expect(problemsOf({ KAFKA_VALUE_FORMAT: 'protobuf', SCHEMA_REGISTRY_URL: 'ftp://x' }).map((problem) => problem.split(':')[0])).toEqual([
      'KAFKA_VALUE_FORMAT',
      'SCHEMA_REGISTRY_URL',
    ]);
  });

  describe('read model', () => {
    it('serves from PostgreSQL unless MONGODB_URL is set, with projector defaults', () => {
      expect(loadConfig({}).readModel).toEqual({ batchSize: 500, pollIntervalMs: 250, inTransaction: false });
    });

    it('writes the documents in the use cases’ transactions only when READ_MODEL_IN_TRANSACTION is true', () => {
      expect(loadConfig({ READ_MODEL_IN_TRANSACTION: 'true' }).readModel.inTransaction).toBe(true);
      expect(loadConfig({ READ_MODEL_IN_TRANSACTION: 'false' }).readModel.inTransaction).toBe(false);
      expect(problemsOf({ READ_MODEL_IN_TRANSACTION: 'sometimes' }).join('\n')).toContain('READ_MODEL_IN_TRANSACTION');
    });

    it('uses MongoDB when MONGODB_URL is set, replica-set URLs included', () => {
      const url = 'mongodb://app:pw@mongo-0:27017,mongo-1:27017/?replicaSet=rs0';
      expect(loadConfig({ MONGODB_URL: url, MONGODB_DATABASE: 'customers', PROJECTOR_BATCH_SIZE: '100' }).readModel).toEqual({
        mongodb: { url, database: 'customers' },
        batchSize: 100,
        pollIntervalMs: 250,
        inTransaction: false,
      });
    });

    it('names a bad MongoDB URL, database name or projector setting, without echoing the URL', () => {
      const problems = problemsOf({
        MONGODB_URL: 'postgres://secret@db',
        MONGODB_DATABASE: 'a/b',
        PROJECTOR_BATCH_SIZE: '0',
        PROJECTOR_POLL_INTERVAL_MS: 'soon',
      });
      expect(problems.map((problem) => problem.split(':')[0])).toEqual([
        'MONGODB_URL',
        'MONGODB_DATABASE',
        'PROJECTOR_BATCH_SIZE',
        'PROJECTOR_POLL_INTERVAL_MS',
      ]);
      expect(problems.join('\n')).not.toContain('secret');
    });
  });
});

describe('NATS configuration (corporate flow)', () => {
  it('is off without NATS_URL or NATS_SERVER', () => {
    expect(loadConfig({}).nats).toBeUndefined();
  });

  it('reads the knapscen-config Secret names, with the defaults of SPEC §4', () => {
    expect(loadConfig({ NATS_SERVER: 'nats://nats.nats:4222', NATS_USER: 'admin', NATS_PASSWORD: 'secret' }).nats).toEqual({
      servers: ['nats://nats.nats:4222'],
      user: 'admin',
      password: 'secret',
      stream: 'customer-onboarding',
      ensureStream: true,
      subjects: { customerRegistered: 'customer-registered', customerSaved: 'customer-saved', userSaved: 'user-saved' },
      consumer: 'customer-service',
      retryDelaysMs: [1000, 2000, 4000, 8000, 16000],
      maxDeliver: 20,
    });
  });

  it('prefers NATS_URL, splits server lists and turns TLS on for tls:// URLs or certificate files', () => {
    const nats = loadConfig({ NATS_URL: 'tls://a:4222, tls://b:4222', NATS_SERVER: 'nats://ignored:4222', NATS_TLS_CA_FILE: '/ca.pem', NATS_TOKEN: 't0k' }).nats;
    expect(nats).toMatchObject({ servers: ['tls://a:4222', 'tls://b:4222'], token: 't0k', tls: { caFile: '/ca.pem' } });
    expect(loadConfig({ NATS_URL: 'nats://a:4222', NATS_TLS: 'true' }).nats?.tls).toEqual({});
    expect(loadConfig({ NATS_URL: 'nats://a:4222' }).nats?.tls).toBeUndefined();
  });

  it('takes credentials from the userinfo of NATS_URL, as the NATS tools do, and keeps them out of the server list', () => {
    expect(loadConfig({ NATS_URL: 'nats://bob:s%40cret@a:4222,nats://b:4222' }).nats).toMatchObject({
      servers: ['nats://a:4222', 'nats://b:4222'],
      user: 'bob',
      password: 's@cret',
    });
    expect(loadConfig({ NATS_URL: 'nats://t0ken@a:4222' }).nats).toMatchObject({ servers: ['nats://a:4222'], token: 't0ken' });
    expect(loadConfig({ NATS_URL: 'nats://bob:url@a:4222', NATS_USER: 'admin', NATS_PASSWORD: 'env' }).nats).toMatchObject({
      servers: ['nats://a:4222'],
      user: 'admin',
      password: 'env',
    });
  });

  it('refuses a max_deliver that JetStream would refuse, a user without a password, and a bad retry list', () => {
    expect(problemsOf({ NATS_URL: 'nats://a:4222', NATS_MAX_DELIVER: '5', NATS_USER: 'admin', NATS_RETRY_DELAYS_MS: '1000,2000,4000,8000,16000' })).toEqual([
      'NATS_PASSWORD: required when NATS_USER is set (got unset)',
      'NATS_MAX_DELIVER: must be greater than the number of NATS_RETRY_DELAYS_MS (5) (got "5")',
    ]);
    expect(problemsOf({ NATS_URL: 'nats://a:4222', NATS_RETRY_DELAYS_MS: '1s,2s' })[0]).toMatch(/^NATS_RETRY_DELAYS_MS: expected comma-separated milliseconds/);
  });
});

describe('secrets from files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'customer-service-secrets-'));
  const secret = (name: string, content: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, content);
    return file;
  };

  it('reads every secret variable from <NAME>_FILE, dropping one trailing newline', () => {
    const config = loadConfig({
      DB_HOST: 'db',
      DB_USER: 'app',
      DB_NAME: 'customers',
      DB_PASSWORD_FILE: secret('db-password', 'p@ss word\n'),
      NATS_URL: 'nats://nats:4222',
      NATS_USER: 'svc',
      NATS_PASSWORD_FILE: secret('nats-password', 'nats-secret\n'),
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD_FILE: secret('kafka-password', 'kafka-secret'),
      MONGODB_URL_FILE: secret('mongodb-url', 'mongodb://u:mongo-secret@mongo:27017/x\r\n'),
      OTEL_EXPORTER_OTLP_HEADERS_FILE: secret('otlp-headers', 'authorization=Bearer%20abc'),
    });
    expect(config.database).toMatchObject({ connectionString: 'postgres://app:p%40ss%20word@db:5432/customers' });
    expect(config.nats?.password).toBe('nats-secret');
    expect(config.kafka.sasl?.password).toBe('kafka-secret');
    expect(config.readModel.mongodb?.url).toBe('mongodb://u:mongo-secret@mongo:27017/x');
    expect(config.tracing.otlpHeaders).toEqual({ authorization: 'Bearer abc' });
    expect(loadConfig({ DATABASE_URL_FILE: secret('database-url', 'postgres://u:p@db/c\n') }).database).toMatchObject({ connectionString: 'postgres://u:p@db/c' });
    expect(loadConfig({ NATS_URL: 'nats://n:4222', NATS_TOKEN_FILE: secret('nats-token', 'tok\n') }).nats?.token).toBe('tok');
  });

  it('names an unreadable file, and a secret given both ways, without showing the value', () => {
    const problems = problemsOf({ DB_PASSWORD_FILE: path.join(dir, 'absent'), NATS_PASSWORD: 'inline-secret', NATS_PASSWORD_FILE: secret('n', 'x') });
    expect(problems).toEqual([
      expect.stringMatching(/^DB_PASSWORD_FILE: cannot read the file \(ENOENT\)/),
      expect.stringMatching(/^NATS_PASSWORD_FILE: NATS_PASSWORD is set too/),
    ]);
    expect(problems.join('\n')).not.toContain('inline-secret');
  });
});

describe('TLS to the databases', () => {
  it('maps DB_SSLMODE and DB_SSL_CA_FILE onto the external database; a CA file alone means verify-full', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db/c', DB_SSL_CA_FILE: '/ca.pem' }).database).toMatchObject({ tls: { mode: 'verify-full', caFile: '/ca.pem' } });
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db/c', DB_SSLMODE: 'verify-ca' }).database).toMatchObject({ tls: { mode: 'verify-ca' } });
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db/c', DB_SSLMODE: 'disable' }).database).not.toHaveProperty('tls');
    expect(problemsOf({ DB_SSLMODE: 'verify-full' })[0]).toMatch(/^DB_SSLMODE: TLS settings need an external database/);
    expect(problemsOf({ DATABASE_URL: 'postgres://u:p@db/c', DB_SSLMODE: 'prefer' })[0]).toMatch(/^DB_SSLMODE: expected disable, require, verify-ca or verify-full/);
  });

  it('passes MONGODB_TLS_CA_FILE to the read model', () => {
    expect(loadConfig({ MONGODB_URL: 'mongodb://m:27017', MONGODB_TLS_CA_FILE: '/ca.pem' }).readModel.mongodb).toMatchObject({ tlsCaFile: '/ca.pem' });
  });
});
