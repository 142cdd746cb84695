/**
 * `customer-service import knapscen`: copies the companies and users knapscen already holds in its MySQL tables
 * (`corporate_customers`, `users`, `user_roles`; `KNAPSCEN_MYSQL_URL`) into our `companies` and `company_users`, with
 * the same ids, so e-mail uniqueness and `GET /api/v1/corporate-customers/{id}` cover them.
 *
 * - Idempotent: a company already here is left as it is (counted `present`); rerunning imports only what is new.
 * - Whole companies: a company is imported with all its users in one transaction, or skipped with a reason (an e-mail a
 *   user of another company already has here, a role we do not know, a tier or length we cannot hold).
 * - Silent downstream: no outbox rows, no events; knapscen announced these companies long ago. (With the mirror on,
 *   nothing is mirrored back either: they are knapscen's own rows.)
 * - Takes the registration's advisory locks (company id, each e-mail), so it can run beside a live service.
 */
import { Command } from 'commander';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { ConfigError, loadConfig } from '../config.js';
import { createLogger } from '../platform/logger.js';
import { createProgress } from '../platform/progress.js';
import { withTransaction, type Pool, type Queryable } from '../platform/postgres/database.js';
import { openDatabase } from '../platform/postgres/open-database.js';
import { lockRegistration, registrationLockKeys } from './register-corporate-customer.js';
import { emailKey, NAME_MAX_LENGTH, parseCompanyId, SUBSCRIPTION_TIERS, USER_ROLES } from './domain/company.js';

export interface ImportSummary {
  readonly companies: { readonly read: number; readonly imported: number; readonly present: number; readonly skipped: number };
  readonly users: { readonly read: number; readonly imported: number };
  /** Why each skipped company was skipped (at most 100 listed). */
  readonly skipped: readonly { readonly id: string; readonly reason: string }[];
}

interface KnapscenCompany {
  readonly id: string;
  readonly name: string;
  readonly tier: string;
  readonly createdAt: Date;
  readonly users: { readonly id: string; readonly name: string; readonly email: string; readonly role: string; readonly createdAt: Date }[];
}

const PAGE_SIZE = 500;

export async function importKnapscen(deps: { readonly pool: Pool; readonly mysqlUrl: string; readonly progress?: (line: string) => void }): Promise<ImportSummary> {
  const source = await mysql.createConnection({ uri: deps.mysqlUrl, timezone: 'Z', dateStrings: false });
  try {
    await source.query("SET time_zone = '+00:00'");
    const [[totals]] = await source.query<RowDataPacket[]>('SELECT count(*) AS n FROM corporate_customers');
    const total = Number(totals?.n ?? 0);
    // Like the other long commands: a line at most once a second while it runs, and a last one; then the summary.
    const progress = deps.progress === undefined ? undefined : createProgress({ label: 'import knapscen', unit: 'companies', total, write: deps.progress });
    const summary = { companies: { read: 0, imported: 0, present: 0, skipped: 0 }, users: { read: 0, imported: 0 }, skipped: [] as { id: string; reason: string }[] };
    let after = '';
    for (;;) {
      const [companies] = await source.query<RowDataPacket[]>(
        'SELECT id, name, subscription_tier, created_at FROM corporate_customers WHERE id > ? ORDER BY id LIMIT ?',
        [after, PAGE_SIZE],
      );
      const last = companies.at(-1);
      if (last === undefined) break;
      after = String(last.id);
      const ids = companies.map((row) => String(row.id));
      const [users] = await source.query<RowDataPacket[]>(
        `SELECT u.id, u.customer_id, u.name, u.email, r.role_name, u.created_at
         FROM users u JOIN user_roles r ON r.id = u.role_id WHERE u.customer_id IN (?) ORDER BY u.created_at, u.id`,
        [ids],
      );
      const page: KnapscenCompany[] = companies.map((row) => ({
        id: String(row.id),
        name: String(row.name),
        tier: String(row.subscription_tier),
        createdAt: row.created_at instanceof Date ? row.created_at : new Date(0),
        users: users
          .filter((user) => String(user.customer_id) === String(row.id))
          .map((user) => ({
            id: String(user.id),
            name: String(user.name),
            email: String(user.email),
            role: String(user.role_name),
            createdAt: user.created_at instanceof Date ? user.created_at : new Date(0),
          })),
      }));
      for (const company of page) {
        summary.companies.read += 1;
        progress?.add();
        summary.users.read += company.users.length;
        const outcome = await importCompany(deps.pool, company);
        if (outcome === 'imported') {
          summary.companies.imported += 1;
          summary.users.imported += company.users.length;
        } else if (outcome === 'present') {
          summary.companies.present += 1;
        } else {
          summary.companies.skipped += 1;
          if (summary.skipped.length < 100) summary.skipped.push({ id: company.id, reason: outcome.skipped });
        }
      }
    }
    progress?.finish();
    deps.progress?.(
      `import knapscen: ${summary.companies.read}/${total} companies read, ${summary.companies.imported} imported, ` +
        `${summary.companies.present} already here, ${summary.companies.skipped} skipped`,
    );
    return summary;
  } finally {
    await source.end();
  }
}

async function importCompany(pool: Pool, company: KnapscenCompany): Promise<'imported' | 'present' | { readonly skipped: string }> {
  const id = parseCompanyId(company.id);
  if (id === undefined) return { skipped: 'the company id is not a UUID' };
  const invalid = whyNot(company);
  if (invalid !== undefined) return { skipped: invalid };
  return withTransaction(pool, async (client) => {
    const emails = company.users.map((user) => emailKey(user.email));
    await lockRegistration(client, registrationLockKeys(id, emails));
    const { rows: present } = await client.query('SELECT 1 FROM companies WHERE id = $1', [id]);
    if (present.length > 0) return 'present';
    const taken = await takenByOthers(client, company);
    if (taken !== undefined) return { skipped: taken };
    await client.query('INSERT INTO companies (id, name, subscription_tier, registered_at, created_at) VALUES ($1, $2, $3, $4, $4)', [
      id,
      company.name,
      company.tier,
      company.createdAt,
    ]);
    if (company.users.length > 0) {
      await client.query(
        `INSERT INTO company_users (id, customer_id, role_id, name, email, position, created_at)
         SELECT u.id, $1, r.id, u.name, u.email, u.position, u.created_at
         FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::timestamptz[]) AS u (id, role, name, email, position, created_at)
         JOIN user_roles r ON r.name = u.role`,
        [
          id,
          company.users.map((user) => user.id.toLowerCase()),
          company.users.map((user) => user.role),
          company.users.map((user) => user.name),
          company.users.map((user) => user.email),
          company.users.map((_user, index) => index),
          company.users.map((user) => user.createdAt),
        ],
      );
    }
    return 'imported';
  });
}

/** What about this company our tables cannot hold; undefined when it can be imported as it is. */
function whyNot(company: KnapscenCompany): string | undefined {
  if (company.name.trim() === '' || [...company.name].length > NAME_MAX_LENGTH) return 'the company name is empty or longer than 64 characters';
  if (!(SUBSCRIPTION_TIERS as readonly string[]).includes(company.tier)) return `unknown subscription tier "${company.tier}"`;
  for (const user of company.users) {
    if (parseCompanyId(user.id) === undefined) return `user ${user.id}: the id is not a UUID`;
    if (!(USER_ROLES as readonly string[]).includes(user.role)) return `user ${user.id}: unknown role "${user.role}"`;
  }
  const emails = company.users.map((user) => emailKey(user.email));
  if (new Set(emails).size !== emails.length) return 'two of its users share an e-mail (compared without case)';
  return undefined;
}

async function takenByOthers(client: Queryable, company: KnapscenCompany): Promise<string | undefined> {
  if (company.users.length === 0) return undefined;
  const { rows } = await client.query<{ id: string; email: string }>(
    'SELECT id::text, lower(email) AS email FROM company_users WHERE lower(email) = ANY($1::text[])',
    [company.users.map((user) => emailKey(user.email))],
  );
  const [first] = rows;
  return first === undefined ? undefined : `the e-mail of user ${company.users.find((user) => emailKey(user.email) === first.email)?.id ?? '?'} already belongs to user ${first.id} here`;
}

export function importKnapscenCommand(): Command {
  return new Command('knapscen')
    .description("copy knapscen's existing companies and users from its MySQL (KNAPSCEN_MYSQL_URL) into this service; idempotent, announces nothing")
    .action(async () => {
      const config = loadConfig();
      if (config.knapscenMirror === undefined) throw new ConfigError(['KNAPSCEN_MYSQL_URL: import knapscen reads from it (got unset)']);
      const database = await openDatabase(config.database, createLogger(config.log, process.stderr));
      try {
        const summary = await importKnapscen({ pool: database.pool, mysqlUrl: config.knapscenMirror.mysqlUrl, progress: (line) => process.stderr.write(`${line}\n`) });
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      } finally {
        await database.close();
      }
    });
}
