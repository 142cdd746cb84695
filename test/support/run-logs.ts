/**
 * Every log line the test suite produces lands in one directory per run (issue 16: "a search of every log line the
 * suite produced for the test e-mails finds none"), so that `log-search.global-setup.ts` can search all of it after
 * the last test file:
 * - in-process loggers: tests take `testLogger()` (the service's own `createLogger`, redaction as in production, level
 *   debug) instead of a silent pino; tests that keep their own sink for assertions wrap it in `teeToRunLogs`;
 * - child processes (`serve`, CLI commands, Job mode, scripts): `teeChildOutput()` (installed for every test file by
 *   `run-logs.setup.ts`) copies the stdout and stderr of every process spawned with `child_process.spawn` into the
 *   directory, next to a `.meta.json` naming the command, the test file and test that spawned it.
 */
import * as childProcess from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
import { pino } from 'pino';
import { expect, inject } from 'vitest';
import { createLogger, type Logger } from '../../src/platform/logger.js';

declare module 'vitest' {
  export interface ProvidedContext {
    runLogDir: string;
  }
}

/** What a child's `.meta.json` holds; the search reads it to name where a line came from. */
export interface ChildMeta {
  readonly command: string;
  readonly args: readonly string[];
  readonly testFile: string | undefined;
  readonly testName: string | undefined;
  /** The child was started with LOG_PERSONAL_DATA=true: the documented opt-in, its logs may carry personal data. */
  readonly logPersonalData: boolean;
}

export function runLogDir(): string {
  return inject('runLogDir');
}

/** This test file's name, usable in a file name. */
function testFileTag(): string {
  const testPath = expect.getState().testPath;
  return testPath === undefined ? 'unknown' : path.relative(process.cwd(), testPath).replace(/[^A-Za-z0-9.-]+/g, '_');
}

let inProcess: pino.DestinationStream | undefined;

/** The file this worker's in-process log lines go to (synchronous writes: nothing is lost when the worker ends). */
export function runLogDestination(): pino.DestinationStream {
  inProcess ??= pino.destination({ dest: path.join(runLogDir(), `in-process.${testFileTag()}.${process.pid}.log`), sync: true, mkdir: true });
  return inProcess;
}

/**
 * The service's logger (redaction as in production) at debug level, writing to the run's log directory and, when
 * given, to `alsoTo` (a test's own sink for assertions).
 */
export function testLogger(options: { level?: 'trace' | 'debug' | 'info' | 'warn'; alsoTo?: { write(line: string): unknown } } = {}): Logger {
  return createLogger({ level: options.level ?? 'debug', personalData: false }, options.alsoTo === undefined ? runLogDestination() : teeToRunLogs(options.alsoTo));
}

/** `sink` as it is, and a copy of every line in the run's log directory. */
export function teeToRunLogs<T extends { write(line: string): unknown }>(sink: T): { write(line: string): void } {
  return {
    write(line: string) {
      sink.write(line);
      runLogDestination().write(line);
    },
  };
}

let children = 0;
let installed = false;

/**
 * Wraps `child_process.spawn` (and, through `syncBuiltinESMExports`, the `spawn` that test modules import by name) so
 * that each child's stdout and stderr are also appended to `<runLogDir>/<pid>-<n>-<command>.{stdout,stderr}.log`.
 * `stdio: 'ignore'` becomes a pipe that is drained into the file; `'inherit'` a pipe forwarded to this process.
 * Streams a test passes itself (file descriptors, sockets) are left alone. Only `spawn`: no test starts the service
 * through `exec`/`execFile`/`fork` (they run openssl, gcc, java -version and the like).
 */
export function teeChildOutput(): void {
  if (installed) return;
  installed = true;
  const original = childProcess.spawn;
  const wrapped = function spawn(command: string, argsOrOptions?: unknown, maybeOptions?: unknown): childProcess.ChildProcess {
    const args = Array.isArray(argsOrOptions) ? (argsOrOptions as string[]) : [];
    const options = ((Array.isArray(argsOrOptions) ? maybeOptions : argsOrOptions) ?? {}) as childProcess.SpawnOptions;
    const given = normalizeStdio(options.stdio);
    const stdio = given.map((entry, fd) => (fd > 0 && fd < 3 && (entry === 'ignore' || entry === 'inherit') ? 'pipe' : entry));
    const child = original(command, args, { ...options, stdio: stdio as childProcess.StdioOptions });
    const dir = runLogDir();
    mkdirSync(dir, { recursive: true });
    const base = path.join(dir, `${process.pid}-${++children}-${path.basename(command).replace(/[^A-Za-z0-9.-]+/g, '_')}`);
    const state = expect.getState();
    const meta: ChildMeta = {
      command,
      args,
      testFile: state.testPath === undefined ? undefined : path.relative(process.cwd(), state.testPath),
      testName: state.currentTestName,
      logPersonalData: /^(true|1)$/i.test(String((options.env ?? process.env).LOG_PERSONAL_DATA ?? '')),
    };
    writeFileSync(`${base}.meta.json`, `${JSON.stringify(meta)}\n`);
    for (const [fd, name] of [[1, 'stdout'], [2, 'stderr']] as const) {
      const stream = child.stdio[fd];
      if (stream === null || stream === undefined || !('on' in stream)) continue;
      const file = `${base}.${name}.log`;
      writeFileSync(file, '');
      stream.on('data', (chunk: Buffer | string) => appendFileSync(file, chunk));
      if (given[fd] === 'inherit') stream.on('data', (chunk: Buffer | string) => (fd === 1 ? process.stdout : process.stderr).write(chunk));
    }
    return child;
  };
  (childProcess as unknown as { default: Record<string, unknown> }).default.spawn = wrapped;
  syncBuiltinESMExports();
}

function normalizeStdio(stdio: childProcess.SpawnOptions['stdio']): unknown[] {
  if (stdio === undefined) return ['pipe', 'pipe', 'pipe'];
  if (typeof stdio === 'string') return [stdio, stdio, stdio];
  const entries = [...stdio];
  while (entries.length < 3) entries.push(undefined);
  return entries.map((entry, fd) => entry ?? (fd < 3 ? 'pipe' : 'ignore'));
}
