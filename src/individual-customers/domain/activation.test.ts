import { describe, expect, it } from 'vitest';
import { activate, decideActivation, decideActivations, type ActivateCustomer, type ActivationState, type ActivationsState } from './activation.js';
import { newCustomer, type Customer } from './customer.js';
import type { CustomerNumber } from './customer-number.js';
import type { CustomerId, UserId } from './ids.js';

// Given / when / then: the state the command store holds, the UserActivated, the decision.
const pending: Customer = newCustomer(
  {
    userId: '01941234-5678-7abc-def0-123456789abc' as UserId,
    email: 'customer@example.com',
    firstName: 'Jane',
    lastName: 'Doe',
    marketingOptIn: false,
    registeredAt: new Date('2026-01-02T10:30:02Z'),
  },
  '01941234-5678-7abc-def0-123456789020' as CustomerId,
  'ACME-202601-000142' as CustomerNumber,
);
const userActivated: ActivateCustomer = {
  eventId: '01941234-5678-7abc-def0-123456789101',
  userId: pending.userId,
  activatedAt: new Date('2026-01-02T11:00:00Z'),
  causation: { causationId: '01941234-5678-7abc-def0-123456789101', correlationId: '01941234-5678-7abc-def0-123456789002' },
};
const context = { newEventId: '01941234-5678-7abc-def0-123456789110', now: new Date('2026-01-02T11:00:01Z') };

const given = (state: Partial<ActivationState>): ActivationState => ({ customer: pending, alreadyProcessed: false, ...state });

describe('activation decision', () => {
  it('given a customer pending verification, when the user is activated, then the customer is active, verified and touched at activatedAt', () => {
    const decision = decideActivation(given({}), userActivated, context);
    expect(decision.outcome).toBe('activated');
    if (decision.outcome !== 'activated') return;
    expect(decision.customer).toStrictEqual({
      ...pending,
      status: 'ACTIVE',
      email: { address: 'customer@example.com', verified: true },
      lastActivityAt: '2026-01-02T11:00:00Z',
    });
  });

  it('given a customer pending verification, when the user is activated, then one CustomerActivated is emitted in the registration envelope', () => {
    const decision = decideActivation(given({}), userActivated, context);
    if (decision.outcome !== 'activated') throw new Error(`expected activated, got ${decision.outcome}`);
    expect(decision.event).toStrictEqual({
      eventId: '01941234-5678-7abc-def0-123456789110',
      eventType: 'CustomerActivated',
      eventVersion: '1.0',
      timestamp: '2026-01-02T11:00:01Z',
      aggregateId: '01941234-5678-7abc-def0-123456789020',
      aggregateType: 'Customer',
      correlationId: '01941234-5678-7abc-def0-123456789002',
      causationId: '01941234-5678-7abc-def0-123456789101',
      payload: {
        customerId: '01941234-5678-7abc-def0-123456789020',
        userId: '01941234-5678-7abc-def0-123456789abc',
        customerNumber: 'ACME-202601-000142',
        status: 'ACTIVE',
        emailVerified: true,
        activatedAt: '2026-01-02T11:00:00Z',
      },
    });
    expect(Object.keys(decision.event)).toEqual([
      'eventId', 'eventType', 'eventVersion', 'timestamp', 'aggregateId', 'aggregateType', 'correlationId', 'causationId', 'payload',
    ]);
  });

  it('keeps the milliseconds of activatedAt when it has them, like registeredAt', () => {
    const decision = decideActivation(given({}), { ...userActivated, activatedAt: new Date('2026-01-02T11:00:00.250Z') }, context);
    if (decision.outcome !== 'activated') throw new Error(`expected activated, got ${decision.outcome}`);
    expect(decision.customer.lastActivityAt).toBe('2026-01-02T11:00:00.250Z');
    expect(decision.event.payload.activatedAt).toBe('2026-01-02T11:00:00.250Z');
  });

  it('given an active customer, when the user is activated again (another eventId), then it is a duplicate and nothing changes', () => {
    const active = activate(pending, new Date('2026-01-02T11:00:00Z'));
    expect(decideActivation(given({ customer: active }), { ...userActivated, eventId: 'another' }, context)).toStrictEqual({
      outcome: 'duplicate',
      reason: 'already-active',
      customer: active,
    });
  });

  it('given the event was already processed, when it is delivered again, then it is a redelivery', () => {
    const active = activate(pending, new Date('2026-01-02T11:00:00Z'));
    expect(decideActivation(given({ customer: active, alreadyProcessed: true }), userActivated, context)).toMatchObject({
      outcome: 'duplicate',
      reason: 'redelivered',
    });
  });

  it('given no customer for the user, when the user is activated, then the customer is not found (nothing to write)', () => {
    expect(decideActivation(given({ customer: undefined }), userActivated, context)).toStrictEqual({ outcome: 'customer-not-found' });
    expect(decideActivation(given({ customer: undefined, alreadyProcessed: true }), userActivated, context)).toStrictEqual({
      outcome: 'customer-not-found',
    });
  });
});

describe('activation decision over a batch', () => {
  const batchState = (state: Partial<ActivationsState> = {}): ActivationsState => ({
    processed: new Set(),
    customers: new Map([[pending.userId, pending]]),
    streamVersions: new Map([[pending.customerId, 1]]),
    ...state,
  });
  const ids = () => {
    let next = 0;
    return { newId: () => `id-${++next}`, now: context.now };
  };

  it('given a customer pending verification whose stream holds its registration, when activated, then the event takes version 2', () => {
    const [decision] = decideActivations(batchState(), [userActivated], ids());
    expect(decision).toMatchObject({ outcome: 'activated', streamVersion: 2, customer: { status: 'ACTIVE' } });
  });

  it('given a customer without events (an adopted row), when activated, then the event takes version 1', () => {
    const [decision] = decideActivations(batchState({ streamVersions: new Map() }), [userActivated], ids());
    expect(decision).toMatchObject({ outcome: 'activated', streamVersion: 1 });
  });

  it('given one customer, when two events activate the user in one batch, then the second is a duplicate of the now active customer', () => {
    const [first, second] = decideActivations(batchState(), [userActivated, { ...userActivated, eventId: 'another' }], ids());
    expect(first?.outcome).toBe('activated');
    expect(second).toStrictEqual({ outcome: 'duplicate', reason: 'already-active', customer: first?.outcome === 'activated' && first.customer });
  });

  it('given one customer, when the same event comes twice in one batch (in any case), then the second is a redelivery', () => {
    const [, second] = decideActivations(batchState(), [userActivated, { ...userActivated, eventId: userActivated.eventId.toUpperCase() }], ids());
    expect(second).toMatchObject({ outcome: 'duplicate', reason: 'redelivered' });
  });

  it('given the event was processed before, when delivered again, then it is a redelivery', () => {
    const active = activate(pending, new Date('2026-01-02T11:00:00Z'));
    const [decision] = decideActivations(
      batchState({ processed: new Set([userActivated.eventId]), customers: new Map([[pending.userId, active]]) }),
      [userActivated],
      ids(),
    );
    expect(decision).toStrictEqual({ outcome: 'duplicate', reason: 'redelivered', customer: active });
  });

  it('given no customer for one user, when a batch activates it and another, then only that one is not found', () => {
    const other = { ...userActivated, eventId: 'other-event', userId: '01941234-5678-7abc-def0-0000000000ff' };
    expect(decideActivations(batchState(), [other, userActivated], ids()).map((decision) => decision.outcome)).toEqual([
      'customer-not-found',
      'activated',
    ]);
  });
});
