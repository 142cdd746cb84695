import { describe, expect, it } from 'vitest';
import { companyIdFor, newCompany, type CompanyId } from './company.js';
import { customerSaved, userSaved } from './events.js';

const ids = ['0199b0d6-0000-7000-8000-000000000001', '0199b0d6-0000-7000-8000-000000000002'];
const company = newCompany(
  {
    name: 'TechCorp Solutions',
    subscriptionTier: 'far-out',
    users: [
      { name: 'John Smith', email: 'john.smith@techcorp.com', role: 'customer_account_owner' },
      { name: 'Jane Doe', email: 'jane.doe@techcorp.com', role: 'admin_user' },
    ],
  },
  '550e8400-e29b-41d4-a716-446655440000' as CompanyId,
  (() => {
    let next = 0;
    return () => ids[next++] ?? 'none';
  })(),
  '2025-10-04T12:00:00Z',
);
const now = new Date('2025-10-04T12:00:01.250Z');

describe('customer-saved CloudEvent', () => {
  it('is SPEC §3, attribute by attribute, in structured mode', () => {
    const event = customerSaved(company, '0199b0d6-0000-7000-8000-0000000000aa', now);
    expect(event).toStrictEqual({
      specversion: '1.0',
      type: 'disco.knapscen.customer.saved',
      source: 'knapscen.disco',
      subject: '550e8400-e29b-41d4-a716-446655440000',
      id: '0199b0d6-0000-7000-8000-0000000000aa',
      time: '2025-10-04T12:00:01.250Z',
      datacontenttype: 'application/json',
      data: {
        customer_id: '550e8400-e29b-41d4-a716-446655440000',
        name: 'TechCorp Solutions',
        subscription_tier: 'far-out',
        users: [
          { user_id: ids[0], name: 'John Smith', email: 'john.smith@techcorp.com', role: 'customer_account_owner' },
          { user_id: ids[1], name: 'Jane Doe', email: 'jane.doe@techcorp.com', role: 'admin_user' },
        ],
      },
    });
  });
});

describe('user-saved CloudEvent', () => {
  it('carries what the welcome-email and touchpoint Jobs read, with subject user-<id>', () => {
    const [owner] = company.users;
    if (owner === undefined) throw new Error('no user');
    expect(userSaved(company, owner, '0199b0d6-0000-7000-8000-0000000000bb', now)).toStrictEqual({
      specversion: '1.0',
      type: 'disco.knapscen.user.saved',
      source: 'knapscen.disco',
      subject: `user-${ids[0]}`,
      id: '0199b0d6-0000-7000-8000-0000000000bb',
      time: '2025-10-04T12:00:01.250Z',
      datacontenttype: 'application/json',
      data: {
        customer_id: '550e8400-e29b-41d4-a716-446655440000',
        customer_name: 'TechCorp Solutions',
        user_id: ids[0],
        user_name: 'John Smith',
        user_email: 'john.smith@techcorp.com',
        user_role: 'customer_account_owner',
        email_template: 'welcome',
      },
    });
  });
});

describe('company id', () => {
  it('is the subject when it is a UUID, lower-cased', () => {
    expect(companyIdFor('knapscen.disco', '550E8400-E29B-41D4-A716-446655440000', 'evt-1')).toBe('550e8400-e29b-41d4-a716-446655440000');
  });

  it('is the same UUID v5 for the same source and subject, and differs for another source or subject', () => {
    const id = companyIdFor('knapscen.disco', 'acme', 'evt-1');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(companyIdFor('knapscen.disco', 'acme', 'evt-2')).toBe(id);
    expect(companyIdFor('other.source', 'acme', 'evt-1')).not.toBe(id);
    expect(companyIdFor('knapscen.disco', 'acme2', 'evt-1')).not.toBe(id);
  });

  it('falls back to source and event id without a subject', () => {
    expect(companyIdFor('knapscen.disco', undefined, 'evt-1')).toBe(companyIdFor('knapscen.disco', undefined, 'evt-1'));
    expect(companyIdFor('knapscen.disco', undefined, 'evt-1')).not.toBe(companyIdFor('knapscen.disco', undefined, 'evt-2'));
  });
});
