/** Rows of the corporate command store (`companies`, `company_users`, `user_roles`) to and from `Company`. */
import type { Queryable } from '../platform/postgres/database.js';
import type { Company, CompanyId, CorporateUserId, SubscriptionTier, UserRole } from './domain/company.js';
import { formatInstant } from './domain/company.js';

export async function insertCompany(client: Queryable, company: Company): Promise<void> {
  await client.query('INSERT INTO companies (id, name, subscription_tier, registered_at) VALUES ($1, $2, $3, $4)', [
    company.customerId,
    company.name,
    company.subscriptionTier,
    company.registeredAt,
  ]);
  if (company.users.length === 0) return;
  // The role name → id join fails the statement (NOT NULL) if a role is not seeded, rather than writing a user without one.
  await client.query(
    `INSERT INTO company_users (id, customer_id, role_id, name, email, position)
     SELECT u.id, $1, r.id, u.name, u.email, u.position
     FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::smallint[]) AS u (id, role, name, email, position)
     LEFT JOIN user_roles r ON r.name = u.role`,
    [
      company.customerId,
      company.users.map((user) => user.userId),
      company.users.map((user) => user.role),
      company.users.map((user) => user.name),
      company.users.map((user) => user.email),
      company.users.map((_user, index) => index),
    ],
  );
}

/** Which of `emails` already belong to a corporate user (compared without case); returns them lower-cased. */
export async function takenEmails(client: Queryable, emails: readonly string[]): Promise<Set<string>> {
  if (emails.length === 0) return new Set();
  const { rows } = await client.query<{ email: string }>(
    'SELECT lower(email) AS email FROM company_users WHERE lower(email) = ANY($1::text[])',
    [emails.map((email) => email.toLowerCase())],
  );
  return new Set(rows.map((row) => row.email));
}

export async function findCompany(client: Queryable, id: CompanyId): Promise<Company | undefined> {
  const { rows } = await client.query<CompanyRow>(
    `SELECT c.id, c.name, c.subscription_tier, c.registered_at,
            coalesce(json_agg(json_build_object('id', u.id, 'name', u.name, 'email', u.email, 'role', r.name) ORDER BY u.position)
                     FILTER (WHERE u.id IS NOT NULL), '[]') AS users
     FROM companies c
     LEFT JOIN company_users u ON u.customer_id = c.id
     LEFT JOIN user_roles r ON r.id = u.role_id
     WHERE c.id = $1
     GROUP BY c.id`,
    [id],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
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
