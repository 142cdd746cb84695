/**
 * Rows of the command store (`customers`, `customer_preferences`) to and from the `Customer` document. The HTTP lookups
 * read the read model instead (`customer-read-model.ts`); the use case reads here, inside its transaction.
 */
import type { Queryable } from '../platform/postgres/database.js';
import type { Statement } from '../platform/postgres/statements.js';
import type { Customer } from './domain/customer.js';
import { formatInstant } from './domain/customer.js';
import type { CustomerNumber, YearMonth } from './domain/customer-number.js';
import type { CustomerId, UserId } from './domain/ids.js';

/** The rows of `customers` as statements (customers, then preferences) to combine with others (`runTogether`). */
export function insertCustomersStatements(customers: readonly Customer[]): Statement[] {
  if (customers.length === 0) return [];
  return [
    {
      text: `INSERT INTO customers (id, user_id, customer_number, first_name, last_name, display_name, email, email_verified,
                            status, type, preferred_locale, timezone, preferred_currency, profile_completeness,
                            registered_at, last_activity_at)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[],
                          $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::int[],
                          $15::timestamptz[], $16::timestamptz[])`,
      values: [
        customers.map((c) => c.customerId),
        customers.map((c) => c.userId),
        customers.map((c) => c.customerNumber),
        customers.map((c) => c.name.firstName),
        customers.map((c) => c.name.lastName),
        customers.map((c) => c.name.displayName),
        customers.map((c) => c.email.address),
        customers.map((c) => c.email.verified),
        customers.map((c) => c.status),
        customers.map((c) => c.type),
        customers.map((c) => c.profile.preferredLocale),
        customers.map((c) => c.profile.timezone),
        customers.map((c) => c.profile.preferredCurrency),
        customers.map((c) => c.profileCompleteness),
        customers.map((c) => c.registeredAt),
        customers.map((c) => c.lastActivityAt),
      ],
    },
    {
      text: `INSERT INTO customer_preferences (customer_id, email_notifications, sms_notifications, push_notifications,
                                       marketing_communications, share_data_with_partners, allow_analytics)
     SELECT * FROM unnest($1::uuid[], $2::bool[], $3::bool[], $4::bool[], $5::bool[], $6::bool[], $7::bool[])`,
      values: [
        customers.map((c) => c.customerId),
        customers.map((c) => c.preferences.communication.email),
        customers.map((c) => c.preferences.communication.sms),
        customers.map((c) => c.preferences.communication.push),
        customers.map((c) => c.preferences.communication.marketing),
        customers.map((c) => c.preferences.privacy.shareDataWithPartners),
        customers.map((c) => c.preferences.privacy.allowAnalytics),
      ],
    },
  ];
}

/** What a transaction of this flow loads before it decides (registration and activation alike). */
export interface CustomerCommandState {
  /** Which of the asked input event ids the inbox consumer has processed. */
  readonly processed: Set<string>;
  /** The customers of the asked users. */
  readonly customers: Customer[];
  /** The current version of each of those customers' event stream (0 for a customer without events, e.g. an adopted row). */
  readonly streamVersions: Map<CustomerId, number>;
  /** The last number given in each of the asked months that has given one. */
  readonly lastNumbers: Map<YearMonth, number>;
  /**
   * When asked for: the read-model document of each of those customers that has one in the active generation of the
   * PostgreSQL read model, with its `_version` (what an activation's document is made from).
   */
  readonly documents: Map<CustomerId, { readonly document: Customer; readonly version: number }>;
}

/**
 * Loads, in one statement (one round trip), which of `eventIds` the inbox `consumer` has processed, the customers of
 * `userIds` with their stream versions, and the number sequences of `months`. (The one-row side keeps the inbox and
 * sequence answers when no customer exists.)
 */
export async function loadCustomerState(
  client: Queryable,
  query: {
    readonly consumer: string;
    readonly eventIds: readonly string[];
    readonly userIds: readonly string[];
    readonly months: readonly YearMonth[];
    /** Also load the customers' documents of the PostgreSQL read model (`documents`). */
    readonly documents?: boolean;
  },
): Promise<CustomerCommandState> {
  const { rows } = await client.query<
    Partial<CustomerRow> & {
      processed: string[];
      numbers: Record<string, number>;
      stream_version: number | null;
      read_model_document?: Customer | null;
      read_model_version?: number | null;
    }
  >(
    `SELECT x.processed, x.numbers, c.*, p.email_notifications, p.sms_notifications, p.push_notifications, p.marketing_communications,
            p.share_data_with_partners, p.allow_analytics,
            (SELECT max(e.stream_version) FROM event_store e WHERE e.stream_type = 'Customer' AND e.stream_id = c.id::text) AS stream_version
            ${query.documents === true ? READ_MODEL_COLUMNS : ''}
     FROM (SELECT (SELECT coalesce(array_agg(message_id), '{}') FROM inbox WHERE consumer = $1 AND message_id = ANY($2::text[])) AS processed,
                  (SELECT coalesce(json_object_agg(year_month, current_value), '{}')
                   FROM customer_number_sequences WHERE year_month = ANY($4::text[])) AS numbers) AS x
     LEFT JOIN (customers c JOIN customer_preferences p ON p.customer_id = c.id) ON c.user_id = ANY($3::uuid[])
     ${query.documents === true ? READ_MODEL_JOIN : ''}`,
    [query.consumer, query.eventIds, query.userIds, query.months],
  );
  const found = rows.filter((row) => row.id !== null && row.id !== undefined);
  return {
    processed: new Set(rows[0]?.processed ?? []),
    customers: found.map((row) => toCustomer(row as CustomerRow)),
    streamVersions: new Map(found.map((row) => [row.id as CustomerId, row.stream_version ?? 0])),
    lastNumbers: new Map(Object.entries(rows[0]?.numbers ?? {}).map(([month, value]) => [month as YearMonth, value])),
    documents: new Map(
      found.flatMap((row) =>
        row.read_model_document === null || row.read_model_document === undefined || row.read_model_version === null || row.read_model_version === undefined
          ? []
          : [[row.id as CustomerId, { document: row.read_model_document, version: row.read_model_version }] as const],
      ),
    ),
  };
}

/** The PostgreSQL read model's document of each loaded customer, from its active generation (projection `customers`, CUSTOMERS_PROJECTION). */
const READ_MODEL_COLUMNS = ', d.document AS read_model_document, d.version AS read_model_version';
const READ_MODEL_JOIN = `LEFT JOIN customer_documents d
       ON d.generation = (SELECT generation FROM projection_checkpoints WHERE projection = 'customers' AND state = 'active')
      AND d.customer_id = c.id`;

/**
 * The new values of the months' number sequences. The transaction holds the months' locks since before it loaded
 * them (`numberLockKey`), so the values it sets are the loaded ones plus the numbers it gave.
 */
export function setLastNumbersStatement(lastNumbers: ReadonlyMap<YearMonth, number>): Statement | undefined {
  if (lastNumbers.size === 0) return undefined;
  const months = [...lastNumbers.keys()].sort();
  return {
    text: `INSERT INTO customer_number_sequences AS s (year_month, current_value)
     SELECT * FROM unnest($1::varchar[], $2::int[])
     ON CONFLICT (year_month) DO UPDATE SET current_value = excluded.current_value`,
    values: [months, months.map((month) => lastNumbers.get(month))],
  };
}

export type CustomerKey =
  | { readonly by: 'id'; readonly value: CustomerId }
  | { readonly by: 'userId'; readonly value: UserId }
  | { readonly by: 'number'; readonly value: CustomerNumber }
  | { readonly by: 'email'; readonly value: string };

interface CustomerRow {
  id: string;
  user_id: string;
  customer_number: string;
  first_name: string;
  last_name: string;
  display_name: string;
  email: string;
  email_verified: boolean;
  status: Customer['status'];
  type: Customer['type'];
  date_of_birth: string | null;
  gender: string | null;
  preferred_locale: string;
  timezone: string;
  preferred_currency: string;
  profile_completeness: number;
  registered_at: Date;
  last_activity_at: Date;
  email_notifications: boolean;
  sms_notifications: boolean;
  push_notifications: boolean;
  marketing_communications: boolean;
  share_data_with_partners: boolean;
  allow_analytics: boolean;
}

function toCustomer(row: CustomerRow): Customer {
  return {
    customerId: row.id as CustomerId,
    userId: row.user_id as UserId,
    customerNumber: row.customer_number as CustomerNumber,
    name: { firstName: row.first_name, lastName: row.last_name, displayName: row.display_name },
    email: { address: row.email, verified: row.email_verified },
    phone: null,
    status: row.status,
    type: row.type,
    profile: {
      dateOfBirth: row.date_of_birth,
      gender: row.gender,
      preferredLocale: row.preferred_locale,
      timezone: row.timezone,
      preferredCurrency: row.preferred_currency,
    },
    preferences: {
      communication: {
        email: row.email_notifications,
        sms: row.sms_notifications,
        push: row.push_notifications,
        marketing: row.marketing_communications,
      },
      privacy: { shareDataWithPartners: row.share_data_with_partners, allowAnalytics: row.allow_analytics },
    },
    addresses: [],
    segments: [],
    registeredAt: formatInstant(row.registered_at),
    lastActivityAt: formatInstant(row.last_activity_at),
    profileCompleteness: row.profile_completeness,
  };
}

/** Activation of customers (`activation.ts`): status, verified e-mail and last activity, one statement for the batch. */
export function activateCustomersStatement(customers: readonly Customer[]): Statement | undefined {
  if (customers.length === 0) return undefined;
  return {
    text: `UPDATE customers AS c
     SET status = u.status, email_verified = u.verified, last_activity_at = u.last_activity_at, updated_at = NOW()
     FROM unnest($1::uuid[], $2::text[], $3::bool[], $4::timestamptz[]) AS u(id, status, verified, last_activity_at)
     WHERE c.id = u.id`,
    values: [
      customers.map((c) => c.customerId),
      customers.map((c) => c.status),
      customers.map((c) => c.email.verified),
      customers.map((c) => c.lastActivityAt),
    ],
  };
}
