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

  describe('read model', () => {
    it('serves from PostgreSQL unless MONGODB_URL is set, with projector defaults', () => {
      expect(loadConfig({}).readModel).toEqual({ batchSize: 500, pollIntervalMs: 250 });
    });

    it('uses MongoDB when MONGODB_URL is set, replica-set URLs included', () => {
      const url = 'mongodb://app:pw@mongo-0:27017,mongo-1:27017/?replicaSet=rs0';
      expect(loadConfig({ MONGODB_URL: url, MONGODB_DATABASE: 'customers', PROJECTOR_BATCH_SIZE: '100' }).readModel).toEqual({
        mongodb: { url, database: 'customers' },
        batchSize: 100,
        pollIntervalMs: 250,
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
