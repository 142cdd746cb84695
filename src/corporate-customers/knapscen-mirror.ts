/**
 * The knapscen MySQL mirror (SPEC §5): with `KNAPSCEN_MYSQL_URL` set, a projection of our event store keeps knapscen's
 * `corporate_customers`, `users` and `user_roles` in step with our companies and users, so knapscen's remaining Jobs
 * (create touchpoints: `SELECT id FROM corporate_customers WHERE name = ?`; welcome e-mails) keep working.
 *
 * - Same ids: a company's and a user's MySQL id is ours; roles are knapscen's own rows, found (or added) by name.
 * - Checkpointed: it runs on the shared projector (`projection_checkpoints`, name `knapscen-mysql`), so it resumes
 *   after a crash or restart from the last batch whose MySQL transaction committed.
 * - Idempotent: a batch is one MySQL transaction of upserts; replaying it (a crash between the MySQL commit and the
 *   checkpoint's) writes the same rows, timestamps included (`created_at` = `updated_at` = our registration time).
 * - Never half-mirrored: knapscen's columns are narrower than ours (`users.email` VARCHAR(64)), so while the mirror
 *   is on, registrations it could not hold are refused up front (`NOT_MIRRORABLE`, see `knapscenViolations`). A user
 *   whose e-mail belongs to another knapscen row (one we never registered: import it first) fails the batch, which is
 *   retried with backoff and logged; nothing of that batch is written.
 */
import mysql, { type Pool as MySqlPool, type PoolConnection, type RowDataPacket } from 'mysql2/promise';
import { z } from 'zod';
import type { Logger } from '../platform/logger.js';
import type { Projection, StoredEvent } from '../platform/postgres/projector.js';
import type { FieldViolation } from '../platform/validation.js';
import type { CompanyFacts } from './domain/company.js';

export const KNAPSCEN_MIRROR_PROJECTION = 'knapscen-mysql';

/** knapscen's column widths (characters): `corporate_customers.name`, `users.name`, `users.email` are VARCHAR(64). */
export const KNAPSCEN_LIMITS = { companyName: 64, userName: 64, email: 64 } as const;

/** What knapscen's tables cannot hold of this registration; empty when it can be mirrored. */
export function knapscenViolations(company: CompanyFacts, fieldPrefix = 'data'): FieldViolation[] {
  // MySQL counts characters (code points) in utf8mb4, not UTF-16 units.
  const length = (text: string) => [...text].length;
  const violations: FieldViolation[] = [];
  const tooLong = (field: string, limit: number, what: string): FieldViolation => ({
    code: 'NOT_MIRRORABLE',
    field: `${fieldPrefix}.${field}`,
    message: `is longer than knapscen's ${what} (${limit} characters), and the knapscen mirror is on`,
  });
  if (length(company.name) > KNAPSCEN_LIMITS.companyName) violations.push(tooLong('name', KNAPSCEN_LIMITS.companyName, 'corporate_customers.name'));
  company.users.forEach((user, index) => {
    if (length(user.name) > KNAPSCEN_LIMITS.userName) violations.push(tooLong(`users.${index}.name`, KNAPSCEN_LIMITS.userName, 'users.name'));
    if (length(user.email) > KNAPSCEN_LIMITS.email) violations.push(tooLong(`users.${index}.email`, KNAPSCEN_LIMITS.email, 'users.email'));
  });
  return violations;
}

/** The stored `CorporateCustomerRegistered` payload (see domain/events.ts). */
const registeredPayload = z.object({
  customer_id: z.string(),
  name: z.string(),
  subscription_tier: z.string(),
  registered_at: z.string(),
  users: z.array(z.object({ user_id: z.string(), name: z.string(), email: z.string(), role: z.string() })),
});
type Registered = z.infer<typeof registeredPayload>;

export class MirrorConflictError extends Error {
  override readonly name = 'MirrorConflictError';
}

export interface KnapscenMirror {
  readonly projection: Projection;
  /** A round trip to MySQL (readiness of the mirror). */
  isReachable(): Promise<boolean>;
  close(): Promise<void>;
}

export function openKnapscenMirror(url: string, logger?: Logger): KnapscenMirror {
  const pool: MySqlPool = mysql.createPool({
    uri: url,
    connectionLimit: 2,
    // TIMESTAMP columns are read and written in the session time zone: UTC, whatever the server's default.
    timezone: 'Z',
    charset: 'utf8mb4_unicode_ci',
  });
  const roleIds = new Map<string, string>();

  async function rolesFor(connection: PoolConnection, names: readonly string[]): Promise<Map<string, string>> {
    const missing = [...new Set(names)].filter((name) => !roleIds.has(name));
    if (missing.length > 0) {
      // INSERT IGNORE: knapscen seeds these three; an absent one is added once (role_name is UNIQUE).
      for (const name of missing) await connection.query('INSERT IGNORE INTO user_roles (id, role_name) VALUES (UUID(), ?)', [name]);
      const [rows] = await connection.query<RowDataPacket[]>('SELECT id, role_name FROM user_roles WHERE role_name IN (?)', [missing]);
      for (const row of rows) roleIds.set(String(row.role_name), String(row.id));
    }
    return roleIds;
  }

  async function mirror(registrations: readonly Registered[]): Promise<void> {
    if (registrations.length === 0) return;
    const connection = await pool.getConnection();
    try {
      await connection.query("SET time_zone = '+00:00'");
      await connection.beginTransaction();
      const roles = await rolesFor(connection, registrations.flatMap((registration) => registration.users.map((user) => user.role)));
      await connection.query(
        `INSERT INTO corporate_customers (id, name, subscription_tier, created_at, updated_at) VALUES ?
         ON DUPLICATE KEY UPDATE name = VALUES(name), subscription_tier = VALUES(subscription_tier)`,
        [registrations.map((r) => [r.customer_id, r.name, r.subscription_tier, mysqlTime(r.registered_at), mysqlTime(r.registered_at)])],
      );
      const users = registrations.flatMap((r) => r.users.map((user) => ({ ...user, customerId: r.customer_id, at: mysqlTime(r.registered_at) })));
      if (users.length > 0) {
        // ON DUPLICATE KEY fires on any unique key: an e-mail held by another knapscen row must fail, not overwrite it.
        const [holders] = await connection.query<RowDataPacket[]>('SELECT id, email FROM users WHERE email IN (?)', [users.map((user) => user.email)]);
        const ours = new Set(users.map((user) => user.user_id));
        const foreign = holders.filter((row) => !ours.has(String(row.id)));
        if (foreign.length > 0) {
          throw new MirrorConflictError(`${foreign.length} e-mail(s) already belong to other knapscen users (ids ${foreign.map((row) => String(row.id)).join(', ')}); import them first`);
        }
        await connection.query(
          `INSERT INTO users (id, customer_id, role_id, name, email, created_at, updated_at) VALUES ?
           ON DUPLICATE KEY UPDATE customer_id = VALUES(customer_id), role_id = VALUES(role_id), name = VALUES(name), email = VALUES(email)`,
          [users.map((user) => [user.user_id, user.customerId, roles.get(user.role), user.name, user.email, user.at, user.at])],
        );
      }
      await connection.commit();
    } catch (error) {
      await connection.rollback().catch(() => undefined);
      roleIds.clear();
      throw error;
    } finally {
      connection.release();
    }
  }

  const projection: Projection = {
    name: KNAPSCEN_MIRROR_PROJECTION,
    eventTypes: new Set(['CorporateCustomerRegistered']),
    async apply(events: readonly StoredEvent[]) {
      const registrations = events.map((event) => registeredPayload.parse(event.payload));
      try {
        await mirror(registrations);
      } catch (error) {
        logger?.warn({ err: error, events: events.length }, 'knapscen mirror batch failed; it is retried');
        throw error;
      }
    },
    // knapscen's tables have no generations: a rebuild re-applies every event onto the same rows (upserts).
    resetGeneration: () => Promise.resolve(),
    activate: () => Promise.resolve(),
    dropGeneration: () => Promise.resolve(),
  };

  return {
    projection,
    isReachable: async () => {
      await pool.query('SELECT 1');
      return true;
    },
    close: () => pool.end(),
  };
}

/** RFC 3339 → MySQL DATETIME text in UTC (the session time zone), seconds precision as knapscen's TIMESTAMP columns. */
function mysqlTime(instant: string): string {
  return new Date(instant).toISOString().slice(0, 19).replace('T', ' ');
}
