/**
 * The one JSON parser for input, whatever transport it came on (HTTP bodies of both JSON media types, Kafka values,
 * NATS bodies, Job-mode variables): the same text gets the same answer everywhere. A `__proto__` key, or a
 * `constructor` key holding a `prototype`, is refused as MALFORMED_JSON, as fastify's default parser refuses it:
 * code that later copies or merges the value must never meet them.
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

/** Parses `text`; throws a SyntaxError for invalid JSON and for poisoned keys. */
export function parseJsonOrThrow(text: string): unknown {
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
