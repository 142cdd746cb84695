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

  it('refuses a max_deliver that JetStream would refuse, a user without a password, and a bad retry list', () => {
    expect(problemsOf({ NATS_URL: 'nats://a:4222', NATS_MAX_DELIVER: '5', NATS_USER: 'admin', NATS_RETRY_DELAYS_MS: '1000,2000,4000,8000,16000' })).toEqual([
      'NATS_PASSWORD: required when NATS_USER is set (got unset)',
      'NATS_MAX_DELIVER: must be greater than the number of NATS_RETRY_DELAYS_MS (5) (got "5")',
    ]);
    expect(problemsOf({ NATS_URL: 'nats://a:4222', NATS_RETRY_DELAYS_MS: '1s,2s' })[0]).toMatch(/^NATS_RETRY_DELAYS_MS: expected comma-separated milliseconds/);
  });
});
