/**
 * Wakes a background loop (outbox relay, projector) right after a commit instead of waiting for its poll timer.
 * Notifications that arrive while nobody waits are remembered once, so a commit is never missed between two polls.
 */
export interface WakeSignal {
  notify(): void;
  /** Resolves on the next notification, or after `timeoutMs`, or at once if notified since the last wait. */
  wait(timeoutMs: number): Promise<void>;
}

export function createWakeSignal(): WakeSignal {
  let pending = false;
  let waiter: (() => void) | undefined;
  return {
    notify() {
      if (waiter === undefined) {
        pending = true;
        return;
      }
      const wake = waiter;
      waiter = undefined;
      wake();
    },
    wait(timeoutMs) {
      if (pending) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiter = undefined;
          resolve();
        }, timeoutMs);
        waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}

/** Combines signals: notifying the result notifies each of them. */
export function fanOut(...signals: readonly WakeSignal[]): () => void {
  return () => {
    for (const signal of signals) signal.notify();
  };
}
