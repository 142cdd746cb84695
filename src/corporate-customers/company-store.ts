/** Rows of the corporate command store (`companies`, `company_users`, `user_roles`) to and from `Company`. */
import type { Queryable } from '../platform/postgres/database.js';
import type { Statement } from '../platform/postgres/statements.js';
import type { Company, CompanyId, CorporateUserId, SubscriptionTier, UserRole } from './domain/company.js';
import { formatInstant } from './domain/company.js';

/**
 * The rows of several new companies as two statements (companies, then all their users), each one multi-row insert
 * however many companies a batch registers; to combine with others (`runTogether`).
 */
export function insertCompaniesStatements(companies: readonly Company[]): Statement[] {
  if (companies.length === 0) return [];
  const users = companies.flatMap((company) => company.users.map((user, position) => ({ company, user, position })));
  const statements: Statement[] = [
    {
      text: `INSERT INTO companies (id, name, subscription_tier, registered_at)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])`,
      values: [
        companies.map((company) => company.customerId),
        companies.map((company) => company.name),
        companies.map((company) => company.subscriptionTier),
        companies.map((company) => company.registeredAt),
      ],
    },
  ];
  if (users.length === 0) return statements;
  // The role name → id join: an unseeded role fails the statement (NOT NULL) rather than writing a user without one.
  statements.push({
    text: `INSERT INTO company_users (id, customer_id, role_id, name, email, position)
     SELECT u.id, u.customer_id, r.id, u.name, u.email, u.position
     FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::smallint[]) AS u (id, customer_id, role, name, email, position)
     LEFT JOIN user_roles r ON r.name = u.role`,
    values: [
      users.map(({ user }) => user.userId),
      users.map(({ company }) => company.customerId),
      users.map(({ user }) => user.role),
      users.map(({ user }) => user.name),
      users.map(({ user }) => user.email),
      users.map(({ position }) => position),
    ],
  });
  return statements;
}

/** The company of `id` with its users in their registration order ($1 is the id). */
const SELECT_COMPANY = `
  SELECT c.id, c.name, c.subscription_tier, c.registered_at,
         coalesce(json_agg(json_build_object('id', u.id, 'name', u.name, 'email', u.email, 'role', r.name) ORDER BY u.position)
                  FILTER (WHERE u.id IS NOT NULL), '[]') AS users
  FROM companies c
  LEFT JOIN company_users u ON u.customer_id = c.id
  LEFT JOIN user_roles r ON r.id = u.role_id
  WHERE c.id = $1
  GROUP BY c.id`;

export async function findCompany(client: Queryable, id: CompanyId): Promise<Company | undefined> {
  const { rows } = await client.query<CompanyRow>(SELECT_COMPANY, [id]);
  const row = rows[0];
  return row === undefined ? undefined : toCompany(row);
}

/** What a transaction registering several companies loads before it decides. */
export interface CompanyRegistrationsRows {
  /** The asked message ids the inbox `consumer` has processed. */
  readonly processed: ReadonlySet<string>;
  /** The asked companies that exist, by id. */
  readonly companies: ReadonlyMap<string, Company>;
  /** Which of the asked e-mails already belong to a corporate user (compared without case), lower-cased. */
  readonly takenEmails: ReadonlySet<string>;
}

/**
 * Loads, in one statement (one round trip): which of `messageIds` the inbox `consumer` has processed, the companies of
 * `companyIds` that exist, and which of `emails` already belong to a corporate user (one row per company found).
 */
export async function loadCompanyRegistrations(
  client: Queryable,
  query: { readonly consumer: string; readonly messageIds: readonly string[]; readonly companyIds: readonly CompanyId[]; readonly emails: readonly string[] },
): Promise<CompanyRegistrationsRows> {
  const { rows } = await client.query<Partial<CompanyRow> & { processed: string[]; taken: string[] }>(
    `SELECT x.processed, x.taken, c.*
     FROM (SELECT (SELECT coalesce(array_agg(message_id), '{}') FROM inbox WHERE consumer = $2 AND message_id = ANY($3::text[])) AS processed,
                  (SELECT coalesce(array_agg(lower(email)), '{}') FROM company_users WHERE lower(email) = ANY($4::text[])) AS taken) AS x
     LEFT JOIN LATERAL (${SELECT_COMPANY.replace('c.id = $1', 'c.id = ANY($1::uuid[])')}) AS c ON true`,
    [query.companyIds, query.consumer, query.messageIds, query.emails.map((email) => email.toLowerCase())],
  );
  const companies = new Map<string, Company>();
  for (const row of rows) if (row.id !== undefined && row.id !== null) companies.set(row.id, toCompany(row as CompanyRow));
  return { processed: new Set(rows[0]?.processed ?? []), companies, takenEmails: new Set(rows[0]?.taken ?? []) };
}

function toCompany(row: CompanyRow): Company {
  return {
    customerId: row.id as CompanyId,
    name: row.name,
    subscriptionTier: row.subscription_tier,
    users: row.users.map((user) => ({ userId: user.id as CorporateUserId, name: user.name, email: user.email, role: user.role })),
    registeredAt: formatInstant(row.registered_at),
  };
}

interface CompanyRow {
  id: string;
  name: string;
  subscription_tier: SubscriptionTier;
  registered_at: Date;
  users: { id: string; name: string; email: string; role: UserRole }[];
}
