import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, parseJsonInput, parseJsonOrThrow } from './json.js';
import { maskPayloadText } from './personal-data.js';

const nested = (depth: number, open = '[', close = ']') => open.repeat(depth) + close.repeat(depth);

describe('the one JSON parser', () => {
  it(`accepts nesting up to ${MAX_JSON_DEPTH} levels`, () => {
    expect(parseJsonInput(nested(MAX_JSON_DEPTH)).ok).toBe(true);
    expect(parseJsonInput(`{"a":${nested(MAX_JSON_DEPTH - 1)}}`).ok).toBe(true);
  });

  it('refuses deeper nesting as MALFORMED_JSON, however deep, without walking it', () => {
    // Found by the fuzzer: 5,000 levels overflowed the stack further on, the error was taken for a transient one,
    // and the message could not even be parked: its partition was held for good.
    for (const depth of [MAX_JSON_DEPTH + 1, 5_000, 1_000_000]) {
      const parsed = parseJsonInput(`{"payload":{"firstName":${nested(depth)}}}`);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) {
        expect(parsed.error.violations[0]).toMatchObject({ code: 'MALFORMED_JSON' });
        expect(parsed.error.violations[0]?.message).toContain(`nested deeper than ${MAX_JSON_DEPTH}`);
      }
    }
    expect(() => parseJsonOrThrow(nested(100, '{"a":', '}').replace(/}+$/, (closing) => '1' + closing))).toThrow(SyntaxError);
  });

  it('counts brackets inside strings as text, not nesting', () => {
    expect(parseJsonInput(JSON.stringify({ name: '['.repeat(10_000) })).ok).toBe(true);
    expect(parseJsonInput(JSON.stringify({ name: '\\"[[[[' + '['.repeat(100) })).ok).toBe(true);
  });

  it('masks a deep payload for display without overflowing', () => {
    expect(() => maskPayloadText(`{"email":"a@b.example","x":${nested(200_000)}}`)).not.toThrow();
    expect(maskPayloadText(`{"email":"a@b.example","x":${nested(200_000)}}`)).not.toContain('a@b.example');
  });
});
