/** One versioned schema change; `migrate.ts` applies the pending ones in version order. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}
