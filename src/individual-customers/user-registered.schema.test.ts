import { describe, expect, it } from 'vitest';
import { userRegisteredFixture } from '../../test/support/events.js';
import { parseUserRegistered } from './user-registered.schema.js';

type Mutable = Record<string, unknown> & { payload: Record<string, unknown> };
const fixture = (): Mutable => structuredClone(userRegisteredFixture) as Mutable;

function rejection(input: unknown) {
  const result = parseUserRegistered(input);
  if (result.ok) throw new Error('expected a rejection');
  return result.error.violations.map(({ field, code }) => ({ field, code }));
}

describe('UserRegistered schema', () => {
  it('accepts the identity service’s fixture and ignores unknown fields', () => {
    const result = parseUserRegistered({ ...fixture(), verificationToken: 'abc', payload: { ...fixture().payload, extra: 1 } });
    expect(result.ok).toBe(true);
  });

  it.each([
    ['a missing field', (e: Mutable) => delete e.payload.email, { field: 'payload.email', code: 'MISSING_FIELD' }],
    ['an invalid email', (e: Mutable) => (e.payload.email = 'not-an-email'), { field: 'payload.email', code: 'INVALID_EMAIL' }],
    ['an invalid UUID', (e: Mutable) => (e.eventId = '42'), { field: 'eventId', code: 'INVALID_UUID' }],
    ['an invalid userId', (e: Mutable) => (e.payload.userId = 'user-1'), { field: 'payload.userId', code: 'INVALID_UUID' }],
    ['an unparseable timestamp', (e: Mutable) => (e.timestamp = '02/01/2026'), { field: 'timestamp', code: 'INVALID_TIMESTAMP' }],
    ['a wrong type', (e: Mutable) => (e.payload.marketingOptIn = 'yes'), { field: 'payload.marketingOptIn', code: 'INVALID_TYPE' }],
    ['an empty name', (e: Mutable) => (e.payload.firstName = '  '), { field: 'payload.firstName', code: 'FIELD_EMPTY' }],
    ['an over-long name', (e: Mutable) => (e.payload.lastName = 'x'.repeat(51)), { field: 'payload.lastName', code: 'FIELD_TOO_LONG' }],
    ['an aggregateId that is not the user', (e: Mutable) => (e.aggregateId = '01941234-5678-7abc-def0-000000000000'), { field: 'aggregateId', code: 'INVALID_VALUE' }],
    ['another event type', (e: Mutable) => (e.eventType = 'EmailVerified'), { field: 'eventType', code: 'UNSUPPORTED_EVENT_TYPE' }],
    ['another major version', (e: Mutable) => (e.eventVersion = '2.0'), { field: 'eventVersion', code: 'UNSUPPORTED_EVENT_VERSION' }],
  ])('rejects %s with a reason code naming the field', (_name, mutate, expected) => {
    const event = fixture();
    mutate(event);
    expect(rejection(event)).toContainEqual(expected);
  });

  it('reports every violation, not only the first', () => {
    const event = fixture();
    delete event.payload.email;
    event.timestamp = 'soon';
    expect(rejection(event)).toEqual([
      { field: 'timestamp', code: 'INVALID_TIMESTAMP' },
      { field: 'payload.email', code: 'MISSING_FIELD' },
    ]);
  });

  it('rejects a value that is not an object', () => {
    expect(rejection('UserRegistered')).toEqual([{ field: '(root)', code: 'INVALID_TYPE' }]);
  });
});
