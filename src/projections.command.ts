/**
 * `customer-service projections rebuild`: rebuilds the customer read model from the event store into a fresh
 * generation while the running service keeps serving the old one, then switches over (see projection-rebuild.ts).
 * Safe to interrupt and rerun. Prints a JSON report on stdout; exit 1 when another rebuild is running (retry later).
 */
import type { Command } from 'commander';
import { loadConfig } from './config.js';
import { customerProjection } from './individual-customers/customer-read-model.js';
import { openCustomerReadModel } from './individual-customers/open-read-model.js';
import { pino } from 'pino';
import { openKnapscenMirror } from './corporate-customers/knapscen-mirror.js';
import { createLogger } from './platform/logger.js';
import { createProgress } from './platform/progress.js';
import { rebuildProjection } from './platform/postgres/projection-rebuild.js';
import { openDatabase } from './platform/postgres/open-database.js';
import { schemaAdoptions } from './flows.js';

export function registerProjectionsCommand(program: Command): void {
  const projections = program.command('projections').description('manage the read-model projections');
  projections
    .command('rebuild')
    .description('rebuild the customer read model from the event store, then switch to it (the old one serves meanwhile)')
    .action(rebuild);
}

async function rebuild(): Promise<void> {
  const config = loadConfig();
  // Logs go to stderr: stdout is the JSON report.
  const logger = createLogger(config.log, pino.destination(2));
  const database = await openDatabase(config.database, logger, undefined, schemaAdoptions);
  try {
    const readModel = await openCustomerReadModel(config.readModel, database.pool);
    try {
      const progress = createProgress({ label: 'projections rebuild', unit: 'events' });
      const report = await rebuildProjection(database.pool, customerProjection(readModel), {
        logger,
        batchSize: Math.max(config.readModel.batchSize, 1_000),
        onProgress: (events) => progress.set(events),
      });
      progress.finish();
      process.stdout.write(`${JSON.stringify(report)}\n`);
    } finally {
      await readModel.close();
    }
    if (config.knapscenMirror !== undefined) {
      // knapscen's MySQL tables: every corporate event re-applied (upserts onto the same rows), one more report line.
      const mirror = openKnapscenMirror(config.knapscenMirror.mysqlUrl, logger);
      try {
        const report = await rebuildProjection(database.pool, mirror.projection, { logger, batchSize: Math.max(config.readModel.batchSize, 1_000) });
        process.stdout.write(`${JSON.stringify(report)}\n`);
      } finally {
        await mirror.close();
      }
    }
  } finally {
    await database.close();
  }
}
