import { describe, expect, it } from 'vitest';
import { startInBackground, type Stoppable } from './background-start.js';
import { createLogger } from './logger.js';

/** The service's logger, its lines kept as parsed records. */
function recordingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', personalData: false }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** A broker client that refuses `failures` connection attempts, then connects; counts what was started and stopped. */
function flakyBroker(failures: number) {
  const state = { attempts: 0, started: 0, stopped: 0 };
  const start = (): Promise<Stoppable> => {
    state.attempts += 1;
    if (state.attempts <= failures) return Promise.reject(new Error(`connection refused (attempt ${state.attempts})`));
    state.started += 1;
    return Promise.resolve({ stop: () => Promise.resolve(void (state.stopped += 1)) });
  };
  return { state, start };
}

const until = async (condition: () => boolean, timeoutMs = 5_000) => {
  for (const deadline = Date.now() + timeoutMs; !condition(); ) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('startInBackground', () => {
  it('returns UP at once when the first attempt connects, and logs nothing', async () => {
    const { logger, lines } = recordingLogger();
    const broker = flakyBroker(0);
    const started = await startInBackground({ name: 'nats', start: broker.start, logger });
    expect(started.status()).toMatchObject({ status: 'UP' });
    expect(started.current()).toBeDefined();
    expect(lines).toEqual([]);
    await started.stop();
    expect(broker.state).toEqual({ attempts: 1, started: 1, stopped: 1 });
  });

  it('keeps trying with doubling delays capped at the maximum, reporting CONNECTING with the last error, until it connects', async () => {
    const { logger, lines } = recordingLogger();
    const broker = flakyBroker(3);
    const started = await startInBackground({ name: 'nats', start: broker.start, logger, initialDelayMs: 20, maxDelayMs: 50 });
    expect(started.current()).toBeUndefined();
    expect(started.status()).toMatchObject({ status: 'CONNECTING', details: { attempts: 1, lastError: 'connection refused (attempt 1)' } });

    await until(() => started.current() !== undefined);
    expect(started.status()).toMatchObject({ status: 'UP' });
    expect(lines.map((line) => [line.level, line.msg, line.retryInMs, line.attempts])).toEqual([
      ['warn', 'nats unreachable at start: serving reads and HTTP ingestion, connecting in the background', 20, undefined],
      ['warn', 'nats still unreachable; retrying', 40, 2],
      ['warn', 'nats still unreachable; retrying', 50, 3],
      ['info', 'nats connected: its consumer and relays are running', undefined, 4],
    ]);
    await started.stop();
    expect(broker.state).toEqual({ attempts: 4, started: 1, stopped: 1 });
  });

  it('stop ends the attempts without waiting out the backoff, and starts nothing after', async () => {
    const { logger } = recordingLogger();
    const broker = flakyBroker(Number.POSITIVE_INFINITY);
    const started = await startInBackground({ name: 'kafka', start: broker.start, logger, initialDelayMs: 60_000 });
    const stopping = Date.now();
    await started.stop();
    expect(Date.now() - stopping).toBeLessThan(1_000);
    expect(broker.state.attempts).toBe(1);
    expect(started.status()).toMatchObject({ status: 'CONNECTING' });
  });

  it('stops a component whose attempt was still connecting when the service stopped', async () => {
    const { logger } = recordingLogger();
    let release: () => void = () => undefined;
    const state = { attempts: 0, stopped: 0 };
    const started = await startInBackground({
      name: 'nats',
      logger,
      initialDelayMs: 10,
      start: async () => {
        state.attempts += 1;
        if (state.attempts === 1) throw new Error('connection refused');
        // The second attempt connects only after stop() was called.
        await new Promise<void>((resolve) => (release = resolve));
        return { stop: () => Promise.resolve(void (state.stopped += 1)) };
      },
    });
    await until(() => state.attempts === 2);
    const stopped = started.stop();
    release();
    await stopped;
    expect(state.stopped).toBe(1);
    expect(started.current()).toBeUndefined();
  });
});
