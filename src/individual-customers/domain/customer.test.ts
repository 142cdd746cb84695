import { describe, expect, it } from 'vitest';
import { formatInstant, newCustomer } from './customer.js';
import type { CustomerNumber } from './customer-number.js';
import { customerRegistered } from './events.js';
import type { CustomerId, UserId } from './ids.js';

const facts = {
  userId: '01941234-5678-7abc-def0-123456789abc' as UserId,
  email: 'customer@example.com',
  firstName: 'Jane',
  lastName: 'Doe',
  marketingOptIn: false,
  registeredAt: new Date('2026-01-02T10:30:02Z'),
};
const customerId = '01941234-5678-7abc-def0-123456789020' as CustomerId;
const customerNumber = 'ACME-202601-000142' as CustomerNumber;

describe('new individual customer', () => {
  it('is the seed’s "Initial Profile State", field by field', () => {
    expect(newCustomer(facts, customerId, customerNumber)).toStrictEqual({
      customerId: '01941234-5678-7abc-def0-123456789020',
      userId: '01941234-5678-7abc-def0-123456789abc',
      customerNumber: 'ACME-202601-000142',
      name: { firstName: 'Jane', lastName: 'Doe', displayName: 'Jane Doe' },
      email: { address: 'customer@example.com', verified: false },
      phone: null,
      status: 'PENDING_VERIFICATION',
      type: 'INDIVIDUAL',
      profile: { dateOfBirth: null, gender: null, preferredLocale: 'en-US', timezone: 'UTC', preferredCurrency: 'USD' },
      preferences: {
        communication: { email: true, sms: false, push: false, marketing: false },
        privacy: { shareDataWithPartners: false, allowAnalytics: true },
      },
      addresses: [],
      segments: [],
      registeredAt: '2026-01-02T10:30:02Z',
      lastActivityAt: '2026-01-02T10:30:02Z',
      profileCompleteness: 25,
    });
  });

  it('opts in to marketing only when the user did', () => {
    expect(newCustomer({ ...facts, marketingOptIn: true }, customerId, customerNumber).preferences.communication.marketing).toBe(true);
    expect(newCustomer(facts, customerId, customerNumber).preferences.communication.marketing).toBe(false);
  });

  it('keeps milliseconds when the instant has them', () => {
    expect(formatInstant(new Date('2026-01-02T10:30:02.123Z'))).toBe('2026-01-02T10:30:02.123Z');
  });
});

describe('CustomerRegistered', () => {
  it('is the seed’s envelope, caused by the input event and carrying its correlation id', () => {
    const customer = newCustomer(facts, customerId, customerNumber);
    const event = customerRegistered(customer, '01941234-5678-7abc-def0-123456789010', new Date('2026-01-02T10:30:02Z'), {
      causationId: '01941234-5678-7abc-def0-123456789001',
      correlationId: '01941234-5678-7abc-def0-123456789002',
    });
    expect(event).toStrictEqual({
      eventId: '01941234-5678-7abc-def0-123456789010',
      eventType: 'CustomerRegistered',
      eventVersion: '1.0',
      timestamp: '2026-01-02T10:30:02Z',
      aggregateId: '01941234-5678-7abc-def0-123456789020',
      aggregateType: 'Customer',
      correlationId: '01941234-5678-7abc-def0-123456789002',
      causationId: '01941234-5678-7abc-def0-123456789001',
      payload: {
        customerId: '01941234-5678-7abc-def0-123456789020',
        userId: '01941234-5678-7abc-def0-123456789abc',
        customerNumber: 'ACME-202601-000142',
        email: 'customer@example.com',
        firstName: 'Jane',
        lastName: 'Doe',
        status: 'PENDING_VERIFICATION',
        type: 'INDIVIDUAL',
        registeredAt: '2026-01-02T10:30:02Z',
      },
    });
    expect(Object.keys(event)).toEqual([
      'eventId', 'eventType', 'eventVersion', 'timestamp', 'aggregateId', 'aggregateType', 'correlationId', 'causationId', 'payload',
    ]);
  });
});
