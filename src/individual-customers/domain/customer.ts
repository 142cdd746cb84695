/**
 * The individual customer aggregate and its rules (SPEC §3 "Individual customer"). Pure: ids, the number and the
 * clock come in as arguments.
 */
import type { CustomerNumber } from './customer-number.js';
import type { CustomerId, UserId } from './ids.js';

export type CustomerStatus = 'PENDING_VERIFICATION' | 'ACTIVE';
export type CustomerType = 'INDIVIDUAL';

/** The customer as the API returns it: the seed's "Initial Profile State" document. */
export interface Customer {
  readonly customerId: CustomerId;
  readonly userId: UserId;
  readonly customerNumber: CustomerNumber;
  readonly name: { readonly firstName: string; readonly lastName: string; readonly displayName: string };
  readonly email: { readonly address: string; readonly verified: boolean };
  readonly phone: null;
  readonly status: CustomerStatus;
  readonly type: CustomerType;
  readonly profile: {
    readonly dateOfBirth: string | null;
    readonly gender: string | null;
    readonly preferredLocale: string;
    readonly timezone: string;
    readonly preferredCurrency: string;
  };
  readonly preferences: {
    readonly communication: { readonly email: boolean; readonly sms: boolean; readonly push: boolean; readonly marketing: boolean };
    readonly privacy: { readonly shareDataWithPartners: boolean; readonly allowAnalytics: boolean };
  };
  readonly addresses: readonly never[];
  readonly segments: readonly string[];
  readonly registeredAt: string;
  readonly lastActivityAt: string;
  readonly profileCompleteness: number;
}

/** What a registration needs to know about the user; validated at the edge before it gets here. */
export interface NewCustomerFacts {
  readonly userId: UserId;
  readonly email: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly marketingOptIn: boolean;
  readonly registeredAt: Date;
}

/** Profile completeness when only name and e-mail are known. */
export const INITIAL_PROFILE_COMPLETENESS = 25;

export function newCustomer(facts: NewCustomerFacts, customerId: CustomerId, customerNumber: CustomerNumber): Customer {
  const registeredAt = formatInstant(facts.registeredAt);
  return {
    customerId,
    userId: facts.userId,
    customerNumber,
    name: {
      firstName: facts.firstName,
      lastName: facts.lastName,
      displayName: `${facts.firstName} ${facts.lastName}`,
    },
    email: { address: facts.email, verified: false },
    phone: null,
    status: 'PENDING_VERIFICATION',
    type: 'INDIVIDUAL',
    profile: { dateOfBirth: null, gender: null, preferredLocale: 'en-US', timezone: 'UTC', preferredCurrency: 'USD' },
    preferences: {
      communication: { email: true, sms: false, push: false, marketing: facts.marketingOptIn },
      privacy: { shareDataWithPartners: false, allowAnalytics: true },
    },
    addresses: [],
    segments: [],
    registeredAt,
    lastActivityAt: registeredAt,
    profileCompleteness: INITIAL_PROFILE_COMPLETENESS,
  };
}

/** RFC 3339 in UTC with `Z`, without a fractional part when it is zero (`2026-01-02T10:30:02Z`, as in the seed). */
export function formatInstant(instant: Date): string {
  return instant.toISOString().replace('.000Z', 'Z');
}
