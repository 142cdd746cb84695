/**
 * Several data-modifying statements sent as one: each becomes a CTE of a single statement, so a transaction that
 * writes five tables pays one round trip instead of five. Every part sees the same snapshot and none reads another's
 * rows, which is all the inserts of one registration need; foreign keys are checked at the end of the statement, so a
 * part may reference rows another part inserts.
 */
import type { Queryable } from './database.js';

/** One SQL statement with its own `$1…$n` numbering. */
export interface Statement {
  readonly text: string;
  readonly values: readonly unknown[];
}

/** Runs `statements` as one statement (parts that are undefined are left out). */
export async function runTogether(client: Queryable, statements: readonly (Statement | undefined)[]): Promise<void> {
  const parts = statements.filter((statement): statement is Statement => statement !== undefined);
  if (parts.length === 0) return;
  if (parts.length === 1) {
    const [only] = parts as [Statement];
    await client.query(only.text, [...only.values]);
    return;
  }
  const values: unknown[] = [];
  const ctes = parts.map((part, index) => {
    const offset = values.length;
    values.push(...part.values);
    // Parameter references are renumbered into the combined list; the parts carry no "$n" inside string literals.
    return `w${index} AS (${part.text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`)})`;
  });
  await client.query(`WITH ${ctes.join(',\n')}\nSELECT 1`, values);
}
