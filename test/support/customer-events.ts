/** `CustomerRegistered` events appended straight to the event store, for projector tests that need exact control. */
import { v7 as uuidv7 } from 'uuid';
import type { Queryable } from '../../src/platform/postgres/database.js';
import { appendEvents, type NewEvent } from '../../src/platform/postgres/event-store.js';

let sequence = 0;

export function customerRegisteredEvent(overrides: { email?: string; registeredAt?: string; eventType?: string } = {}): NewEvent {
  sequence += 1;
  const customerId = uuidv7();
  const registeredAt = overrides.registeredAt ?? '2026-01-02T10:30:01Z';
  return {
    streamType: 'Customer',
    streamId: customerId,
    streamVersion: 1,
    eventId: uuidv7(),
    eventType: overrides.eventType ?? 'CustomerRegistered',
    eventVersion: '1.0',
    payload: {
      customerId,
      userId: uuidv7(),
      customerNumber: `TEST-${registeredAt.slice(0, 4)}${registeredAt.slice(5, 7)}-${String(sequence).padStart(6, '0')}-${customerId.slice(-6)}`,
      email: overrides.email ?? `c${sequence}.${customerId.slice(-6)}@example.com`,
      firstName: 'Jane',
      lastName: `Doe${sequence}`,
      status: 'PENDING_VERIFICATION',
      type: 'INDIVIDUAL',
      registeredAt,
      marketingOptIn: sequence % 2 === 0,
    },
    metadata: { correlationId: uuidv7(), causationId: uuidv7() },
    occurredAt: registeredAt,
  };
}

/** Appends `count` new customers' events in one transaction of its own (autocommit). */
export async function appendCustomers(client: Queryable, count: number): Promise<NewEvent[]> {
  const events = Array.from({ length: count }, () => customerRegisteredEvent());
  await appendEvents(client, events);
  return events;
}
