/**
 * The one shape every use case's transaction has, whatever the flow: lock → load → decide → persist, in four round
 * trips however many commands the batch holds.
 *
 * 1. BEGIN, sent together with the transaction-scoped advisory locks on the keys the commands touch (sorted, so two
 *    transactions cannot deadlock on them), so nothing another instance commits can change what is loaded next;
 * 2. one statement loads all the decision needs (its snapshot comes after the locks);
 * 3. the decision is made in memory (the flow's pure domain);
 * 4. one statement writes everything the decision says (`runTogether`), then COMMIT.
 *
 * A decision that writes nothing (a redelivery, a rejection) sends no write and commits an empty transaction.
 */
import { withTransaction, type Pool, type Queryable } from './database.js';
import { runTogether, type Statement } from './statements.js';

export interface LoadDecidePersist<State, Decision> {
  /** Keys of the advisory locks to hold until COMMIT (duplicates allowed); none: a plain BEGIN. */
  readonly locks: readonly string[];
  /**
   * Keys of advisory locks to hold shared until COMMIT, taken after `locks` (e.g. `projectionWritersLockKey` when the
   * writes include read-model documents). A holder never waits for another lock of `locks` after taking one of these.
   */
  readonly sharedLocks?: readonly string[];
  /** Reads, in one statement, everything `decide` needs. */
  readonly load: (client: Queryable) => Promise<State>;
  /** Decides in memory: no I/O. */
  readonly decide: (state: State) => Decision;
  /** Every write of the decision; sent as one statement. Parts that are undefined are left out. */
  readonly writes: (decision: Decision) => readonly (Statement | undefined)[];
  /** Runs around the write round trip when there is something to write (e.g. in the flow's step spans). */
  readonly persisting?: (write: () => Promise<void>, decision: Decision) => Promise<void>;
}

/** Runs `steps` in one transaction and returns the decision once it has committed; a failure rolls back and is thrown. */
export async function loadDecidePersist<State, Decision>(pool: Pool, steps: LoadDecidePersist<State, Decision>): Promise<Decision> {
  return withTransaction(
    pool,
    async (client) => {
      const state = await steps.load(client);
      const decision = steps.decide(state);
      const writes = steps.writes(decision).filter((statement): statement is Statement => statement !== undefined);
      if (writes.length > 0) {
        const write = () => runTogether(client, writes);
        await (steps.persisting === undefined ? write() : steps.persisting(write, decision));
      }
      return decision;
    },
    steps.locks.length === 0 && (steps.sharedLocks ?? []).length === 0
      ? {}
      : { first: (client) => advisoryLocksStatement(client, steps.locks, steps.sharedLocks) },
  );
}

/**
 * Transaction-scoped advisory locks on `keys`, taken in one order (of their hashes) everywhere, then the `shared` ones
 * (in a second statement, so they come last). Sent with BEGIN, so the values are inlined (escaped) rather than bound.
 */
export function advisoryLocksStatement(
  client: { escapeLiteral(value: string): string },
  keys: readonly string[],
  shared: readonly string[] = [],
): string {
  const lockAll = (lock: string, of: readonly string[]) =>
    `SELECT count(${lock}(k))
     FROM (SELECT DISTINCT hashtextextended(key, 0) AS k FROM unnest(ARRAY[${of.map((key) => client.escapeLiteral(key)).join(',')}]::text[]) AS key ORDER BY 1) AS keys`;
  return [
    ...(keys.length === 0 ? [] : [lockAll('pg_advisory_xact_lock', keys)]),
    ...(shared.length === 0 ? [] : [lockAll('pg_advisory_xact_lock_shared', shared)]),
  ].join('; ');
}
