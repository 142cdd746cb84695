/** Rows of the corporate command store (`companies`, `company_users`, `user_roles`) to and from `Company`. */
import type { Queryable } from '../platform/postgres/database.js';
import type { Statement } from '../platform/postgres/statements.js';
import type { Company, CompanyId, CorporateUserId, SubscriptionTier, UserRole } from './domain/company.js';
import { formatInstant } from './domain/company.js';

/** The rows of a new company as statements (company, then users) to combine with others (`runTogether`). */
export function insertCompanyStatements(company: Company): Statement[] {
  const statements: Statement[] = [
    {
      text: 'INSERT INTO companies (id, name, subscription_tier, registered_at) VALUES ($1, $2, $3, $4)',
      values: [company.customerId, company.name, company.subscriptionTier, company.registeredAt],
    },
  ];
  if (company.users.length === 0) return statements;
  // The role name → id join fails the statement (NOT NULL) if a role is not seeded, rather than writing a user without one.
  statements.push({
    text: `INSERT INTO company_users (id, customer_id, role_id, name, email, position)
     SELECT u.id, $1, r.id, u.name, u.email, u.position
     FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::smallint[]) AS u (id, role, name, email, position)
     LEFT JOIN user_roles r ON r.name = u.role`,
    values: [
      company.customerId,
      company.users.map((user) => user.userId),
      company.users.map((user) => user.role),
      company.users.map((user) => user.name),
      company.users.map((user) => user.email),
      company.users.map((_user, index) => index),
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

/** What a registration transaction loads before it decides. */
export interface CompanyRegistrationRows {
  readonly alreadyProcessed: boolean;
  readonly company: Company | undefined;
  /** Which of the asked e-mails already belong to a corporate user (compared without case), lower-cased. */
  readonly takenEmails: Set<string>;
}

/**
 * Loads, in one statement (one round trip): whether the inbox `consumer` has processed `messageId`, the company of
 * `companyId`, and which of `emails` already belong to a corporate user.
 */
export async function loadCompanyRegistration(
  client: Queryable,
  query: { readonly consumer: string; readonly messageId: string; readonly companyId: CompanyId; readonly emails: readonly string[] },
): Promise<CompanyRegistrationRows> {
  const { rows } = await client.query<Partial<CompanyRow> & { processed: boolean; taken: string[] }>(
    `SELECT x.processed, x.taken, c.*
     FROM (SELECT EXISTS (SELECT 1 FROM inbox WHERE consumer = $2 AND message_id = $3) AS processed,
                  (SELECT coalesce(array_agg(lower(email)), '{}') FROM company_users WHERE lower(email) = ANY($4::text[])) AS taken) AS x
     LEFT JOIN LATERAL (${SELECT_COMPANY}) AS c ON true`,
    [query.companyId, query.consumer, query.messageId, query.emails.map((email) => email.toLowerCase())],
  );
  const row = rows[0];
  return {
    alreadyProcessed: row?.processed === true,
    company: row?.id === undefined || row.id === null ? undefined : toCompany(row as CompanyRow),
    takenEmails: new Set(row?.taken ?? []),
  };
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
