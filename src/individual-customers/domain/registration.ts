/**
 * Registration (SPEC §3 "Individual customer") as a pure decision over a batch: given what the command store knows
 * about the batch's users, inputs and months, and the `UserRegistered` commands in order, what happens to each. No
 * I/O: ids, the clock and the number prefix come in as arguments.
 *
 * Per command, in order:
 * - the user has a customer: a duplicate (`redelivered` when this input was processed before or earlier in the batch,
 *   `user-already-registered` otherwise) that returns that customer;
 * - an earlier command of the batch registers the same user: a duplicate of that one (the first command wins);
 * - the input id was processed (or registers a customer earlier in the batch), but for another user: rejected
 *   (INVALID_VALUE), neither a redelivery nor new; the batch decides as consecutive batches would;
 * - otherwise a new customer, numbered from its month's sequence, and one `CustomerRegistered`.
 */
import type { Customer, NewCustomerFacts } from './customer.js';
import { newCustomer } from './customer.js';
import { formatCustomerNumber, yearMonthOf, type YearMonth } from './customer-number.js';
import { customerRegistered, type Causation, type CustomerRegistered } from './events.js';
import type { CustomerId, UserId } from './ids.js';

/** What a registration needs to know of a `UserRegistered`; validated at the edge before it gets here. */
export interface RegistrationCommand {
  /** The input's `eventId`, lower-cased: the inbox key. */
  readonly eventId: string;
  /** `userId` lower-cased. */
  readonly facts: NewCustomerFacts;
  readonly causation: Causation;
}

/** What the command store knows when the batch is decided. */
export interface RegistrationState {
  /** The input event ids (lower-cased) already processed. */
  readonly processed: ReadonlySet<string>;
  /** The customers the batch's users already have. */
  readonly customers: ReadonlyMap<UserId, Customer>;
  /** The last number given in each month of the batch (absent: none yet). */
  readonly lastNumbers: ReadonlyMap<YearMonth, number>;
}

/** A rejection with a stable reason code, which the use case turns into its error. */
export interface RegistrationRejection {
  readonly code: 'INVALID_VALUE';
  readonly field: 'eventId';
  readonly message: string;
}

export type RegistrationDecision =
  | { readonly outcome: 'created'; readonly customer: Customer; readonly event: CustomerRegistered }
  | { readonly outcome: 'duplicate'; readonly reason: 'redelivered' | 'user-already-registered'; readonly customer: Customer }
  | { readonly outcome: 'rejected'; readonly rejection: RegistrationRejection };

export interface RegistrationDecisions {
  /** One per command, in the order of the commands. */
  readonly decisions: readonly RegistrationDecision[];
  /** The last number given in each month that gave numbers in this batch: the new value of its sequence. */
  readonly lastNumbers: ReadonlyMap<YearMonth, number>;
}

export interface RegistrationContext {
  readonly numberPrefix: string;
  /** A new id (customer ids and event ids). */
  readonly newId: () => string;
  readonly now: Date;
}

export function decideRegistrations(
  state: RegistrationState,
  commands: readonly RegistrationCommand[],
  context: RegistrationContext,
): RegistrationDecisions {
  const created = new Map<UserId, Customer>();
  const seenEvents = new Set<string>();
  /** The input ids the batch records as processed: those of the customers it creates. */
  const recorded = new Set(state.processed);
  const lastNumbers = new Map<YearMonth, number>();
  const decisions = commands.map((command): RegistrationDecision => {
    const { userId } = command.facts;
    const redelivered = state.processed.has(command.eventId) || seenEvents.has(command.eventId);
    seenEvents.add(command.eventId);
    const registered = state.customers.get(userId) ?? created.get(userId);
    if (registered !== undefined) {
      return { outcome: 'duplicate', reason: redelivered ? 'redelivered' : 'user-already-registered', customer: registered };
    }
    if (recorded.has(command.eventId)) {
      // The id was used by an event that created a customer for another user: not a redelivery, and not new.
      return {
        outcome: 'rejected',
        rejection: { code: 'INVALID_VALUE', field: 'eventId', message: 'this eventId was already processed for another user' },
      };
    }
    const yearMonth = yearMonthOf(command.facts.registeredAt);
    const sequence = (lastNumbers.get(yearMonth) ?? state.lastNumbers.get(yearMonth) ?? 0) + 1;
    lastNumbers.set(yearMonth, sequence);
    const customer = newCustomer(command.facts, context.newId() as CustomerId, formatCustomerNumber(context.numberPrefix, yearMonth, sequence));
    created.set(userId, customer);
    recorded.add(command.eventId);
    return { outcome: 'created', customer, event: customerRegistered(customer, context.newId(), context.now, command.causation) };
  });
  return { decisions, lastNumbers };
}

/** The months whose sequences a batch may draw from: the ones to lock and load before deciding it. */
export function monthsOf(commands: readonly RegistrationCommand[]): YearMonth[] {
  return [...new Set(commands.map((command) => yearMonthOf(command.facts.registeredAt)))].sort();
}
