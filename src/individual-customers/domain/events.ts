/** The domain events of the individual-customer flow, in the envelope the ACME platform uses on Kafka. */
import type { Customer } from './customer.js';
import { formatInstant } from './customer.js';

export interface EventEnvelope<Type extends string, Payload> {
  readonly eventId: string;
  readonly eventType: Type;
  readonly eventVersion: '1.0';
  readonly timestamp: string;
  readonly aggregateId: string;
  readonly aggregateType: 'Customer';
  readonly correlationId: string;
  readonly causationId: string;
  readonly payload: Payload;
}

export type CustomerRegistered = EventEnvelope<
  'CustomerRegistered',
  {
    readonly customerId: string;
    readonly userId: string;
    readonly customerNumber: string;
    readonly email: string;
    readonly firstName: string;
    readonly lastName: string;
    readonly status: Customer['status'];
    readonly type: Customer['type'];
    readonly registeredAt: string;
  }
>;

export type CustomerActivated = EventEnvelope<
  'CustomerActivated',
  {
    readonly customerId: string;
    readonly userId: string;
    readonly customerNumber: string;
    readonly status: 'ACTIVE';
    readonly emailVerified: true;
    readonly activatedAt: string;
  }
>;

/** Every event this flow emits; switch on `eventType` with an exhaustive `never` check. */
export type CustomerEvent = CustomerRegistered | CustomerActivated;

export interface Causation {
  /** The `eventId` of the input event. */
  readonly causationId: string;
  /** Propagated from the input (or its `eventId` when it had none). */
  readonly correlationId: string;
}

export function customerRegistered(customer: Customer, eventId: string, now: Date, causation: Causation): CustomerRegistered {
  return {
    eventId,
    eventType: 'CustomerRegistered',
    eventVersion: '1.0',
    timestamp: formatInstant(now),
    aggregateId: customer.customerId,
    aggregateType: 'Customer',
    correlationId: causation.correlationId,
    causationId: causation.causationId,
    payload: {
      customerId: customer.customerId,
      userId: customer.userId,
      customerNumber: customer.customerNumber,
      email: customer.email.address,
      firstName: customer.name.firstName,
      lastName: customer.name.lastName,
      status: customer.status,
      type: customer.type,
      registeredAt: customer.registeredAt,
    },
  };
}

/** The customer must already be active (`activate` in `activation.ts`); `activatedAt` is its `lastActivityAt`. */
export function customerActivated(customer: Customer, eventId: string, now: Date, causation: Causation): CustomerActivated {
  if (customer.status !== 'ACTIVE') throw new Error('CustomerActivated needs an active customer');
  return {
    eventId,
    eventType: 'CustomerActivated',
    eventVersion: '1.0',
    timestamp: formatInstant(now),
    aggregateId: customer.customerId,
    aggregateType: 'Customer',
    correlationId: causation.correlationId,
    causationId: causation.causationId,
    payload: {
      customerId: customer.customerId,
      userId: customer.userId,
      customerNumber: customer.customerNumber,
      status: 'ACTIVE',
      emailVerified: true,
      activatedAt: customer.lastActivityAt,
    },
  };
}
