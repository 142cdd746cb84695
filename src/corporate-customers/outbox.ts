import type { OutboxDeclaration } from '../platform/postgres/outbox.js';

/** knapscen's `customer-saved` subject (NATS): one message per registered company (SPEC §6). */
export const CUSTOMER_SAVED = { destination: 'customer-saved', spanName: 'publish_customer_saved' } as const satisfies OutboxDeclaration;

/** knapscen's `user-saved` subject (NATS): one message per user of the company. */
export const USER_SAVED = { destination: 'user-saved', spanName: 'publish_user_saved' } as const satisfies OutboxDeclaration;
