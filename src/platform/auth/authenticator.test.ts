import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config.js';
import { decideAuth } from './authenticator.js';

const decide = (env: Record<string, string | undefined>) => decideAuth(loadConfig(env));

describe('the start rule of serve (safe by default)', () => {
  it('starts open on embedded defaults, and says why', () => {
    expect(decide({})).toEqual({ enforced: false, reason: 'embedded-defaults' });
  });

  it.each([{ DATABASE_URL: 'postgres://u:p@db/customers' }, { DB_HOST: 'db', DB_USER: 'u', DB_NAME: 'customers' }])(
    'refuses an external database without authentication, naming the variables: %o',
    (env) => {
      let error: unknown;
      try {
        decide(env);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      for (const name of ['AUTH_JWKS_URL', 'AUTH_API_KEYS_FILE', 'AUTH_MODE=none', 'DATABASE_URL']) expect(message).toContain(name);
    },
  );

  it('serves an external database open only with AUTH_MODE=none', () => {
    expect(decide({ DATABASE_URL: 'postgres://u:p@db/customers', AUTH_MODE: 'none' })).toEqual({ enforced: false, reason: 'AUTH_MODE=none' });
  });

  it('enforces whatever is configured, also on embedded defaults', () => {
    const jwt = { AUTH_JWKS_URL: 'https://id.acme.test/jwks.json', AUTH_ISSUER: 'https://id.acme.test/', AUTH_AUDIENCE: 'customer-service' };
    expect(decide({ DATABASE_URL: 'postgres://u:p@db/customers', ...jwt })).toEqual({ enforced: true, methods: ['jwt'] });
    expect(decide({ AUTH_API_KEYS_FILE: '/run/secrets/api-keys', ...jwt })).toEqual({ enforced: true, methods: ['jwt', 'api-keys'] });
  });
});

describe('authentication settings', () => {
  it('needs AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE together', () => {
    expect(() => loadConfig({ AUTH_JWKS_URL: 'https://id.acme.test/jwks.json' })).toThrow(/AUTH_ISSUER: required[\s\S]*AUTH_AUDIENCE: required/);
  });

  it('refuses AUTH_MODE=none together with configured authentication, and any other AUTH_MODE', () => {
    expect(() => loadConfig({ AUTH_MODE: 'none', AUTH_API_KEYS_FILE: '/keys' })).toThrow(/AUTH_MODE: "none" turns authentication off/);
    expect(() => loadConfig({ AUTH_MODE: 'off' })).toThrow(/AUTH_MODE: expected none/);
  });
});
