/**
 * A real MariaDB server (Debian's `mariadb-server`) for one test file: `mariadb-install-db` into a temporary data
 * directory, then `mariadbd` on a free port of 127.0.0.1. Never the machine's own server. Databases are made with
 * knapscen's schema (`disco_services`: MySQL 8 DDL of its repositories, see shared/BACKGROUND.md).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './global-setup.js';

const SERVER = process.env.MARIADBD_BIN ?? '/usr/sbin/mariadbd';
const INSTALL_DB = process.env.MARIADB_INSTALL_DB_BIN ?? '/usr/bin/mariadb-install-db';
const INSTALL_HINT = 'Install it with `apt-get install -y mariadb-server` (Debian; .ci/run does), or set MARIADBD_BIN and MARIADB_INSTALL_DB_BIN.';

/** knapscen's tables (MySQL 8 syntax MariaDB also takes), with its three seeded roles. */
export const KNAPSCEN_DDL = /* sql */ `
CREATE TABLE corporate_customers (
  id CHAR(36) PRIMARY KEY DEFAULT (UUID()),
  name VARCHAR(64) NOT NULL,
  subscription_tier ENUM('basic', 'groovy', 'far-out') NOT NULL,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE user_roles (
  id CHAR(36) PRIMARY KEY DEFAULT (UUID()),
  role_name VARCHAR(64) NOT NULL UNIQUE,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO user_roles (role_name) VALUES ('customer_account_owner'), ('admin_user'), ('generic_user');
CREATE TABLE users (
  id CHAR(36) PRIMARY KEY DEFAULT (UUID()),
  customer_id CHAR(36) NOT NULL,
  role_id CHAR(36) NOT NULL,
  name VARCHAR(64) NOT NULL,
  email VARCHAR(64) NOT NULL UNIQUE,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  FOREIGN KEY (customer_id) REFERENCES corporate_customers (id) ON DELETE CASCADE,
  FOREIGN KEY (role_id) REFERENCES user_roles (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE touchpoints (
  id CHAR(36) PRIMARY KEY DEFAULT (UUID()),
  customer_id CHAR(36) NOT NULL,
  welcome_outreach DATE NULL,
  technical_onboarding DATE NULL,
  follow_up_call DATE NULL,
  feedback_session DATE NULL,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  FOREIGN KEY (customer_id) REFERENCES corporate_customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
`;

export interface MariaDbServer {
  readonly port: number;
  /** A new database with knapscen's tables, and its `mysql://` URL (user `knapscen`). */
  createKnapscenDatabase(): Promise<{ readonly url: string; readonly name: string; readonly connection: mysql.Connection }>;
  close(): Promise<void>;
}

let counter = 0;

export async function startMariaDb(): Promise<MariaDbServer> {
  if (!existsSync(SERVER) || !existsSync(INSTALL_DB)) throw new Error(`MariaDB is not installed (${SERVER}). ${INSTALL_HINT}`);
  const dir = await mkdtemp(path.join(tmpdir(), 'customer-service-test-mariadb-'));
  const asRoot = process.getuid?.() === 0;
  // As root, mariadbd refuses to run unless told to run as root (the data directory is ours, not mysql's).
  const user = asRoot ? ['--user=root'] : [];
  const install = spawnSync(
    INSTALL_DB,
    ['--no-defaults', `--datadir=${path.join(dir, 'data')}`, ...user, '--auth-root-authentication-method=normal', '--skip-test-db'],
    { encoding: 'utf8' },
  );
  if (install.status !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr || install.stdout}`);
  const port = await freePort();
  const child: ChildProcess = spawn(
    SERVER,
    [
      '--no-defaults',
      `--datadir=${path.join(dir, 'data')}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${path.join(dir, 'mysqld.sock')}`,
      `--pid-file=${path.join(dir, 'mysqld.pid')}`,
      ...user,
      '--skip-log-bin',
      '--skip-name-resolve',
      '--innodb-buffer-pool-size=32M',
      '--max-connections=200',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const root = { host: '127.0.0.1', port, user: 'root' };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const probe = await mysql.createConnection(root);
      await probe.end();
      break;
    } catch (error) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`mariadbd did not start: ${(error as Error).message}\n${log}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  const admin = await mysql.createConnection({ ...root, multipleStatements: true });
  await admin.query("CREATE USER 'knapscen'@'%' IDENTIFIED BY 'disco'");
  return {
    port,
    createKnapscenDatabase: async () => {
      counter += 1;
      const name = `disco_services_${process.pid}_${counter}`;
      await admin.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; GRANT ALL ON ${name}.* TO 'knapscen'@'%'`);
      const connection = await mysql.createConnection({ ...root, database: name, multipleStatements: true });
      await connection.query(KNAPSCEN_DDL);
      return { url: `mysql://knapscen:disco@127.0.0.1:${port}/${name}`, name, connection };
    },
    close: async () => {
      await admin.end().catch(() => undefined);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
