/**
 * Teardown in one place: each part of the service registers how to stop itself as it starts, and everything started
 * so far stops in reverse order, whether the service shuts down or fails half-way through starting. Every step runs
 * even when an earlier one fails; the first failure is thrown at the end.
 *
 * By hand because `AsyncDisposableStack` (which does this) exists only from Node.js 24 on, and `engines` allows 22.
 */
export interface Teardown {
  /** Registers `stop`, to run before everything registered earlier. */
  defer(stop: () => Promise<void> | void): void;
  /** Runs the registered steps, last first, once; later calls wait for the same run. */
  run(): Promise<void>;
}

export function createTeardown(): Teardown {
  const steps: (() => Promise<void> | void)[] = [];
  let running: Promise<void> | undefined;
  return {
    defer(stop) {
      steps.push(stop);
    },
    run() {
      running ??= (async () => {
        const failures: unknown[] = [];
        for (const step of steps.reverse()) {
          try {
            await step();
          } catch (error) {
            failures.push(error);
          }
        }
        if (failures.length > 0) throw failures[0];
      })();
      return running;
    },
  };
}

/** Runs `start`; when it throws, runs `teardown` (what started before it) and rethrows. */
export async function orTearDown<T>(teardown: Teardown, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    await teardown.run().catch(() => undefined);
    throw error;
  }
}
