/**
 * Starts a broker connection (and what runs on it) without letting an unreachable broker stop the service: the first
 * attempt is made at once; when it fails the service goes on serving reads and HTTP ingestion, and attempts continue
 * in the background with capped exponential backoff until one succeeds or the service stops. Each failure is logged
 * with the next attempt's delay, and `status()` feeds `/health` and the `dependency_up` metric.
 */
import type { ComponentStatus } from './http/health.routes.js';
import type { Logger } from './logger.js';
import { sleepWhile } from './sleep.js';

export interface Stoppable {
  stop(): Promise<void>;
}

export interface BackgroundStartOptions<T extends Stoppable> {
  /** Shown in logs and health, e.g. `nats`. */
  readonly name: string;
  readonly start: () => Promise<T>;
  readonly logger: Logger;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

export interface BackgroundStart<T extends Stoppable> {
  /** The started component, once an attempt has succeeded. */
  current(): T | undefined;
  /** `CONNECTING` (with the attempts so far and the last error) until started; afterwards `UP`. */
  status(): ComponentStatus;
  /** Ends the attempts (waiting for one in flight) and stops the component if it started. */
  stop(): Promise<void>;
}

/** Resolves after the first attempt, whatever its outcome; later attempts run in the background. */
export async function startInBackground<T extends Stoppable>(options: BackgroundStartOptions<T>): Promise<BackgroundStart<T>> {
  const { name, logger } = options;
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  let started: T | undefined;
  let running = true;
  let attempts = 0;
  let lastError: string | undefined;
  let since = new Date().toISOString();

  const attempt = async (): Promise<boolean> => {
    attempts += 1;
    try {
      const component = await options.start();
      if (!running) {
        await component.stop();
        return true;
      }
      started = component;
      since = new Date().toISOString();
      if (attempts > 1) logger.info({ dependency: name, attempts }, `${name} connected: its consumer and relays are running`);
      return true;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
      return false;
    }
  };

  let delayMs = options.initialDelayMs ?? 1_000;
  let loop: Promise<void> = Promise.resolve();
  if (!(await attempt())) {
    logger.warn(
      { dependency: name, error: lastError, retryInMs: delayMs },
      `${name} unreachable at start: serving reads and HTTP ingestion, connecting in the background`,
    );
    loop = (async () => {
      while (running) {
        await sleepWhile(delayMs, () => running);
        if (!running || (await attempt())) return;
        delayMs = Math.min(delayMs * 2, maxDelayMs);
        logger.warn({ dependency: name, attempts, error: lastError, retryInMs: delayMs }, `${name} still unreachable; retrying`);
      }
    })();
  }

  return {
    current: () => started,
    status: () =>
      started !== undefined
        ? { status: 'UP', details: { since } }
        : { status: 'CONNECTING', details: { since, attempts, ...(lastError === undefined ? {} : { lastError }) } },
    async stop() {
      running = false;
      await loop;
      await started?.stop();
    },
  };
}
