/**
 * What the corporate flow emits (SPEC §3): the `CorporateCustomerRegistered` domain event kept in the event store, and
 * the CloudEvents `customer-saved` (one per company) and `user-saved` (one per user) that the knapscen downstream
 * Jobs read. Their `data` is a superset of what those Jobs read today; key order follows knapscen's samples.
 */
import type { Company, CorporateUser, SubscriptionTier, UserRole } from './company.js';
import { formatInstant } from './company.js';

export const CLOUDEVENT_SOURCE = 'knapscen.disco';
export const CUSTOMER_REGISTERED_TYPE = 'disco.knapscen.customer.registered';
export const CUSTOMER_SAVED_TYPE = 'disco.knapscen.customer.saved';
export const USER_SAVED_TYPE = 'disco.knapscen.user.saved';

export interface OutgoingCloudEvent<Type extends string, Data> {
  readonly specversion: '1.0';
  readonly type: Type;
  readonly source: typeof CLOUDEVENT_SOURCE;
  readonly subject: string;
  readonly id: string;
  readonly time: string;
  readonly datacontenttype: 'application/json';
  readonly data: Data;
}

export interface CustomerSavedData {
  readonly customer_id: string;
  readonly name: string;
  readonly subscription_tier: SubscriptionTier;
  readonly users: readonly { readonly user_id: string; readonly name: string; readonly email: string; readonly role: UserRole }[];
}

export interface UserSavedData {
  readonly customer_id: string;
  readonly customer_name: string;
  readonly user_id: string;
  readonly user_name: string;
  readonly user_email: string;
  readonly user_role: UserRole;
  readonly email_template: 'welcome';
}

/** The same data with the users' e-mail addresses left out (`NATS_PUBLISH_EMAILS=false`). */
export type CustomerSavedDataWithoutEmails = Omit<CustomerSavedData, 'users'> & {
  readonly users: readonly Omit<CustomerSavedData['users'][number], 'email'>[];
};
export type UserSavedDataWithoutEmail = Omit<UserSavedData, 'user_email'>;

export type CustomerSaved = OutgoingCloudEvent<typeof CUSTOMER_SAVED_TYPE, CustomerSavedData | CustomerSavedDataWithoutEmails>;
export type UserSaved = OutgoingCloudEvent<typeof USER_SAVED_TYPE, UserSavedData | UserSavedDataWithoutEmail>;

/**
 * What the CloudEvents may carry. Sveltos keeps the payloads of the events it reacts to in its management cluster;
 * deployments whose downstream Jobs send no e-mail can keep the addresses out of them (issue 16).
 */
export interface PublishOptions {
  readonly includeEmails?: boolean;
}

/** The domain event of the event store; its payload is the `customer-saved` data plus the registration instant. */
export interface CorporateCustomerRegistered {
  readonly eventId: string;
  readonly eventType: 'CorporateCustomerRegistered';
  readonly eventVersion: '1.0';
  readonly timestamp: string;
  readonly aggregateId: string;
  readonly aggregateType: 'CorporateCustomer';
  readonly payload: CustomerSavedData & { readonly registered_at: string };
}

export function customerSavedData(company: Company): CustomerSavedData {
  return {
    customer_id: company.customerId,
    name: company.name,
    subscription_tier: company.subscriptionTier,
    users: company.users.map((user) => ({ user_id: user.userId, name: user.name, email: user.email, role: user.role })),
  };
}

export function customerSaved(company: Company, id: string, now: Date, options: PublishOptions = {}): CustomerSaved {
  const data = customerSavedData(company);
  return {
    specversion: '1.0',
    type: CUSTOMER_SAVED_TYPE,
    source: CLOUDEVENT_SOURCE,
    subject: company.customerId,
    id,
    time: formatInstant(now),
    datacontenttype: 'application/json',
    data: options.includeEmails === false ? { ...data, users: data.users.map(({ email: _email, ...user }) => user) } : data,
  };
}

export function userSaved(company: Company, user: CorporateUser, id: string, now: Date, options: PublishOptions = {}): UserSaved {
  return {
    specversion: '1.0',
    type: USER_SAVED_TYPE,
    source: CLOUDEVENT_SOURCE,
    subject: `user-${user.userId}`,
    id,
    time: formatInstant(now),
    datacontenttype: 'application/json',
    data: {
      customer_id: company.customerId,
      customer_name: company.name,
      user_id: user.userId,
      user_name: user.name,
      ...(options.includeEmails === false ? {} : { user_email: user.email }),
      user_role: user.role,
      email_template: 'welcome',
    },
  };
}

export function corporateCustomerRegistered(company: Company, eventId: string, now: Date): CorporateCustomerRegistered {
  return {
    eventId,
    eventType: 'CorporateCustomerRegistered',
    eventVersion: '1.0',
    timestamp: formatInstant(now),
    aggregateId: company.customerId,
    aggregateType: 'CorporateCustomer',
    payload: { ...customerSavedData(company), registered_at: company.registeredAt },
  };
}
