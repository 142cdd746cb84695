/**
 * The one JSON parser for input, whatever transport it came on (HTTP bodies of both JSON media types, Kafka values,
 * NATS bodies, Job-mode variables): the same text gets the same answer everywhere. A `__proto__` key, or a
 * `constructor` key holding a `prototype`, is refused as MALFORMED_JSON, as fastify's default parser refuses it:
 * code that later copies or merges the value must never meet them. Nesting deeper than MAX_JSON_DEPTH is refused too:
 * no input of ours nests a tenth as deep, and every recursive walk after parsing (validation, redaction) stays safe.
 */
import { InvalidInputError, type Parsed } from './validation.js';

const SUSPICIOUS = /"(?:__proto__|constructor)"/;

function refusePoisonedKeys(this: unknown, key: string, value: unknown): unknown {
  if (key === '__proto__') throw new SyntaxError('the key "__proto__" is not allowed');
  if (key === 'constructor' && typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype')) {
    throw new SyntaxError('the key "constructor" with a "prototype" is not allowed');
  }
  return value;
}

/** Deepest nesting of objects and arrays an input may have. */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether `text` opens more than `limit` objects or arrays inside one another, outside strings. One pass, no
 * recursion and no allocation: it runs before JSON.parse, so a million nested brackets cost a scan, not a stack.
 */
function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c) index += 1; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) {
      depth += 1;
      if (depth > limit) return true;
    } else if (char === 0x5d || char === 0x7d) depth -= 1;
  }
  return false;
}

/** Parses `text`; throws a SyntaxError for invalid JSON, for poisoned keys and for nesting deeper than MAX_JSON_DEPTH. */
export function parseJsonOrThrow(text: string): unknown {
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) throw new SyntaxError(`objects and arrays nested deeper than ${MAX_JSON_DEPTH} levels`);
  // The reviver costs a walk of the whole value: only texts that could hold such a key pay it.
  return SUSPICIOUS.test(text) ? JSON.parse(text, refusePoisonedKeys) : JSON.parse(text);
}

/** Parses `text` as an input value: MALFORMED_JSON (naming `field`) when it is not JSON or holds a poisoned key. */
export function parseJsonInput(text: string, field = '(root)', what = 'the body'): Parsed<unknown> {
  if (text.trim() === '') return { ok: false, error: InvalidInputError.of('MALFORMED_JSON', field, `${what} is empty`) };
  try {
    return { ok: true, value: parseJsonOrThrow(text) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, error: InvalidInputError.of('MALFORMED_JSON', field, `${what} is not valid JSON: ${reason}`) };
  }
}
