/**
 * Activation (SPEC §3 "Activation", story US-0002-06) as a pure decision: given what the command store knows about a
 * user, and a `UserActivated`, what happens. No I/O: the new event id and the clock come in as arguments.
 *
 * `PENDING_VERIFICATION` → `ACTIVE` with the e-mail verified and `lastActivityAt` = the activation instant, and one
 * `CustomerActivated`. A redelivered event, or an activation of a customer already active, changes nothing. No customer
 * for the user yet: the caller retries (Kafka) or answers 409 (HTTP).
 */
import type { Customer } from './customer.js';
import { formatInstant } from './customer.js';
import { customerActivated, type Causation, type CustomerActivated } from './events.js';

/** What an activation needs to know about the user's `UserActivated`; validated at the edge before it gets here. */
export interface ActivateCustomer {
  readonly eventId: string;
  readonly userId: string;
  readonly activatedAt: Date;
  readonly causation: Causation;
}

/** What the command store knows when the activation is decided. */
export interface ActivationState {
  /** The user's customer, if registered. */
  readonly customer: Customer | undefined;
  /** True when this input `eventId` has already been processed (a redelivery). */
  readonly alreadyProcessed: boolean;
}

export type ActivationDecision =
  | { readonly outcome: 'activated'; readonly customer: Customer; readonly event: CustomerActivated }
  | { readonly outcome: 'duplicate'; readonly reason: 'redelivered' | 'already-active'; readonly customer: Customer }
  | { readonly outcome: 'customer-not-found' };

export function decideActivation(
  state: ActivationState,
  command: ActivateCustomer,
  context: { readonly newEventId: string; readonly now: Date },
): ActivationDecision {
  const { customer } = state;
  if (customer === undefined) return { outcome: 'customer-not-found' };
  if (state.alreadyProcessed) return { outcome: 'duplicate', reason: 'redelivered', customer };
  switch (customer.status) {
    case 'ACTIVE':
      return { outcome: 'duplicate', reason: 'already-active', customer };
    case 'PENDING_VERIFICATION': {
      const activated = activate(customer, command.activatedAt);
      return { outcome: 'activated', customer: activated, event: customerActivated(activated, context.newEventId, context.now, command.causation) };
    }
    default:
      return assertNever(customer.status);
  }
}

/** The customer after activation; the read model applies the same rule to `CustomerActivated`. */
export function activate(customer: Customer, activatedAt: Date): Customer {
  return {
    ...customer,
    status: 'ACTIVE',
    email: { ...customer.email, verified: true },
    lastActivityAt: formatInstant(activatedAt),
  };
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
