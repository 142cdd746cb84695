/**
 * Group commit for batch operations: calls that arrive while a run is in flight wait, and the next run takes all of
 * them at once (up to `maxItems`). Each caller gets back the outputs of its own items, in order.
 *
 * Why: the cost of a PostgreSQL transaction (round trips, and above all the WAL flush of its COMMIT) or of a broker
 * request hardly depends on how many rows it carries. Callers that each bring a few items (one Kafka partition's
 * fetch, one HTTP request) would pay it once per call; coalesced, they pay it once per run, and the batch grows by
 * itself exactly when the load does. An idle system runs a call at once (after the current turn of the event loop,
 * so calls made together go together).
 *
 * Isolation: when a run of several callers fails, each caller's items are run again on their own, so one caller's
 * failure (a poison message, a partition in its retry schedule) reaches only that caller, as without coalescing.
 */
export type BatchRun<I, O> = (items: readonly I[]) => Promise<O[]>;

export interface CoalescerOptions {
  /** Most items per run; a single call larger than this still runs, alone. */
  readonly maxItems: number;
  /** Turns of the event loop to wait at most for more calls before a run starts (default 8). */
  readonly maxSettleTurns?: number;
}

interface Waiting<I, O> {
  readonly items: readonly I[];
  readonly resolve: (outputs: O[]) => void;
  readonly reject: (error: unknown) => void;
}

export function createCoalescer<I, O>(run: BatchRun<I, O>, options: CoalescerOptions): BatchRun<I, O> {
  const queue: Waiting<I, O>[] = [];
  let draining = false;

  async function runAlone(caller: Waiting<I, O>): Promise<void> {
    try {
      caller.resolve(await run(caller.items));
    } catch (error) {
      caller.reject(error);
    }
  }

  async function settle(): Promise<void> {
    const turns = options.maxSettleTurns ?? 8;
    for (let turn = 0, seen = -1; turn < turns && queue.length !== seen; turn += 1) {
      seen = queue.length;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async function drain(): Promise<void> {
    await settle();
    while (queue.length > 0) {
      const callers: Waiting<I, O>[] = [queue.shift() as Waiting<I, O>];
      let count = callers[0]?.items.length ?? 0;
      while (queue.length > 0 && count + (queue[0] as Waiting<I, O>).items.length <= options.maxItems) {
        const next = queue.shift() as Waiting<I, O>;
        callers.push(next);
        count += next.items.length;
      }
      if (callers.length === 1) {
        await runAlone(callers[0] as Waiting<I, O>);
        continue;
      }
      let outputs: O[];
      try {
        outputs = await run(callers.flatMap((caller) => caller.items));
      } catch {
        for (const caller of callers) await runAlone(caller);
        continue;
      }
      let offset = 0;
      for (const caller of callers) {
        caller.resolve(outputs.slice(offset, offset + caller.items.length));
        offset += caller.items.length;
      }
    }
    draining = false;
  }

  return (items) => {
    if (items.length === 0) return Promise.resolve([]);
    return new Promise<O[]>((resolve, reject) => {
      queue.push({ items, resolve, reject });
      if (draining) return;
      draining = true;
      void drain();
    });
  };
}
