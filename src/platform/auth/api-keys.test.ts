import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config-error.js';
import { hashApiKey, matchApiKey, parseApiKeys } from './api-keys.js';

const HASH = hashApiKey('s3cret-key');

function problemsOf(text: string): readonly string[] {
  try {
    parseApiKeys(text);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('API-keys file', () => {
  it('reads names, hashes and scopes, skipping comments and blank lines', () => {
    const entries = parseApiKeys(`# operators\n\nbilling-service ${HASH} customers:read,events:write  \n  # end\n`);
    expect(entries).toHaveLength(1);
    expect(entries[0]?.name).toBe('billing-service');
    expect([...(entries[0]?.scopes ?? [])]).toEqual(['customers:read', 'events:write']);
  });

  it('names the line of every problem', () => {
    const problems = problemsOf(
      [`ok ${HASH} operations`, 'broken line', `typo ${hashApiKey('x')} customers:write`, `ok ${hashApiKey('y')} operations`, `dup ${HASH} operations`].join('\n'),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^AUTH_API_KEYS_FILE: line 2: expected "<name> <sha256 hex of the key> <scope>/),
      expect.stringMatching(/^AUTH_API_KEYS_FILE: line 3: unknown scope "customers:write"/),
      expect.stringMatching(/^AUTH_API_KEYS_FILE: line 4: the name "ok" is used twice/),
      expect.stringMatching(/^AUTH_API_KEYS_FILE: line 5: the same key hash is listed twice/),
    ]);
  });

  it('refuses a hash that is not 64 hex digits, and a file with no key', () => {
    expect(problemsOf(`short ${HASH.slice(1)} operations`)[0]).toContain('line 1');
    expect(problemsOf('# nothing yet\n')[0]).toContain('lists no key');
  });

  it('matches a presented key by its hash and never by a prefix or the hash itself', () => {
    const entries = parseApiKeys(`a ${hashApiKey('key-a')} operations\nb ${hashApiKey('key-b')} customers:read`);
    expect(matchApiKey(entries, 'key-b')).toMatchObject({ kind: 'api-key', id: 'key:b' });
    expect(matchApiKey(entries, 'key-')).toBeUndefined();
    expect(matchApiKey(entries, hashApiKey('key-a'))).toBeUndefined();
    expect(matchApiKey(entries, '')).toBeUndefined();
  });
});
