/** The registration use case's command and result, apart from it so that its tracing and adapters need not import it. */
import type { InvalidInputError } from '../platform/validation.js';
import type { Customer } from './domain/customer.js';
import type { CustomerRegistered } from './domain/events.js';
import type { UserRegistered } from './user-registered.schema.js';

export interface RegisterCustomer {
  readonly event: UserRegistered;
  /** W3C trace context of the incoming message, stored in the event metadata and forwarded on publication. */
  readonly trace?: { readonly traceparent?: string; readonly tracestate?: string };
  /** Where the input came from (transport, topic, partition, offset…), kept in the event metadata. */
  readonly source?: Readonly<Record<string, unknown>>;
}

export type RegistrationResult =
  | { readonly outcome: 'created'; readonly customer: Customer; readonly event: CustomerRegistered }
  | {
      readonly outcome: 'duplicate';
      readonly reason: 'redelivered' | 'user-already-registered';
      readonly customer: Customer;
    }
  | { readonly outcome: 'rejected'; readonly error: InvalidInputError }
  | { readonly outcome: 'failed'; readonly error: unknown; readonly transient: boolean };
