import { describe, expect, it } from 'vitest';
import { newCustomer, type Customer } from './customer.js';
import type { CustomerNumber, YearMonth } from './customer-number.js';
import type { CustomerId, UserId } from './ids.js';
import { decideRegistrations, monthsOf, type RegistrationCommand, type RegistrationState } from './registration.js';

// Given / when / then: what the command store holds, the batch of UserRegistered commands, the decisions.
const USER_A = '01941234-5678-7abc-def0-00000000000a' as UserId;
const USER_B = '01941234-5678-7abc-def0-00000000000b' as UserId;

function registration(overrides: { eventId?: string; userId?: UserId; registeredAt?: string; correlationId?: string } = {}): RegistrationCommand {
  const eventId = overrides.eventId ?? 'e1';
  return {
    eventId,
    facts: {
      userId: overrides.userId ?? USER_A,
      email: 'customer@example.com',
      firstName: 'Jane',
      lastName: 'Doe',
      marketingOptIn: true,
      registeredAt: new Date(overrides.registeredAt ?? '2026-01-02T10:30:02Z'),
    },
    causation: { causationId: eventId, correlationId: overrides.correlationId ?? `corr-${eventId}` },
  };
}

const existing: Customer = newCustomer(
  { ...registration().facts, userId: USER_A },
  'c-existing' as CustomerId,
  'ACME-202512-000007' as CustomerNumber,
);

function given(state: { processed?: string[]; customers?: Customer[]; lastNumbers?: Record<string, number> } = {}): RegistrationState {
  return {
    processed: new Set(state.processed ?? []),
    customers: new Map((state.customers ?? []).map((customer) => [customer.userId, customer])),
    lastNumbers: new Map(Object.entries(state.lastNumbers ?? {}) as [YearMonth, number][]),
  };
}

/** Ids in the order they are asked for: id-1, id-2, … */
function context() {
  let next = 0;
  return { numberPrefix: 'ACME', newId: () => `id-${++next}`, now: new Date('2026-01-02T10:30:05Z') };
}

const when = (state: RegistrationState, commands: RegistrationCommand[]) => decideRegistrations(state, commands, context());

describe('registration decision', () => {
  describe('given a user without a customer', () => {
    it('when registered, then a customer pending verification is created with the next number of the month, and one CustomerRegistered', () => {
      const { decisions, lastNumbers } = when(given({ lastNumbers: { '202601': 41 } }), [registration()]);
      expect(decisions).toHaveLength(1);
      const [decision] = decisions;
      if (decision?.outcome !== 'created') throw new Error(`expected created, got ${decision?.outcome}`);
      expect(decision.customer).toMatchObject({
        customerId: 'id-1',
        userId: USER_A,
        customerNumber: 'ACME-202601-000042',
        status: 'PENDING_VERIFICATION',
        registeredAt: '2026-01-02T10:30:02Z',
      });
      expect(decision.customer.preferences.communication.marketing).toBe(true);
      expect(decision.event).toStrictEqual({
        eventId: 'id-2',
        eventType: 'CustomerRegistered',
        eventVersion: '1.0',
        timestamp: '2026-01-02T10:30:05Z',
        aggregateId: 'id-1',
        aggregateType: 'Customer',
        correlationId: 'corr-e1',
        causationId: 'e1',
        payload: {
          customerId: 'id-1',
          userId: USER_A,
          customerNumber: 'ACME-202601-000042',
          email: 'customer@example.com',
          firstName: 'Jane',
          lastName: 'Doe',
          status: 'PENDING_VERIFICATION',
          type: 'INDIVIDUAL',
          registeredAt: '2026-01-02T10:30:02Z',
        },
      });
      expect([...lastNumbers]).toEqual([['202601', 42]]);
    });

    it('when registered in a month that has given no number yet, then it gets 000001', () => {
      const { decisions, lastNumbers } = when(given({ lastNumbers: { '202512': 9 } }), [registration()]);
      expect(decisions[0]).toMatchObject({ outcome: 'created', customer: { customerNumber: 'ACME-202601-000001' } });
      expect([...lastNumbers]).toEqual([['202601', 1]]);
    });

    it('numbers by the UTC month of the registration, not of the clock', () => {
      const { decisions } = when(given(), [registration({ registeredAt: '2026-01-31T23:30:00-02:00' })]);
      expect(decisions[0]).toMatchObject({ customer: { customerNumber: 'ACME-202602-000001' } });
    });
  });

  describe('given a batch of new users', () => {
    it('when registered, then each month numbers its customers consecutively in command order, and says where each sequence ends', () => {
      const users = ['01', '02', '03', '04'].map((n) => `01941234-5678-7abc-def0-0000000000${n}` as UserId);
      const { decisions, lastNumbers } = when(given({ lastNumbers: { '202601': 5 } }), [
        registration({ eventId: 'e1', userId: users[0], registeredAt: '2026-01-05T08:00:00Z' }),
        registration({ eventId: 'e2', userId: users[1], registeredAt: '2026-02-01T00:00:00Z' }),
        registration({ eventId: 'e3', userId: users[2], registeredAt: '2026-01-31T23:59:59Z' }),
        registration({ eventId: 'e4', userId: users[3], registeredAt: '2026-02-10T00:00:00Z' }),
      ]);
      expect(decisions.map((decision) => decision.outcome === 'created' && decision.customer.customerNumber)).toEqual([
        'ACME-202601-000006',
        'ACME-202602-000001',
        'ACME-202601-000007',
        'ACME-202602-000002',
      ]);
      expect(Object.fromEntries(lastNumbers)).toEqual({ '202601': 7, '202602': 2 });
    });

    it('asks for a customer id then an event id per customer, in command order', () => {
      const { decisions } = when(given(), [registration({ eventId: 'e1', userId: USER_A }), registration({ eventId: 'e2', userId: USER_B })]);
      expect(decisions.map((decision) => decision.outcome === 'created' && [decision.customer.customerId, decision.event.eventId])).toEqual([
        ['id-1', 'id-2'],
        ['id-3', 'id-4'],
      ]);
    });
  });

  describe('given a user who already has a customer', () => {
    it('when another event registers the user, then it is a duplicate (user-already-registered) returning that customer, and no number is used', () => {
      const { decisions, lastNumbers } = when(given({ customers: [existing] }), [registration({ eventId: 'e9' })]);
      expect(decisions).toStrictEqual([{ outcome: 'duplicate', reason: 'user-already-registered', customer: existing }]);
      expect(lastNumbers.size).toBe(0);
    });

    it('when the event that registered the user is delivered again, then it is a redelivery returning that customer', () => {
      const { decisions, lastNumbers } = when(given({ processed: ['e1'], customers: [existing] }), [registration({ eventId: 'e1' })]);
      expect(decisions).toStrictEqual([{ outcome: 'duplicate', reason: 'redelivered', customer: existing }]);
      expect(lastNumbers.size).toBe(0);
    });
  });

  describe('given an event id already processed for another user', () => {
    it('when it comes with a user without a customer, then it is rejected (INVALID_VALUE on eventId): neither a redelivery nor new', () => {
      const { decisions, lastNumbers } = when(given({ processed: ['e1'], customers: [existing] }), [registration({ eventId: 'e1', userId: USER_B })]);
      expect(decisions).toStrictEqual([
        {
          outcome: 'rejected',
          rejection: { code: 'INVALID_VALUE', field: 'eventId', message: 'this eventId was already processed for another user' },
        },
      ]);
      expect(lastNumbers.size).toBe(0);
    });
  });

  describe('given duplicates within one batch', () => {
    it('when the same event comes twice, then the first creates the customer and the second is a redelivery of it', () => {
      const { decisions, lastNumbers } = when(given(), [registration({ eventId: 'e1' }), registration({ eventId: 'e1' })]);
      const [first, second] = decisions;
      expect(first?.outcome).toBe('created');
      expect(second).toStrictEqual({ outcome: 'duplicate', reason: 'redelivered', customer: first?.outcome === 'created' && first.customer });
      expect(Object.fromEntries(lastNumbers)).toEqual({ '202601': 1 });
    });

    it('when two events register the same user, then the first creates the customer and the second is user-already-registered', () => {
      const { decisions, lastNumbers } = when(given(), [registration({ eventId: 'e1' }), registration({ eventId: 'e2' }), registration({ eventId: 'e1' })]);
      const [first, ...rest] = decisions;
      expect(first?.outcome).toBe('created');
      const customer = first?.outcome === 'created' && first.customer;
      expect(rest).toStrictEqual([
        { outcome: 'duplicate', reason: 'user-already-registered', customer },
        { outcome: 'duplicate', reason: 'redelivered', customer },
      ]);
      expect(Object.fromEntries(lastNumbers)).toEqual({ '202601': 1 });
    });

    it('when one event id comes with two users, then the second is rejected as it would be in a later batch: one input, one customer', () => {
      const { decisions, lastNumbers } = when(given(), [registration({ eventId: 'e1', userId: USER_A }), registration({ eventId: 'e1', userId: USER_B })]);
      expect(decisions.map((decision) => decision.outcome)).toEqual(['created', 'rejected']);
      expect(decisions[1]).toMatchObject({ rejection: { code: 'INVALID_VALUE', field: 'eventId' } });
      expect(Object.fromEntries(lastNumbers)).toEqual({ '202601': 1 });
    });

    it('an event id that only a duplicate used earlier in the batch (nothing recorded for it) still registers a new user, as in a later batch', () => {
      const { decisions } = when(given({ customers: [existing] }), [
        registration({ eventId: 'e1', userId: USER_A }),
        registration({ eventId: 'e1', userId: USER_B }),
      ]);
      expect(decisions.map((decision) => decision.outcome)).toEqual(['duplicate', 'created']);
    });

    it('a rejected command in the middle uses no number: its neighbours stay consecutive', () => {
      const { decisions } = when(given({ processed: ['used'] }), [
        registration({ eventId: 'e1', userId: USER_A }),
        registration({ eventId: 'used', userId: '01941234-5678-7abc-def0-0000000000cc' as UserId }),
        registration({ eventId: 'e3', userId: USER_B }),
      ]);
      expect(decisions.map((decision) => (decision.outcome === 'created' ? decision.customer.customerNumber : decision.outcome))).toEqual([
        'ACME-202601-000001',
        'rejected',
        'ACME-202601-000002',
      ]);
    });
  });

  describe('the months a batch may draw numbers from', () => {
    it('are the UTC months of its registrations, once each, sorted (the order their locks are taken in does not matter, but is stable)', () => {
      expect(
        monthsOf([
          registration({ registeredAt: '2026-03-01T00:00:00Z' }),
          registration({ registeredAt: '2026-01-05T00:00:00Z' }),
          registration({ registeredAt: '2026-03-20T00:00:00Z' }),
        ]),
      ).toEqual(['202601', '202603']);
    });
  });
});
