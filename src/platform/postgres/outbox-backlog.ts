/**
 * Keeps the `outbox_backlog_messages` gauge current: samples the unpublished messages per destination on a timer
 * and whenever `sample()` is called (a relay after publishing), so the gauge shows an outage as it happens.
 */
import type { Metrics } from '../metrics.js';
import type { Pool } from './database.js';
import { pendingCounts, type OutboxDestination } from './outbox.js';

export interface BacklogSampler {
  sample(): Promise<void>;
  stop(): void;
}

export function startBacklogSampler(options: {
  readonly pool: Pool;
  readonly metrics: Metrics;
  readonly destinations: readonly OutboxDestination[];
  readonly intervalMs?: number;
}): BacklogSampler {
  let inFlight: Promise<void> | undefined;
  const sample = (): Promise<void> => {
    inFlight ??= pendingCounts(options.pool)
      .then((counts) => {
        for (const destination of new Set([...options.destinations, ...Object.keys(counts)])) {
          options.metrics.outboxBacklog.set({ destination }, counts[destination] ?? 0);
        }
      })
      // The database being away is reported by health checks; the gauge keeps its last value.
      .catch(() => undefined)
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
  const timer = setInterval(() => void sample(), options.intervalMs ?? 1_000);
  timer.unref();
  void sample();
  return {
    sample,
    stop: () => clearInterval(timer),
  };
}
