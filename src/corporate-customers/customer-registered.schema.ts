/**
 * The `disco.knapscen.customer.registered` CloudEvent (see `shared/fixtures/customer-registered.cloudevent.json`),
 * validated as a whole before anything is written: a bad role on the third user rejects the registration, it does not
 * fail half-way as knapscen's one-Job-per-user chain did. Every violation carries a reason code.
 */
import { z } from 'zod';
import type { CloudEvent } from '../platform/cloudevents.js';
import { InvalidInputError, parseWith, type FieldViolation, type Parsed } from '../platform/validation.js';
import {
  companyIdFor,
  EMAIL_MAX_LENGTH,
  NAME_MAX_LENGTH,
  repeatedEmails,
  SUBSCRIPTION_TIERS,
  USER_ROLES,
  type CompanyFacts,
  type CompanyId,
} from './domain/company.js';
import { CUSTOMER_REGISTERED_TYPE } from './domain/events.js';

const name = z.string().trim().min(1).max(NAME_MAX_LENGTH);

export const companyDataSchema = z.object({
  name,
  // Through z.string() first, so an absent value is MISSING_FIELD rather than an unknown one.
  subscription_tier: z.string().pipe(z.enum(SUBSCRIPTION_TIERS)),
  users: z
    .array(
      z.object({
        name,
        email: z.string().trim().max(EMAIL_MAX_LENGTH).pipe(z.email()),
        role: z.string().pipe(z.enum(USER_ROLES)),
      }),
    )
    // A bound on one transaction's size; knapscen registrations list a handful.
    .max(1000),
});

export type CompanyData = z.output<typeof companyDataSchema>;

/** A validated registration: what the use case needs, whatever transport it came on. */
export interface CorporateRegistration {
  /** CloudEvent `id` and `source`: together the identity of the input event (the inbox key). */
  readonly eventId: string;
  readonly source: string;
  readonly subject?: string;
  readonly time?: string;
  readonly companyId: CompanyId;
  readonly company: CompanyFacts;
}

/** Validates the CloudEvent `data` (`fieldPrefix` names where it sits, e.g. `data` or `COMPANY_DATA`). */
export function parseCompanyData(input: unknown, fieldPrefix = 'data'): Parsed<CompanyFacts> {
  const parsed = parseWith(companyDataSchema, input, fieldPrefix);
  if (!parsed.ok) return { ok: false, error: withDomainCodes(parsed.error, fieldPrefix) };
  const repeated = repeatedEmails(parsed.value.users);
  const [first, ...rest] = repeated.map(
    (index): FieldViolation => ({
      code: 'DUPLICATE_EMAIL',
      field: `${fieldPrefix === '' ? '' : `${fieldPrefix}.`}users.${index}.email`,
      message: 'repeats the e-mail of an earlier user of this registration',
    }),
  );
  if (first !== undefined) return { ok: false, error: new InvalidInputError([first, ...rest]) };
  // knapscen's downstream touchpoints Job assumes an account owner: a company without one cannot be served.
  if (!parsed.value.users.some((user) => user.role === 'customer_account_owner')) {
    const field = `${fieldPrefix === '' ? '' : `${fieldPrefix}.`}users`;
    return { ok: false, error: InvalidInputError.of('MISSING_ACCOUNT_OWNER', field, 'must list at least one customer_account_owner') };
  }
  const { subscription_tier: subscriptionTier, users } = parsed.value;
  return { ok: true, value: { name: parsed.value.name, subscriptionTier, users } };
}

/** Validates a decoded CloudEvent of type `disco.knapscen.customer.registered`. */
export function parseCustomerRegistered(event: CloudEvent): Parsed<CorporateRegistration> {
  if (event.type !== CUSTOMER_REGISTERED_TYPE) {
    return { ok: false, error: InvalidInputError.of('UNSUPPORTED_EVENT_TYPE', 'type', `"${event.type}" is not handled`) };
  }
  const company = parseCompanyData(event.data);
  if (!company.ok) return company;
  return {
    ok: true,
    value: {
      eventId: event.id,
      source: event.source,
      ...(event.subject === undefined ? {} : { subject: event.subject }),
      ...(event.time === undefined ? {} : { time: event.time }),
      companyId: companyIdFor(event.source, event.subject, event.id),
      company: company.value,
    },
  };
}

/** zod says "invalid value" for an enum; the tier and the role have codes of their own. */
function withDomainCodes(error: InvalidInputError, fieldPrefix: string): InvalidInputError {
  const prefix = fieldPrefix === '' ? '' : `${fieldPrefix}.`;
  const tierField = `${prefix}subscription_tier`;
  const rolePattern = new RegExp(`^${escapeRegExp(prefix)}users\\.\\d+\\.role$`);
  const violations = error.violations.map((violation): FieldViolation => {
    if (violation.code === 'MISSING_FIELD') return violation;
    if (violation.field === tierField) {
      return { ...violation, code: 'UNKNOWN_TIER', message: `must be one of ${SUBSCRIPTION_TIERS.join(', ')}` };
    }
    if (rolePattern.test(violation.field)) {
      return { ...violation, code: 'UNKNOWN_ROLE', message: `must be one of ${USER_ROLES.join(', ')}` };
    }
    return violation;
  });
  return new InvalidInputError(violations as [FieldViolation, ...FieldViolation[]]);
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
