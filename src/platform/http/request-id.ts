/**
 * The request id of every log line of a request: the caller's `x-request-id` when it is a sane token, so callers
 * can correlate, else one of ours. A 15 KB header must not be copied into every line the request logs.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const SANE = /^[\x21-\x7e]{1,128}$/;

export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && SANE.test(given) ? given : randomUUID();
}
