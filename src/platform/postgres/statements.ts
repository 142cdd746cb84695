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

/**
 * A column of JSON values for `unnest`, sent as one `json` parameter: `jsonColumn(texts)` among the values, and
 * `jsonElements('$n', 'jsonb')` in the statement where the array goes. Each text must be one JSON value; it reaches
 * the row as written (a `json` column keeps its exact text). A text that is not one JSON value either makes the array
 * invalid (the statement fails) or adds elements, and `unnest` then pads the other columns with NULLs, which their
 * NOT NULL constraints refuse: the rows never shift silently (test/integration/json-columns.test.ts).
 *
 * Why not a `jsonb[]` parameter: `pg` turns a JavaScript array into a PostgreSQL array literal, copying every element
 * to escape its quotes and concatenating the lot. For the event payloads and outbox messages of a registration batch
 * that was the service's largest source of garbage (about a fifth of all bytes allocated at full speed, V8's sampling
 * heap profiler, issue 17). JSON texts need no escaping inside a JSON array: one join builds the parameter.
 */
export function jsonColumn(texts: readonly string[]): string {
  return `[${texts.join(',')}]`;
}

/** The array of `jsonColumn`'s parameter `parameter` (e.g. `$7`) as `type[]`, in the order of the texts. */
export function jsonElements(parameter: string, type: 'json' | 'jsonb'): string {
  return `ARRAY(SELECT e::${type} FROM json_array_elements(${parameter}::json) WITH ORDINALITY AS t(e, i) ORDER BY i)`;
}
