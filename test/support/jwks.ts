/**
 * An identity service for tests: a real HTTP server on a free port serving a JWKS, and the private keys to sign
 * tokens with. `rotate()` replaces the served keys, as an identity service does on key rotation.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export type Algorithm = 'RS256' | 'ES256' | 'EdDSA';

interface SigningKey {
  readonly kid: string;
  readonly alg: Algorithm;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  readonly publicPem: string;
}

export interface TestIdentityService {
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
  /** How often the JWKS was fetched. */
  fetches(): number;
  /** Signs `claims` (defaults: iss, aud, sub, iat, exp in 5 minutes) with the current key of `alg`. */
  sign(claims?: JWTPayload, options?: { alg?: Algorithm; header?: Record<string, unknown> }): Promise<string>;
  /** The current key of `alg`, e.g. to forge with its public half. */
  key(alg?: Algorithm): SigningKey;
  /** New keys for every algorithm; the old ones are no longer served. */
  rotate(): Promise<void>;
  close(): Promise<void>;
}

let generation = 0;

async function newKey(alg: Algorithm): Promise<SigningKey> {
  generation += 1;
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
  const kid = `${alg.toLowerCase()}-${generation}`;
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, publicPem: await exportSPKI(publicKey) };
}

export async function startIdentityService(options: { issuer?: string; audience?: string } = {}): Promise<TestIdentityService> {
  const algorithms: Algorithm[] = ['RS256', 'ES256', 'EdDSA'];
  let keys = await Promise.all(algorithms.map(newKey));
  let fetchCount = 0;
  const server = http.createServer((request, response) => {
    if (request.url !== '/.well-known/jwks.json') {
      response.writeHead(404).end();
      return;
    }
    fetchCount += 1;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: keys.map((key) => key.publicJwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = options.issuer ?? 'https://identity.acme.test/';
  const audience = options.audience ?? 'customer-service';
  const key = (alg: Algorithm = 'RS256') => {
    const found = keys.find((candidate) => candidate.alg === alg);
    if (found === undefined) throw new Error(`no ${alg} key`);
    return found;
  };
  return {
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    issuer,
    audience,
    fetches: () => fetchCount,
    key,
    sign: async (claims = {}, signOptions = {}) => {
      const signing = key(signOptions.alg);
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, aud: audience, sub: 'client-1', iat: now, exp: now + 300, ...claims })
        .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'JWT', ...signOptions.header })
        .sign(signing.privateKey);
    },
    rotate: async () => {
      keys = await Promise.all(algorithms.map(newKey));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A token with `alg: none` and no signature, as an attacker would send it. */
export function unsignedToken(claims: JWTPayload): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}
