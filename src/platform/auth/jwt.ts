/**
 * JWT bearer tokens verified against the identity service's JWKS (the ACME platform signs RS256). Only asymmetric
 * algorithms are accepted: `alg: none` and every HMAC algorithm are refused before any key is looked at, so a token
 * "signed" with the public key as an HMAC secret cannot pass. Keys are cached; a token with an unknown `kid` makes
 * the set be fetched again (key rotation), at most once per cooldown so forged `kid`s cannot flood the JWKS endpoint.
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Principal } from './scopes.js';

/** Bearer tokens: the issuer's JWKS, and the claims a token must carry. */
export interface JwtOptions {
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
  readonly clockSkewSeconds: number;
  /** Least time between two JWKS fetches (a token with an unknown `kid` triggers one). */
  readonly jwksCooldownMs: number;
}

export const ACCEPTED_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'Ed25519'] as const;

export type TokenCheck =
  | { readonly ok: true; readonly principal: Principal }
  /** `unavailable`: the keys could not be fetched; the token may well be valid (answered 503, not 401). */
  | { readonly ok: false; readonly reason: string; readonly unavailable?: boolean };

export type VerifyToken = (token: string) => Promise<TokenCheck>;

export function createTokenVerifier(config: JwtOptions): VerifyToken {
  const keys = createRemoteJWKSet(new URL(config.jwksUrl), {
    cooldownDuration: config.jwksCooldownMs,
    cacheMaxAge: 10 * 60_000,
    timeoutDuration: 5_000,
  });
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: [...ACCEPTED_ALGORITHMS],
        clockTolerance: config.clockSkewSeconds,
        requiredClaims: ['exp'],
      });
      return { ok: true, principal: { kind: 'jwt', id: `jwt:${subjectOf(payload)}`, scopes: scopesOf(payload) } };
    } catch (error) {
      return classify(error);
    }
  };
}

/** `scope` (space-separated, RFC 8693) or `scp` (an array, as Azure AD and Okta send it; a string is split too). */
export function scopesOf(payload: JWTPayload): ReadonlySet<string> {
  const scopes = new Set<string>();
  const add = (value: unknown) => {
    if (typeof value === 'string') for (const scope of value.split(' ')) if (scope !== '') scopes.add(scope);
    if (Array.isArray(value)) for (const item of value) if (typeof item === 'string' && item !== '') scopes.add(item);
  };
  add(payload.scope);
  add(payload.scp);
  return scopes;
}

function subjectOf(payload: JWTPayload): string {
  const candidates = [payload.sub, payload.client_id, payload.azp];
  const subject = candidates.find((value): value is string => typeof value === 'string' && value !== '');
  return `${payload.iss ?? ''}#${subject ?? 'unknown'}`;
}

function classify(error: unknown): TokenCheck {
  if (error instanceof errors.JWTExpired) return { ok: false, reason: 'the token has expired' };
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return { ok: false, reason: 'the token is not valid yet' };
    if (error.claim === 'iss' || error.claim === 'aud') return { ok: false, reason: `the token is not meant for this service (${error.claim})` };
    return { ok: false, reason: `the token's "${error.claim}" claim is missing or invalid` };
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return { ok: false, reason: `the token's algorithm is not accepted (accepted: ${ACCEPTED_ALGORITHMS.join(', ')})` };
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return { ok: false, reason: 'the token signature is not valid' };
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return { ok: false, reason: 'the token is not signed by a known key' };
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return { ok: false, reason: 'the token is malformed' };
  // Plain JOSEError: the JWKS answered other than 200 or not JSON; anything not from jose: the fetch itself failed.
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || !(error instanceof errors.JOSEError) || error.code === 'ERR_JOSE_GENERIC') {
    return { ok: false, reason: 'the signing keys could not be fetched', unavailable: true };
  }
  return { ok: false, reason: 'the token is not valid' };
}
