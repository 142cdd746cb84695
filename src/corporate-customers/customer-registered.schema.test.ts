import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseStructured } from '../platform/cloudevents.js';
import { parseCustomerRegistered } from './customer-registered.schema.js';

const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/customer-registered.cloudevent.json', import.meta.url), 'utf8')) as {
  data: Record<string, unknown> & { users: Record<string, unknown>[] };
} & Record<string, unknown>;

function parse(change: (event: typeof fixture) => void) {
  const event = structuredClone(fixture);
  change(event);
  const cloudEvent = parseStructured(event);
  if (!cloudEvent.ok) return cloudEvent;
  return parseCustomerRegistered(cloudEvent.value);
}

function codeOf(change: (event: typeof fixture) => void): { code: string; field: string } | undefined {
  const result = parse(change);
  if (result.ok) return undefined;
  const [first] = result.error.violations;
  return { code: first.code, field: first.field };
}

describe('customer-registered CloudEvent', () => {
  it('accepts the knapscen fixture, company id = the UUID subject', () => {
    const result = parse(() => undefined);
    expect(result.ok && result.value).toEqual({
      eventId: 'evt-customer-20251004120000',
      source: 'knapscen.disco',
      subject: '550e8400-e29b-41d4-a716-446655440000',
      time: '2025-10-04T12:00:00Z',
      companyId: '550e8400-e29b-41d4-a716-446655440000',
      company: {
        name: 'TechCorp Solutions',
        subscriptionTier: 'far-out',
        users: [
          { name: 'John Smith', email: 'john.smith@techcorp.com', role: 'customer_account_owner' },
          { name: 'Jane Doe', email: 'jane.doe@techcorp.com', role: 'admin_user' },
          { name: 'Jim Beam', email: 'jim.beam@techcorp.com', role: 'generic_user' },
        ],
      },
    });
  });

  it('accepts names of exactly 64 characters and e-mails of 254', () => {
    const local = 'a'.repeat(64);
    const domain = `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(254 - 64 - 1 - 63 - 1 - 63 - 1 - 4)}.com`;
    const email = `${local}@${domain}`;
    expect(email).toHaveLength(254);
    expect(parse((event) => {
      event.data.name = 'x'.repeat(64);
      event.data.users = [{ name: 'y'.repeat(64), email, role: 'customer_account_owner' }];
    }).ok).toBe(true);
  });

  it.each([
    ['an unknown tier', (e: typeof fixture) => (e.data.subscription_tier = 'premium'), 'UNKNOWN_TIER', 'data.subscription_tier'],
    ['a missing tier', (e: typeof fixture) => delete e.data.subscription_tier, 'MISSING_FIELD', 'data.subscription_tier'],
    ['an unknown role', (e: typeof fixture) => ((e.data.users[2] as Record<string, unknown>).role = 'superuser'), 'UNKNOWN_ROLE', 'data.users.2.role'],
    ['an empty company name', (e: typeof fixture) => (e.data.name = '  '), 'FIELD_EMPTY', 'data.name'],
    ['a missing company name', (e: typeof fixture) => delete e.data.name, 'MISSING_FIELD', 'data.name'],
    ['a company name over 64', (e: typeof fixture) => (e.data.name = 'x'.repeat(65)), 'FIELD_TOO_LONG', 'data.name'],
    ['an empty user name', (e: typeof fixture) => ((e.data.users[0] as Record<string, unknown>).name = ''), 'FIELD_EMPTY', 'data.users.0.name'],
    ['a user name over 64', (e: typeof fixture) => ((e.data.users[1] as Record<string, unknown>).name = 'y'.repeat(65)), 'FIELD_TOO_LONG', 'data.users.1.name'],
    ['an invalid e-mail', (e: typeof fixture) => ((e.data.users[1] as Record<string, unknown>).email = 'jane.doe.techcorp.com'), 'INVALID_EMAIL', 'data.users.1.email'],
    ['an e-mail over 254', (e: typeof fixture) => ((e.data.users[1] as Record<string, unknown>).email = `${'a'.repeat(250)}@x.com`), 'FIELD_TOO_LONG', 'data.users.1.email'],
    ['a repeated e-mail (any case)', (e: typeof fixture) => ((e.data.users[2] as Record<string, unknown>).email = 'John.Smith@TechCorp.com'), 'DUPLICATE_EMAIL', 'data.users.2.email'],
    ['users that are not a list', (e: typeof fixture) => (e.data.users = 'John' as never), 'INVALID_TYPE', 'data.users'],
    ['no data at all', (e: typeof fixture) => delete (e as Record<string, unknown>).data, 'MISSING_FIELD', 'data'],
    ['a missing CloudEvent id', (e: typeof fixture) => delete e.id, 'INVALID_CLOUDEVENT', 'id'],
    ['a wrong specversion', (e: typeof fixture) => (e.specversion = '0.3'), 'INVALID_CLOUDEVENT', 'specversion'],
  ])('rejects %s with its reason code', (_name, change, code, field) => {
    expect(codeOf(change)).toEqual({ code, field });
  });

  it('reports every violation of the registration, not only the first', () => {
    const result = parse((event) => {
      event.data.subscription_tier = 'gold';
      (event.data.users[0] as Record<string, unknown>).role = 'boss';
    });
    expect(!result.ok && result.error.violations.map((violation) => violation.code)).toEqual(['UNKNOWN_TIER', 'UNKNOWN_ROLE']);
  });
});
