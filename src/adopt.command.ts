/**
 * `customer-service adopt acme [--dry-run]`: takes over the ACME customer service's database in place (see
 * individual-customers/acme-adoption.ts). `--dry-run` reports what it finds and would do, changing nothing; without it the
 * same report is printed, then the adoption and the remaining migrations run (what `migrate` and `serve` also do on such
 * a database). Exit 2, with the reasons, for a database it does not recognise; nothing is changed then.
 */
import type { Command } from 'commander';
import { ConfigError, loadConfig } from './config.js';
import { acmeAdoption, describePlan, type AdoptionPlan } from './individual-customers/acme-adoption.js';
import { createPool } from './platform/postgres/database.js';
import { migrate } from './platform/postgres/migrate.js';
import { migrations } from './platform/postgres/migrations/index.js';
import { inspectSchema, SchemaNotRecognisedError } from './platform/postgres/schema-adoption.js';

export function registerAdoptCommand(program: Command): void {
  const adopt = program.command('adopt').description('take over an existing database of a service this one replaces');
  adopt
    .command('acme')
    .description("adopt the ACME customer service's PostgreSQL database in place: keep every row, serve its customers, continue its numbering")
    .option('--dry-run', 'report what would be done and change nothing')
    .action(async (options: { dryRun?: boolean }) => {
      process.exitCode = await adoptAcmeCommand(options.dryRun === true, (line) => process.stdout.write(`${line}\n`));
    });
}

export async function adoptAcmeCommand(dryRun: boolean, out: (line: string) => void): Promise<number> {
  const config = loadConfig();
  if (config.database.kind !== 'external') {
    throw new ConfigError(['DATABASE_URL: adopt acme needs the ACME database in DATABASE_URL or DB_* (got unset)']);
  }
  const pool = createPool(config.database.connectionString, 2);
  try {
    const client = await pool.connect();
    let layout: Awaited<ReturnType<typeof inspectSchema>>;
    try {
      layout = await inspectSchema(client, migrations, [acmeAdoption]);
      if (layout.kind === 'adoptable') {
        const plan = await acmeAdoption.plan(client, layout.tables);
        for (const line of describePlan(plan)) out(line);
        if (Object.keys(plan.unservedStatuses).length > 0) {
          process.stderr.write('adopt acme: refused (see REFUSED above); nothing was changed\n');
          return 2;
        }
      }
    } finally {
      client.release();
    }
    if (layout.kind === 'unrecognised') throw new SchemaNotRecognisedError(layout.reasons);
    if (layout.kind === 'ours') {
      out("nothing to adopt: this is already customer-service's database (schema_migrations present)");
      return 0;
    }
    if (layout.kind === 'empty') {
      process.stderr.write('adopt acme: no ACME customer tables (customers, customer_preferences, customer_number_sequences) in this database\n');
      return 2;
    }
    if (dryRun) {
      out('dry run: nothing was changed');
      return 0;
    }
    const report = await migrate(pool, migrations, [acmeAdoption]);
    const adopted = report.adopted as AdoptionPlan | undefined;
    out(`adopted: ${adopted === undefined ? 'already adopted by another instance meanwhile' : `${adopted.customers} customers`}; migrations applied: ${report.applied.join(', ') || 'none'}`);
    return 0;
  } finally {
    await pool.end();
  }
}
