import { describe, expect, it } from 'vitest';
import { isolateFailures } from './isolate-failures.js';

class Transient extends Error {}

/** A batch run that fails as a whole when it holds a poison item; records the batches it was given. */
function harness(poison: (item: string) => Error | undefined) {
  const runs: string[][] = [];
  const failures: { items: readonly string[]; error: unknown }[] = [];
  const run = isolateFailures(
    (items: readonly string[]) => {
      runs.push([...items]);
      const error = items.map(poison).find((found) => found !== undefined);
      return error === undefined ? Promise.resolve(items.map((item) => `ok:${item}`)) : Promise.reject(error);
    },
    {
      isTransient: (error) => error instanceof Transient,
      onFailure: (items, error) => failures.push({ items, error }),
      failed: (error, transient) => `failed:${(error as Error).message}:${transient}`,
    },
  );
  return { run, runs, failures };
}

describe('isolating failures of a batch', () => {
  it('runs a healthy batch once', async () => {
    const { run, runs, failures } = harness(() => undefined);
    expect(await run(['a', 'b'])).toEqual(['ok:a', 'ok:b']);
    expect(runs).toEqual([['a', 'b']]);
    expect(failures).toEqual([]);
  });

  it('runs each item alone after a non-transient failure: only the bad one fails', async () => {
    const bad = new Error('bad');
    const { run, runs, failures } = harness((item) => (item === 'b' ? bad : undefined));
    expect(await run(['a', 'b', 'c'])).toEqual(['ok:a', 'failed:bad:false', 'ok:c']);
    expect(runs).toEqual([['a', 'b', 'c'], ['a'], ['b'], ['c']]);
    expect(failures).toEqual([{ items: ['b'], error: bad }]);
  });

  it('throws a transient failure of the whole batch, for the caller to retry, without running items alone', async () => {
    const away = new Transient('database away');
    const { run, runs, failures } = harness(() => away);
    await expect(run(['a', 'b'])).rejects.toBe(away);
    expect(runs).toEqual([['a', 'b']]);
    expect(failures).toEqual([{ items: ['a', 'b'], error: away }]);
  });

  it('throws the failure of a batch of one', async () => {
    const bad = new Error('bad');
    const { run, failures } = harness(() => bad);
    await expect(run(['a'])).rejects.toBe(bad);
    expect(failures).toEqual([{ items: ['a'], error: bad }]);
  });

  it('marks an item that fails alone transiently as transient', async () => {
    let runsOfB = 0;
    const { run } = harness((item) => {
      if (item !== 'b') return undefined;
      runsOfB += 1;
      return runsOfB === 1 ? new Error('bad') : new Transient('away');
    });
    expect(await run(['a', 'b'])).toEqual(['ok:a', 'failed:away:true']);
  });
});
