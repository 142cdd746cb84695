/** The permissions a credential can hold (issue 16); each protected route needs exactly one. */
export const SCOPES = ['customers:read', 'events:write', 'operations'] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/** Who is calling: an API key's name, a token's subject, or nobody (authentication off). */
export interface Principal {
  readonly kind: 'api-key' | 'jwt' | 'anonymous';
  /** Stable per client: the rate limits count per principal (never the secret itself). */
  readonly id: string;
  readonly scopes: ReadonlySet<string>;
}
