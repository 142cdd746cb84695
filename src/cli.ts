/**
 * The `customer-service` command line. Every command reads its configuration from the environment (see README) and
 * has `--help`. Exit codes: 0 done, 1 failed (safe to retry), 2 invalid input or configuration (do not retry).
 */
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig } from './config.js';
import { pino } from 'pino';
import { createLogger } from './platform/logger.js';
import { InvalidInputError } from './platform/validation.js';
import { registerAdoptCommand } from './adopt.command.js';
import { registerBenchCommand } from './bench.command.js';
import { SchemaNotRecognisedError } from './platform/postgres/schema-adoption.js';
import { registerProjectionsCommand } from './projections.command.js';
import { openDatabase } from './platform/postgres/open-database.js';
import { SERVICE_VERSION, startService } from './service.js';
import { deadLettersCommand } from './dead-letters.cli.js';
import { flows, schemaAdoptions } from './flows.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_INVALID = 2;

export function buildCli(): Command {
  const program = new Command('customer-service')
    .description('Turns registration events into customer records exactly once, publishes them and answers queries.')
    .version(SERVICE_VERSION, '-V, --version', 'print the version and exit')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('serve', { isDefault: true })
    .description('run the service: HTTP API and the configured consumers and relays (embedded PostgreSQL when none is configured)')
    .action(serve);

  program
    .command('migrate')
    .description('apply pending database migrations and exit (serve also applies them at start)')
    .action(async () => {
      const config = loadConfig();
      // Logs go to stderr, as for every command but serve: stdout is for reports.
      const logger = createLogger(config.log, pino.destination(2));
      const database = await openDatabase(config.database, logger, undefined, schemaAdoptions);
      await database.close();
    });

  deadLettersCommand(program);
  registerProjectionsCommand(program);
  registerAdoptCommand(program);
  // Every flow's commands (src/flows.ts): its own ones (Job mode…), its imports and its sample publishers.
  const importCommand = program.command('import').description('copy existing data of a system this one replaces');
  for (const flow of flows) flow.commands?.top?.(program);
  // `publish` is the parent of every flow's sample publisher (knapscen's publish-*.sh scripts, the identity service).
  const publish = program.command('publish').description('send sample or given events to Kafka, NATS or HTTP (demos, load, support)');
  for (const flow of flows) {
    flow.commands?.publish?.(publish);
    flow.commands?.import?.(importCommand);
  }
  registerBenchCommand(program);
  // A command a flow builds itself (`new Command`, then addCommand) inherits none of the program's settings: without
  // this, a usage error of `publish customer-registered`, `import knapscen` or `register-corporate-customer` ended
  // with commander's own exit 1 ("retry") instead of 2. Only these two settings: a command's help option stays its own.
  const throwUsageErrors = (parent: Command) => {
    for (const command of parent.commands) {
      command.exitOverride().showHelpAfterError();
      throwUsageErrors(command);
    }
  };
  throwUsageErrors(program);

  return program;
}

async function serve(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.log);
  const service = await startService(config, logger);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = (signal: NodeJS.Signals) => {
      // A terminal or `tsx` may deliver the signal twice; the deadline, not a second signal, ends a stuck shutdown.
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const deadline = setTimeout(() => {
        logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown deadline passed; exiting');
        process.exit(EXIT_FAILED);
      }, config.shutdownTimeoutMs);
      deadline.unref();
      service.stop().then(resolve, (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exitCode = EXIT_FAILED;
        resolve();
      });
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });
}

/** Runs the CLI and returns the process exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT_OK : EXIT_INVALID;
    }
    if (error instanceof InvalidInputError || error instanceof SchemaNotRecognisedError) {
      // A usage error of a one-shot command (or an unrecognised schema), for the person typing it.
      process.stderr.write(`${error.message}\n`);
      return EXIT_INVALID;
    }
    const exitCode = error instanceof ConfigError ? EXIT_INVALID : EXIT_FAILED;
    process.stderr.write(`${failureLine(error, exitCode)}\n`);
    return exitCode;
  }
}

/**
 * A command that could not start or failed, as one JSON log line (the shape of every other log line) that log
 * collectors can parse, with the exit code it ends with: 2 = configuration (do not retry), 1 = retry later.
 */
export function failureLine(error: unknown, exitCode: number): string {
  const base = { level: 'fatal', time: new Date().toISOString(), service: 'customer-service', exitCode };
  if (error instanceof ConfigError) {
    return JSON.stringify({ ...base, code: 'INVALID_CONFIGURATION', problems: error.problems, msg: 'Invalid configuration' });
  }
  const err = error instanceof Error ? error : new Error(String(error));
  const code = (err as { code?: unknown }).code;
  return JSON.stringify({
    ...base,
    code: 'COMMAND_FAILED',
    // pino's error shape; the stack stays inside the one line.
    err: { type: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}), stack: err.stack },
    msg: `customer-service failed: ${err.message}`,
  });
}
