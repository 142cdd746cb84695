import type { OutboxDeclaration } from '../platform/postgres/outbox.js';

/** `customer.events` (Kafka): CustomerRegistered, and CustomerActivated with a publication span of its own (SPEC §6). */
export const CUSTOMER_EVENTS = {
  destination: 'customer-events',
  spanName: 'publish_customer_registered',
  spanNamesByEventType: { CustomerActivated: 'publish_customer_activated' },
} as const satisfies OutboxDeclaration;
