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

/** What the command store knows when a batch of activations is decided. */
export interface ActivationsState {
  /** The input event ids (lower-cased) already processed. */
  readonly processed: ReadonlySet<string>;
  /** The customers of the batch's users, by user id. */
  readonly customers: ReadonlyMap<string, Customer>;
  /** The current version of each of those customers' event stream (absent: 0, e.g. an adopted row). */
  readonly streamVersions: ReadonlyMap<string, number>;
}

export type ActivationsDecision =
  | (ActivationDecision & { readonly outcome: Exclude<ActivationDecision['outcome'], 'activated'> })
  | (Extract<ActivationDecision, { outcome: 'activated' }> & {
      /** The version of the customer's stream `event` takes. */
      readonly streamVersion: number;
    });

/**
 * Decides a batch in order, each command against the state the earlier ones left: a second activation of the same
 * user in one batch is a duplicate of the first. `command.eventId` is compared lower-cased.
 */
export function decideActivations(
  state: ActivationsState,
  commands: readonly ActivateCustomer[],
  context: { readonly newId: () => string; readonly now: Date },
): ActivationsDecision[] {
  const customers = new Map(state.customers);
  const processed = new Set(state.processed);
  const versions = new Map(state.streamVersions);
  return commands.map((command): ActivationsDecision => {
    const eventId = command.eventId.toLowerCase();
    const customer = customers.get(command.userId);
    const decision = decideActivation({ customer, alreadyProcessed: processed.has(eventId) }, command, {
      newEventId: context.newId(),
      now: context.now,
    });
    if (decision.outcome !== 'activated') return decision;
    customers.set(command.userId, decision.customer);
    processed.add(eventId);
    const streamVersion = (versions.get(decision.customer.customerId) ?? 0) + 1;
    versions.set(decision.customer.customerId, streamVersion);
    return { ...decision, streamVersion };
  });
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
