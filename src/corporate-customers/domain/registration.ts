/**
 * Registration of a corporate customer (SPEC §3 "Corporate customer") as a pure decision: given what the command
 * store knows about the company, the input and the e-mails, and a validated registration, what happens. No I/O: ids
 * and the clock come in as arguments. (The shape of the input, its tier, roles, repeated e-mails and account owner are
 * checked at the edge: `customer-registered.schema.ts`.)
 *
 * - the company exists: a duplicate returning it (`redelivered` when this input was processed before,
 *   `company-already-registered` when another event registered it);
 * - the input was processed but the company is gone (removed by hand since): rejected (INVALID_VALUE), rather than
 *   resurrected behind the operator's back;
 * - an e-mail is used by a user of another company: rejected (EMAIL_TAKEN, one violation per such user);
 * - otherwise the company and its users, one `CorporateCustomerRegistered`, one `customer-saved` and one `user-saved`
 *   per user.
 */
import { emailKey, formatInstant, newCompany, type Company, type CompanyFacts, type CompanyId } from './company.js';
import {
  corporateCustomerRegistered,
  customerSaved,
  userSaved,
  type CorporateCustomerRegistered,
  type CustomerSaved,
  type UserSaved,
} from './events.js';

/** What the decision needs of a registration; validated at the edge before it gets here. */
export interface RegisterCompany {
  readonly companyId: CompanyId;
  readonly company: CompanyFacts;
  /** The event's `time`, when it has one: the registration instant (otherwise the clock's). */
  readonly time?: string;
}

/** What the command store knows when the registration is decided. */
export interface CompanyRegistrationState {
  /** True when this input has been processed before (the inbox has its key). */
  readonly alreadyProcessed: boolean;
  /** The company with this id, if registered. */
  readonly company: Company | undefined;
  /** Which of the registration's e-mails (`emailKey`) already belong to a corporate user. */
  readonly takenEmails: ReadonlySet<string>;
}

/** Why a registration is refused, with a stable reason code and the field it is about. */
export interface CompanyRejection {
  readonly code: 'INVALID_VALUE' | 'EMAIL_TAKEN';
  readonly field: string;
  readonly message: string;
}

export type CompanyRegistrationDecision =
  | {
      readonly outcome: 'created';
      readonly company: Company;
      readonly event: CorporateCustomerRegistered;
      readonly customerSaved: CustomerSaved;
      readonly userSaved: readonly UserSaved[];
    }
  | { readonly outcome: 'duplicate'; readonly reason: 'redelivered' | 'company-already-registered'; readonly company: Company }
  | { readonly outcome: 'rejected'; readonly rejections: readonly [CompanyRejection, ...CompanyRejection[]] };

export interface CompanyRegistrationContext {
  /** A new id (user ids, then event ids). */
  readonly newId: () => string;
  readonly now: Date;
  /** False: the CloudEvents leave the users' e-mail addresses out. */
  readonly publishEmails: boolean;
}

export function decideCompanyRegistration(
  state: CompanyRegistrationState,
  command: RegisterCompany,
  context: CompanyRegistrationContext,
): CompanyRegistrationDecision {
  if (state.company !== undefined) {
    return { outcome: 'duplicate', reason: state.alreadyProcessed ? 'redelivered' : 'company-already-registered', company: state.company };
  }
  if (state.alreadyProcessed) {
    return { outcome: 'rejected', rejections: [{ code: 'INVALID_VALUE', field: 'id', message: 'this event id was already processed for another company' }] };
  }
  const [taken, ...moreTaken] = command.company.users.flatMap((user, index): CompanyRejection[] =>
    state.takenEmails.has(emailKey(user.email))
      ? [{ code: 'EMAIL_TAKEN', field: `data.users.${index}.email`, message: 'is already used by a user of another company' }]
      : [],
  );
  if (taken !== undefined) return { outcome: 'rejected', rejections: [taken, ...moreTaken] };

  const { now } = context;
  const registeredAt = formatInstant(command.time === undefined ? now : new Date(command.time));
  const company = newCompany(command.company, command.companyId, context.newId, registeredAt);
  const publish = { includeEmails: context.publishEmails };
  const saved = customerSaved(company, context.newId(), now, publish);
  const usersSaved = company.users.map((user) => userSaved(company, user, context.newId(), now, publish));
  return { outcome: 'created', company, event: corporateCustomerRegistered(company, context.newId(), now), customerSaved: saved, userSaved: usersSaved };
}

/** The e-mails a registration takes (`emailKey`), in its users' order: the ones to lock and look up before deciding. */
export function emailsOf(command: RegisterCompany): string[] {
  return command.company.users.map((user) => emailKey(user.email));
}
