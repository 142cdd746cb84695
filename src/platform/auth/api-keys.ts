/**
 * API keys for services and operators: a file (a mounted Secret) with one key per line,
 * `<name> <sha256 hex of the key> <scope>[,<scope>…]`, and `#` comments. Only hashes are stored, so the file is not
 * itself a credential; keys are compared in constant time and never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config-error.js';
import { isScope, SCOPES, type Principal } from './scopes.js';

export interface ApiKeyEntry {
  readonly name: string;
  readonly hash: Buffer;
  readonly scopes: ReadonlySet<string>;
}

const LINE = /^(\S+)\s+([0-9a-fA-F]{64})\s+(\S+)$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

/** Parses the file's text; every problem names its line. `source` is how the problems name the file. */
export function parseApiKeys(text: string, source = 'AUTH_API_KEYS_FILE'): ApiKeyEntry[] {
  const entries: ApiKeyEntry[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${source}: line ${index + 1}`;
    const match = LINE.exec(line);
    if (match === null) {
      problems.push(`${where}: expected "<name> <sha256 hex of the key> <scope>[,<scope>…]"`);
      return;
    }
    const [, name = '', hex = '', scopeList = ''] = match;
    if (!NAME.test(name)) problems.push(`${where}: the name "${name.slice(0, 40)}" must be letters, digits, '.', '_', '@' or '-'`);
    const scopes = scopeList.split(',');
    const unknown = scopes.filter((scope) => !isScope(scope));
    if (unknown.length > 0) problems.push(`${where}: unknown scope ${unknown.map((scope) => `"${scope.slice(0, 40)}"`).join(', ')} (known: ${SCOPES.join(', ')})`);
    if (entries.some((entry) => entry.name === name)) problems.push(`${where}: the name "${name}" is used twice`);
    const hash = Buffer.from(hex, 'hex');
    if (entries.some((entry) => entry.hash.equals(hash))) problems.push(`${where}: the same key hash is listed twice`);
    entries.push({ name, hash, scopes: new Set(scopes) });
  });
  if (problems.length > 0) throw new ConfigError(problems);
  if (entries.length === 0) throw new ConfigError([`${source}: the file lists no key (every line is empty or a comment)`]);
  return entries;
}

/** Reads and parses the file at start; an unreadable or unparseable file is a configuration error (exit 2). */
export function loadApiKeys(path: string): ApiKeyEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`AUTH_API_KEYS_FILE: cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'}) (got "${path}")`]);
  }
  return parseApiKeys(text);
}

/** The hex SHA-256 of a key: what the file lists (`printf %s "$KEY" | sha256sum`). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * The principal of a presented key, or undefined. Every entry is compared (no early exit) with `timingSafeEqual` on
 * the hashes, so the time taken says nothing about which entry, or how much of one, matched.
 */
export function matchApiKey(entries: readonly ApiKeyEntry[], presented: string): Principal | undefined {
  const digest = createHash('sha256').update(presented, 'utf8').digest();
  let found: ApiKeyEntry | undefined;
  for (const entry of entries) {
    if (timingSafeEqual(entry.hash, digest) && found === undefined) found = entry;
  }
  return found === undefined ? undefined : { kind: 'api-key', id: `key:${found.name}`, scopes: found.scopes };
}
