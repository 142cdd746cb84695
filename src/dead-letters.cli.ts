/**
 * `customer-service dead-letters list | show | replay | discard`: the operator's view of parked input (SPEC §2.3).
 *
 * Replay pushes a letter's original bytes through the same decoding and use case as a live delivery, chosen by the
 * letter's transport and source from the flows' replay routes (`src/flows.ts`); a replay is deduplicated like a redelivery, so replaying twice is harmless.
 * Exit codes: 0 done, 1 a transient failure (try again), 2 a letter is still not acceptable or does not exist.
 */
import { pino } from 'pino';
import type { Command } from 'commander';
import { loadConfig, type Config } from './config.js';
import { replayDeadLetters, type ReplayHandlers } from './platform/dead-letter-replay.js';
import { replayHandlersOf, schemaAdoptions } from './flows.js';
import { createLogger, type Logger } from './platform/logger.js';
import { createProgress, type Progress } from './platform/progress.js';
import type { Metrics } from './platform/metrics.js';
import type { Pool } from './platform/postgres/database.js';
import { getDeadLetter, listDeadLetters, resolveDeadLetter, type DeadLetter, type DeadLetterStatus } from './platform/postgres/dead-letters.js';
import { openDatabase } from './platform/postgres/open-database.js';
import { InvalidInputError } from './platform/validation.js';
import { maskEmails, maskPayloadText } from './platform/personal-data.js';

/** Replay routes of every flow (`src/flows.ts`), by transport and source. */
export function replayHandlers(config: Config, pool: Pool, logger: Logger, metrics?: Metrics): ReplayHandlers {
  return replayHandlersOf({ config, pool, logger, ...(metrics === undefined ? {} : { metrics }) });
}

const STATUSES: readonly DeadLetterStatus[] = ['parked', 'replayed', 'discarded'];
/** Dead letters hold the original input, personal data included: shown in clear only when asked (issue 16). */
const SHOW_PERSONAL_DATA = '--show-personal-data';

export function deadLettersCommand(program: Command): void {
  const command = program.command('dead-letters').description('list, show, replay or discard parked input messages');

  command
    .command('list')
    .description('list dead letters (parked ones by default), oldest first')
    .option('--status <status>', `parked, replayed, discarded or all`, 'parked')
    .option('--reason <code>', 'only this reason code (e.g. RETRIES_EXHAUSTED)')
    .option('--transport <name>', 'only this transport (kafka, nats, …)')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'one JSON object per line')
    .option(SHOW_PERSONAL_DATA, 'show e-mail addresses in error messages (masked by default)')
    .action(async (options: { status: string; reason?: string; transport?: string; limit: string; json?: boolean; showPersonalData?: boolean }) => {
      await withDatabase(async ({ pool }) => {
        const status = parseStatus(options.status);
        const letters = await listDeadLetters(pool, {
          ...(status === undefined ? {} : { status }),
          ...(options.reason === undefined ? {} : { reasonCode: options.reason }),
          ...(options.transport === undefined ? {} : { transport: options.transport }),
          limit: parseLimit(options.limit),
        });
        const clear = options.showPersonalData === true;
        for (const letter of letters) {
          process.stdout.write(
            options.json === true
              ? `${JSON.stringify(summary(letter, clear))}\n`
              : `${letter.id}\t${letter.status}\t${letter.reasonCode}\t${letter.transport}:${position(letter)}\t${letter.parkedAt.toISOString()}\t${truncate(errorText(letter, clear), 100)}\n`,
          );
        }
        if (options.json !== true) process.stderr.write(`${letters.length} dead letter(s)\n`);
      });
    });

  command
    .command('show <id>')
    .description('show one dead letter with its original message (JSON); personal data masked unless --show-personal-data')
    .option(SHOW_PERSONAL_DATA, 'show the payload, headers and error message as stored, personal data included')
    .action(async (id: string, options: { showPersonalData?: boolean }) => {
      await withDatabase(async ({ pool }) => {
        const letter = await getDeadLetter(pool, parseId(id));
        if (letter === undefined) throw InvalidInputError.of('INVALID_VALUE', 'id', `no dead letter ${id}`);
        process.stdout.write(`${JSON.stringify(detail(letter, options.showPersonalData === true), null, 2)}\n`);
      });
    });

  command
    .command('replay [ids...]')
    .description('process dead letters again through the live path (duplicates are recognised, so replaying twice is harmless)')
    .option('--all', 'every parked letter matching the filters')
    .option('--reason <code>', 'with --all: only this reason code')
    .option('--transport <name>', 'with --all: only this transport')
    .option('--limit <n>', 'with --all: at most this many', '1000')
    .action(async (ids: string[], options: { all?: boolean; reason?: string; transport?: string; limit: string }) => {
      if (ids.length === 0 && options.all !== true) throw InvalidInputError.of('MISSING_FIELD', 'ids', 'give dead-letter ids, or --all');
      if (ids.length > 0 && options.all === true) throw InvalidInputError.of('INVALID_VALUE', 'ids', 'give ids or --all, not both');
      await withDatabase(async ({ pool, config, logger }) => {
        const selection =
          options.all === true
            ? {
                filter: {
                  ...(options.reason === undefined ? {} : { reasonCode: options.reason }),
                  ...(options.transport === undefined ? {} : { transport: options.transport }),
                  limit: parseLimit(options.limit),
                },
              }
            : { ids: ids.map(parseId) };
        let progress: Progress | undefined;
        const reports = await replayDeadLetters(pool, replayHandlers(config, pool, logger), selection, (done, total) => {
          progress ??= createProgress({ label: 'dead-letters replay', unit: 'letters', total });
          progress.set(done);
        });
        progress?.finish();
        for (const report of reports) process.stdout.write(`${report.id}\t${report.outcome}\t${report.detail}\n`);
        const count = (outcome: string) => reports.filter((report) => report.outcome === outcome).length;
        process.stderr.write(`replayed ${count('replayed')}, rejected ${count('rejected')}, failed ${count('failed')}, skipped ${count('skipped')}\n`);
        if (count('failed') > 0) process.exitCode = 1;
        else if (count('rejected') > 0 || reports.some((report) => report.detail === 'no such dead letter')) process.exitCode = 2;
      });
    });

  command
    .command('discard <ids...>')
    .description('mark parked dead letters as discarded (kept for the record, never replayed by --all)')
    .option('--note <text>', 'why (stored as the resolution)', 'discarded by operator')
    .action(async (ids: string[], options: { note: string }) => {
      await withDatabase(async ({ pool }) => {
        let missing = 0;
        for (const id of ids.map(parseId)) {
          const done = await resolveDeadLetter(pool, id, 'discarded', options.note);
          if (!done) missing += 1;
          process.stdout.write(`${id}\t${done ? 'discarded' : 'not parked (unknown, replayed or discarded already)'}\n`);
        }
        if (missing > 0) process.exitCode = 2;
      });
    });
}

async function withDatabase(work: (context: { pool: Pool; config: Config; logger: Logger }) => Promise<void>): Promise<void> {
  const config = loadConfig();
  // Logs go to stderr: stdout is the command's output.
  const logger = createLogger(config.log, pino.destination(2));
  const database = await openDatabase(config.database, logger, undefined, schemaAdoptions);
  try {
    await work({ pool: database.pool, config, logger });
  } finally {
    await database.close();
  }
}

function parseStatus(value: string): DeadLetterStatus | undefined {
  if (value === 'all') return undefined;
  if ((STATUSES as readonly string[]).includes(value)) return value as DeadLetterStatus;
  throw InvalidInputError.of('INVALID_VALUE', '--status', `expected parked, replayed, discarded or all, got "${value}"`);
}

function parseLimit(value: string): number {
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1) throw InvalidInputError.of('INVALID_VALUE', '--limit', `expected a positive integer, got "${value}"`);
  return limit;
}

function parseId(value: string): string {
  if (!/^\d{1,18}$/.test(value)) throw InvalidInputError.of('INVALID_VALUE', 'id', `expected a numeric dead-letter id, got "${value}"`);
  return value;
}

function position(letter: DeadLetter): string {
  return [letter.source, letter.partition, letter.offset].filter((part) => part !== null).join('/');
}

function errorText(letter: DeadLetter, clear: boolean): string {
  return clear ? letter.errorMessage : maskEmails(letter.errorMessage);
}

function summary(letter: DeadLetter, clear: boolean) {
  return {
    id: letter.id,
    status: letter.status,
    reasonCode: letter.reasonCode,
    transport: letter.transport,
    source: letter.source,
    partition: letter.partition,
    offset: letter.offset,
    messageId: letter.messageId,
    attempts: letter.attempts,
    parkedAt: letter.parkedAt.toISOString(),
    error: errorText(letter, clear),
  };
}

function detail(letter: DeadLetter, clear: boolean) {
  const text = letter.payload.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(letter.payload);
  const headers = clear ? letter.headers : Object.fromEntries(Object.entries(letter.headers).map(([name, value]) => [name, maskEmails(value)]));
  return {
    ...summary(letter, clear),
    firstFailedAt: letter.firstFailedAt.toISOString(),
    resolvedAt: letter.resolvedAt?.toISOString() ?? null,
    resolution: letter.resolution,
    key: letter.key === null ? null : letter.key.toString('utf8'),
    headers,
    payload: isText ? (clear ? text : maskPayloadText(text)) : null,
    // A binary payload (e.g. Avro) cannot be masked field by field: withheld unless asked for.
    payloadBase64: isText ? undefined : clear ? letter.payload.toString('base64') : null,
    ...(clear ? {} : { personalData: `masked; ${SHOW_PERSONAL_DATA} shows it` }),
    payloadBytes: letter.payload.length,
  };
}

function truncate(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}
