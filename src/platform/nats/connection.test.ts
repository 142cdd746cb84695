import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config.js';
import { natsConnectionOptions } from './connection.js';

const natsOf = (env: Record<string, string>) => {
  const nats = loadConfig(env).nats;
  if (nats === undefined) throw new Error('no NATS config');
  return nats;
};

describe('NATS connection options', () => {
  it('pass user and password, reconnecting forever for a service', () => {
    expect(natsConnectionOptions(natsOf({ NATS_SERVER: 'nats://n:4222', NATS_USER: 'admin', NATS_PASSWORD: 'pw' }), { reconnect: true })).toEqual({
      servers: ['nats://n:4222'],
      name: 'customer-service',
      timeout: 5000,
      noAsyncTraces: true,
      user: 'admin',
      pass: 'pw',
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
    });
  });

  it('pass a token and TLS files, and do not reconnect for a one-shot Job', () => {
    const options = natsConnectionOptions(
      natsOf({ NATS_URL: 'tls://n:4222', NATS_TOKEN: 's3cret', NATS_TLS_CA_FILE: '/ca.pem', NATS_TLS_CERT_FILE: '/c.pem', NATS_TLS_KEY_FILE: '/k.pem' }),
      { reconnect: false, name: 'job' },
    );
    expect(options).toMatchObject({ token: 's3cret', tls: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' }, reconnect: false, name: 'job' });
    expect(options).not.toHaveProperty('user');
  });
});
