/**
 * Who is calling, from the request's headers: an API key (`Authorization: Bearer <key>` or `X-API-Key: <key>`) or a
 * JWT bearer token. And the rule `serve` starts by: with an external database, authentication must be configured
 * unless AUTH_MODE=none says otherwise (safe by default); on embedded defaults (a laptop) it starts open.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ConfigError } from '../config-error.js';
import { loadApiKeys, matchApiKey, type ApiKeyEntry } from './api-keys.js';
import { createTokenVerifier, type VerifyToken, type JwtOptions } from './jwt.js';
import { SCOPES, type Principal } from './scopes.js';

export type AuthOutcome =
  | { readonly ok: true; readonly principal: Principal }
  /** 401 (no or bad credentials) or 503 (the token's keys could not be fetched). */
  | { readonly ok: false; readonly status: 401 | 503; readonly reason: string; readonly credentialGiven: boolean };

export interface Authenticator {
  /** False when authentication is off: every request is the anonymous principal with every scope. */
  readonly enforced: boolean;
  authenticate(headers: IncomingHttpHeaders): Promise<AuthOutcome>;
}

const ANONYMOUS: Principal = { kind: 'anonymous', id: 'anonymous', scopes: new Set(SCOPES) };

/** Authentication off (embedded defaults, AUTH_MODE=none, tests that are not about it). */
export function openAccess(): Authenticator {
  return { enforced: false, authenticate: () => Promise.resolve({ ok: true, principal: ANONYMOUS }) };
}

/** The JWS compact form: three base64url parts. Anything else presented as a bearer is taken as an API key. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;
/** Longer credentials are refused unread: no key or token of ours comes near this. */
const MAX_CREDENTIAL_LENGTH = 8 * 1024;

export function createAuthenticator(options: { apiKeys?: readonly ApiKeyEntry[]; verifyToken?: VerifyToken }): Authenticator {
  const { apiKeys = [], verifyToken } = options;
  const refuse = (reason: string, credentialGiven = true): AuthOutcome => ({ ok: false, status: 401, reason, credentialGiven });
  return {
    enforced: true,
    authenticate: async (headers) => {
      const credential = credentialOf(headers);
      if (credential === undefined) return refuse('no credentials: send Authorization: Bearer <token or key>, or X-API-Key', false);
      if (credential === null) return refuse('the Authorization header must use the Bearer scheme');
      if (credential.value.length > MAX_CREDENTIAL_LENGTH) return refuse('the credential is too long');
      const byKey = matchApiKey(apiKeys, credential.value);
      if (byKey !== undefined) return { ok: true, principal: byKey };
      if (credential.header === 'authorization' && verifyToken !== undefined && COMPACT_JWS.test(credential.value)) {
        const checked = await verifyToken(credential.value);
        if (checked.ok) return checked;
        return { ok: false, status: checked.unavailable === true ? 503 : 401, reason: checked.reason, credentialGiven: true };
      }
      return refuse(verifyToken === undefined || credential.header === 'x-api-key' ? 'unknown API key' : 'unknown API key or malformed token');
    },
  };
}

/** The presented credential; undefined when none, null when an Authorization header uses another scheme. */
function credentialOf(headers: IncomingHttpHeaders): { header: 'authorization' | 'x-api-key'; value: string } | undefined | null {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    return match?.[1] === undefined ? null : { header: 'authorization', value: match[1] };
  }
  const apiKey = headers['x-api-key'];
  const value = Array.isArray(apiKey) ? apiKey[0] : apiKey;
  if (value === undefined) return undefined;
  return value.trim() === '' ? null : { header: 'x-api-key', value: value.trim() };
}

/**
 * Authentication of the HTTP API. Which of these `serve` accepts (the safe-by-default rule) is decided at start by
 * `decideAuth`: the other commands serve no HTTP and need none of it.
 */
export interface AuthConfig {
  /** AUTH_MODE=none: the operator turned authentication off on purpose. */
  readonly disabled: boolean;
  readonly jwt?: JwtOptions;
  /** Path of the API-keys file (`<name> <sha256 hex> <scope>[,<scope>…]` per line); read when `serve` starts. */
  readonly apiKeysFile?: string;
}

/** How `serve` authenticates, by the safe-by-default rule. */
export type AuthDecision =
  | { readonly enforced: true; readonly methods: readonly ('jwt' | 'api-keys')[] }
  | { readonly enforced: false; readonly reason: 'embedded-defaults' | 'AUTH_MODE=none' };

/**
 * The start rule of `serve`: an external database with no authentication configured is refused (exit 2) unless
 * AUTH_MODE=none is set; embedded defaults start open. Throws `ConfigError` naming the variables.
 */
export function decideAuth(config: { readonly auth: AuthConfig; readonly database: { readonly kind: 'external' | 'embedded' } }): AuthDecision {
  const methods = [...(config.auth.jwt === undefined ? [] : ['jwt' as const]), ...(config.auth.apiKeysFile === undefined ? [] : ['api-keys' as const])];
  if (methods.length > 0) return { enforced: true, methods };
  if (config.auth.disabled) return { enforced: false, reason: 'AUTH_MODE=none' };
  if (config.database.kind === 'embedded') return { enforced: false, reason: 'embedded-defaults' };
  throw new ConfigError([
    'AUTH_JWKS_URL: an external database is configured (DATABASE_URL or DB_*) but no authentication: set AUTH_JWKS_URL with AUTH_ISSUER and AUTH_AUDIENCE, or AUTH_API_KEYS_FILE, or AUTH_MODE=none to serve without authentication on purpose (got unset)',
  ]);
}

/** The authenticator `serve` uses; reads the API-keys file (exit 2 naming the line when it cannot). */
export function authenticatorFor(config: { readonly auth: AuthConfig }, decision: AuthDecision): Authenticator {
  if (!decision.enforced) return openAccess();
  return createAuthenticator({
    ...(config.auth.apiKeysFile === undefined ? {} : { apiKeys: loadApiKeys(config.auth.apiKeysFile) }),
    ...(config.auth.jwt === undefined ? {} : { verifyToken: createTokenVerifier(config.auth.jwt) }),
  });
}
