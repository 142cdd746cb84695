/**
 * The corporate customer (a company) and its users, per SPEC §3 "Corporate customer". Pure: ids and the clock come in
 * as arguments; the only dependency is the deterministic UUID v5 function.
 */
import { v5 as uuidv5 } from 'uuid';

declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type CompanyId = Brand<string, 'CompanyId'>;
export type CorporateUserId = Brand<string, 'CorporateUserId'>;

export const SUBSCRIPTION_TIERS = ['basic', 'groovy', 'far-out'] as const;
export type SubscriptionTier = (typeof SUBSCRIPTION_TIERS)[number];

/** The roles seeded by migration 0003, in knapscen's order. */
export const USER_ROLES = ['customer_account_owner', 'admin_user', 'generic_user'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const NAME_MAX_LENGTH = 64;
export const EMAIL_MAX_LENGTH = 254;

export interface CorporateUser {
  readonly userId: CorporateUserId;
  readonly name: string;
  readonly email: string;
  readonly role: UserRole;
}

export interface Company {
  readonly customerId: CompanyId;
  readonly name: string;
  readonly subscriptionTier: SubscriptionTier;
  /** In the order the registration listed them. */
  readonly users: readonly CorporateUser[];
  readonly registeredAt: string;
}

/** What a registration says about the company; validated at the edge before it gets here. */
export interface CompanyFacts {
  readonly name: string;
  readonly subscriptionTier: SubscriptionTier;
  readonly users: readonly { readonly name: string; readonly email: string; readonly role: UserRole }[];
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Namespace of the UUID v5 company ids derived from (source, subject). Fixed forever: changing it would give a
 * re-sent event a new company.
 */
export const COMPANY_ID_NAMESPACE = '4f7c2a51-93de-4b8e-a0c6-2d1e5b9f7a30';

/**
 * The company id of a registration event: its `subject` when that is a UUID (knapscen clients send one), otherwise a
 * UUID v5 of (`source`, `subject`). An event without a subject (an old Job template without `CUSTOMER_ID`) falls back
 * to (`source`, event `id`), so at least a rerun of the same event maps to the same company.
 */
export function companyIdFor(source: string, subject: string | undefined, eventId: string): CompanyId {
  if (subject !== undefined && UUID_PATTERN.test(subject)) return subject.toLowerCase() as CompanyId;
  // JSON keeps the parts apart: ("a b", "c") and ("a", "b c") must not collide.
  const name = JSON.stringify(subject === undefined ? [source, 'id', eventId] : [source, 'subject', subject]);
  return uuidv5(name, COMPANY_ID_NAMESPACE) as CompanyId;
}

export function parseCompanyId(value: string): CompanyId | undefined {
  return UUID_PATTERN.test(value) ? (value.toLowerCase() as CompanyId) : undefined;
}

/** Canonical form for uniqueness: e-mail addresses are compared without regard to case. */
export function emailKey(email: string): string {
  return email.toLowerCase();
}

/** Indexes of users whose e-mail repeats an earlier user's in the same registration. */
export function repeatedEmails(users: CompanyFacts['users']): number[] {
  const seen = new Set<string>();
  const repeated: number[] = [];
  users.forEach((user, index) => {
    const key = emailKey(user.email);
    if (seen.has(key)) repeated.push(index);
    seen.add(key);
  });
  return repeated;
}

export function newCompany(
  facts: CompanyFacts,
  customerId: CompanyId,
  newUserId: () => string,
  registeredAt: string,
): Company {
  return {
    customerId,
    name: facts.name,
    subscriptionTier: facts.subscriptionTier,
    users: facts.users.map((user) => ({ userId: newUserId() as CorporateUserId, name: user.name, email: user.email, role: user.role })),
    registeredAt,
  };
}

/** RFC 3339 in UTC with `Z`, without a fractional part when it is zero. */
export function formatInstant(instant: Date): string {
  return instant.toISOString().replace('.000Z', 'Z');
}
