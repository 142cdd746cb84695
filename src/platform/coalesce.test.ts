import { describe, expect, it } from 'vitest';
import { createCoalescer } from './coalesce.js';

/** A batch operation that records the batches it was given and holds each until released. */
function recordingRun(fail?: (items: readonly number[]) => boolean) {
  const runs: number[][] = [];
  const release: (() => void)[] = [];
  const run = async (items: readonly number[]) => {
    runs.push([...items]);
    await new Promise<void>((resolve) => release.push(resolve));
    if (fail?.(items) === true) throw new Error(`failed ${items.join(',')}`);
    return items.map((item) => item * 10);
  };
  const releaseAll = async () => {
    while (release.length > 0 || runs.length === 0) {
      release.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { run, runs, releaseAll };
}

describe('coalescer (group commit)', () => {
  it('runs calls made together as one batch and gives each caller its own outputs, in order', async () => {
    const { run, runs, releaseAll } = recordingRun();
    const coalesced = createCoalescer(run, { maxItems: 100 });
    const calls = [coalesced([1, 2]), coalesced([3]), coalesced([4, 5, 6])];
    await releaseAll();
    expect(await Promise.all(calls)).toEqual([[10, 20], [30], [40, 50, 60]]);
    expect(runs).toEqual([[1, 2, 3, 4, 5, 6]]);
  });

  it('queues calls made while a batch is in flight into the next batch, up to maxItems', async () => {
    const { run, runs, releaseAll } = recordingRun();
    const coalesced = createCoalescer(run, { maxItems: 3 });
    const first = coalesced([1]);
    await new Promise((resolve) => setImmediate(resolve)); // the first batch is now in flight
    const later = [coalesced([2]), coalesced([3, 4]), coalesced([5]), coalesced([6, 7, 8, 9])];
    await releaseAll();
    expect(await first).toEqual([10]);
    expect(await Promise.all(later)).toEqual([[20], [30, 40], [50], [60, 70, 80, 90]]);
    // [2] + [3, 4] fill 3; [5] would not fit with [6..9]; a call larger than maxItems still runs, alone.
    expect(runs).toEqual([[1], [2, 3, 4], [5], [6, 7, 8, 9]]);
  });

  it('runs each caller alone when a shared batch fails, so only the caller whose items fail sees the failure', async () => {
    const { run, runs, releaseAll } = recordingRun((items) => items.includes(2));
    const coalesced = createCoalescer(run, { maxItems: 100 });
    const calls = [coalesced([1]), coalesced([2]), coalesced([3])].map((call) => call.then((value) => ({ value }), (error: Error) => ({ error: error.message })));
    await releaseAll();
    expect(await Promise.all(calls)).toEqual([{ value: [10] }, { error: 'failed 2' }, { value: [30] }]);
    expect(runs).toEqual([[1, 2, 3], [1], [2], [3]]);
  });

  it('answers an empty call at once without running anything', async () => {
    const { run, runs } = recordingRun();
    expect(await createCoalescer(run, { maxItems: 10 })([])).toEqual([]);
    expect(runs).toEqual([]);
  });
});
