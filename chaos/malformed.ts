/**
 * Malformed messages for every way in: each is one no flow may accept, and carries a marker (in an id where the
 * message still parses far enough, else in its bytes) so that the checker can find it among the dead letters.
 */
import { v4 as uuidv4 } from 'uuid';
import { uniqueEvent } from '../test/support/corporate.js';
import { userRegistered } from '../test/support/events.js';

export const MALFORMED_KINDS = [
  'truncated',
  'not-json',
  'empty',
  'json-scalar',
  'wrong-type',
  'missing-field',
  'proto-pollution',
  'nul',
  'lone-surrogate',
  'invalid-utf8',
  'deep',
  'huge-string',
  'bad-cloudevent',
  'bad-email',
  'bad-timestamp',
] as const;

export type MalformedKind = (typeof MALFORMED_KINDS)[number];

export interface Malformed {
  readonly kind: MalformedKind;
  readonly marker: string;
  readonly body: Buffer;
}

/** One malformed `flow` message of a random kind (`next` is the seeded generator). */
export function malformed(flow: 'individual' | 'corporate', next: () => number, kind?: MalformedKind): Malformed {
  const chosen: MalformedKind = kind ?? MALFORMED_KINDS[Math.floor(next() * MALFORMED_KINDS.length)] ?? 'truncated';
  const marker = `malformed-${uuidv4()}`;
  const individual = flow === 'individual';
  const base: Record<string, unknown> = individual ? { ...userRegistered(), correlationId: marker } : { ...uniqueEvent(), id: marker };
  const data = (base.payload ?? base.data) as Record<string, unknown>;
  const text = (fieldValue: unknown, field = individual ? 'firstName' : 'name') => {
    data[field] = fieldValue;
    return JSON.stringify(base);
  };
  let body: string | Buffer;
  switch (chosen) {
    case 'truncated':
      body = JSON.stringify(base).slice(0, 40 + Math.floor(next() * 60)) + `"${marker}`;
      break;
    case 'not-json':
      body = `<registration id="${marker}"/>`;
      break;
    case 'empty':
      body = `   \n${' '.repeat(Math.floor(next() * 10))}`;
      break;
    case 'json-scalar':
      body = [`"${marker}"`, '42', 'null', 'true', `["${marker}"]`][Math.floor(next() * 5)] as string;
      break;
    case 'wrong-type': {
      const fields = individual ? ['email', 'userId', 'firstName', 'marketingOptIn', 'tosAcceptedAt'] : ['name', 'users', 'subscription_tier'];
      const values = [42, true, null, [], {}, '', 1e308];
      const field = fields[Math.floor(next() * fields.length)] as string;
      const value = values[Math.floor(next() * values.length)];
      // A boolean where a boolean belongs would still be valid.
      body = text(field === 'marketingOptIn' ? 'yes' : value, field);
      break;
    }
    case 'missing-field': {
      const fields = individual ? ['userId', 'email', 'firstName', 'lastName'] : ['name', 'users', 'subscription_tier'];
      delete data[fields[Math.floor(next() * fields.length)] as string];
      body = JSON.stringify(base);
      break;
    }
    case 'proto-pollution':
      // Invalid besides the keys, so that ignoring them (as the service must) still leaves a rejection.
      data[individual ? 'email' : 'subscription_tier'] = 'not-valid';
      body = JSON.stringify(base).replace(/^\{/, '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},');
      break;
    case 'nul':
      body = text('Ja\u0000ne');
      break;
    case 'lone-surrogate':
      body = text('PLACEHOLDER').replace('PLACEHOLDER', next() < 0.5 ? 'Ja\\ud800ne' : '\\udc00');
      break;
    case 'invalid-utf8':
      body = Buffer.concat([Buffer.from(text('PLACEHOLDER').split('PLACEHOLDER')[0] as string), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from(`${marker}"}}`)]);
      break;
    case 'deep': {
      const depth = 100 + Math.floor(next() * 5_000);
      body = text('PLACEHOLDER').replace('"PLACEHOLDER"', '['.repeat(depth) + ']'.repeat(depth));
      break;
    }
    case 'huge-string':
      body = text('x'.repeat(10_000 + Math.floor(next() * 200_000)));
      break;
    case 'bad-cloudevent':
      body = JSON.stringify(individual ? { ...base, eventType: 7 } : { ...base, specversion: ['0.3', 1, ''][Math.floor(next() * 3)] });
      break;
    case 'bad-email':
      if (individual) data.email = ['no-at-sign', 'a@', '@b', 'a b@c.d', `${'x'.repeat(300)}@example.com`][Math.floor(next() * 5)];
      else (data.users as unknown[])[0] = { name: 'N', email: 'not-an-email', role: 'customer_account_owner' };
      body = JSON.stringify(base);
      break;
    case 'bad-timestamp':
      if (individual) base.timestamp = ['yesterday', '2026-13-45T99:00:00Z', '0000-01-01T00:00:00Z', ''][Math.floor(next() * 4)];
      else base.time = 'not a time';
      body = JSON.stringify(base);
      break;
  }
  return { kind: chosen, marker, body: Buffer.isBuffer(body) ? body : Buffer.from(body) };
}
