/**
 * One bad item must not fail its neighbours: a batch that fails for a non-transient reason is run again one item at a
 * time, and only the items that fail alone get a failed output. A transient failure of the whole batch (the database
 * is away) is thrown, as is any failure of a batch of one: the caller owns the retry schedule.
 */
import type { BatchRun } from './coalesce.js';

export interface IsolateFailuresOptions<I, O> {
  readonly isTransient: (error: unknown) => boolean;
  /** Called with the items a failure reached: a whole batch before it is thrown, or one item that failed alone. */
  readonly onFailure: (items: readonly I[], error: unknown) => void;
  /** The output of an item that failed alone. */
  readonly failed: (error: unknown, transient: boolean) => O;
}

export function isolateFailures<I, O>(run: BatchRun<I, O>, options: IsolateFailuresOptions<I, O>): BatchRun<I, O> {
  return async (items) => {
    try {
      return await run(items);
    } catch (error) {
      if (items.length === 1 || options.isTransient(error)) {
        options.onFailure(items, error);
        throw error;
      }
    }
    const outputs: O[] = [];
    for (const item of items) {
      try {
        const [output] = await run([item]);
        outputs.push(output ?? options.failed(new Error('no result'), false));
      } catch (error) {
        options.onFailure([item], error);
        outputs.push(options.failed(error, options.isTransient(error)));
      }
    }
    return outputs;
  };
}
