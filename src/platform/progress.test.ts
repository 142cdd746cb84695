import { describe, expect, it } from 'vitest';
import { createProgress } from './progress.js';

describe('progress line', () => {
  it('writes at most once per interval while running, and a last line with the total and rate', () => {
    let clock = 0;
    const lines: string[] = [];
    const progress = createProgress({ label: 'publish', unit: 'events', total: 400, intervalMs: 1_000, write: (line) => lines.push(line), now: () => clock });
    progress.add(100);
    clock = 500;
    progress.add(100);
    expect(lines).toEqual([]);
    clock = 1_000;
    progress.add(100);
    clock = 2_000;
    progress.add(100);
    progress.finish();
    progress.finish();
    expect(lines).toEqual([
      'publish: 300/400 events (75%), 300/s, 1.0 s',
      'publish: 400/400 events (100%), 200/s, 2.0 s',
      'publish: 400/400 events (100%), 200/s, 2.0 s, done',
    ]);
  });

  it('counts without a percentage when the total is unknown', () => {
    const lines: string[] = [];
    const progress = createProgress({ label: 'projections rebuild', unit: 'events', write: (line) => lines.push(line), now: () => 1_000 });
    progress.set(42);
    progress.finish();
    expect(lines).toEqual(['projections rebuild: 42 events, 42000/s, 0.0 s, done']);
  });
});
