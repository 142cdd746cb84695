/**
 * The search behind issue 16's "a search of every log line the suite produced for the test e-mails finds none".
 *
 * What it looks for: every e-mail-shaped string, so that generated addresses (`publish` makes random ones, tests make
 * `user-${n}@example.com`) count as much as the literal ones in test sources and fixtures; `%40` and `\u0040` are
 * read as `@`. Every address the suite handles is a test address, so any address in a log line is one of them.
 *
 * What counts as a log line (see `run-logs.ts` for how they are collected):
 * - every line of an in-process logger and every line a child process writes on stderr;
 * - every line a child writes on stdout (`serve` and Job mode log there), except the report of a command that was
 *   given `--show-personal-data`: that flag asks for personal data on the terminal, so its non-log output (lines
 *   that are not pino records) is output, not a log; its pino records are still searched;
 * - not the output of a child started with LOG_PERSONAL_DATA=true (the documented opt-in that turns redaction off).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ChildMeta } from './run-logs.js';

const ADDRESS = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;

export interface Finding {
  /** The log file, relative to the run's log directory. */
  readonly file: string;
  /** 1-based line number in that file. */
  readonly line: number;
  readonly address: string;
  /** The address is written literally in a test source or fixture. */
  readonly literal: boolean;
  /** Which test spawned the process (child logs only). */
  readonly origin?: string;
  readonly text: string;
}

export interface SearchResult {
  readonly files: number;
  readonly lines: number;
  readonly findings: readonly Finding[];
}

/** E-mail addresses written literally in the test sources, `src/**\/*.test.ts` and the fixtures (lower case). */
export function collectTestEmails(root: string): Set<string> {
  const found = new Set<string>();
  const visit = (dir: string, accept: (name: string) => boolean) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'bin') visit(full, accept);
      } else if (accept(entry.name)) {
        for (const address of addressesIn(readFileSync(full, 'utf8'))) found.add(address);
      }
    }
  };
  visit(path.join(root, 'test'), (name) => /\.(ts|json|txt|avsc|yaml|yml|csv|sql|sh)$/.test(name));
  visit(path.join(root, 'src'), (name) => name.endsWith('.test.ts'));
  return found;
}

/** The e-mail-shaped strings in `text`, lower case. */
export function addressesIn(text: string): string[] {
  const normalized = text.replace(/%40/gi, '@').replace(/\\u0040/gi, '@');
  return [...normalized.matchAll(ADDRESS)].map((match) => match[0].replace(/^[._%+-]+/, '').toLowerCase());
}

/** Searches every log file of a run directory (see the module comment for what counts). */
export function searchRunLogs(dir: string, testEmails: ReadonlySet<string>): SearchResult {
  let files = 0;
  let lines = 0;
  const findings: Finding[] = [];
  const names = existsSync(dir) ? readdirSync(dir).sort() : [];
  for (const name of names) {
    if (!name.endsWith('.log') || !statSync(path.join(dir, name)).isFile()) continue;
    const child = /^(.*)\.(stdout|stderr)\.log$/.exec(name);
    const meta = child === null ? undefined : readMeta(path.join(dir, `${child[1]}.meta.json`));
    if (meta?.logPersonalData === true) continue;
    const onlyLogRecords = child?.[2] === 'stdout' && meta?.args.includes('--show-personal-data') === true;
    files += 1;
    const text = readFileSync(path.join(dir, name), 'utf8');
    const fileLines = text.split('\n');
    fileLines.forEach((line, index) => {
      if (line === '') return;
      lines += 1;
      if (onlyLogRecords && !isLogRecord(line)) return;
      for (const address of addressesIn(line)) {
        findings.push({
          file: name,
          line: index + 1,
          address,
          literal: testEmails.has(address),
          ...(meta === undefined ? {} : { origin: `${meta.testFile ?? '?'}${meta.testName === undefined ? '' : ` > ${meta.testName}`}: ${[path.basename(meta.command), ...meta.args].join(' ')}` }),
          text: line.length > 300 ? `${line.slice(0, 300)}…` : line,
        });
      }
    });
  }
  return { files, lines, findings };
}

/** A pino record: a JSON object with a `level`. */
function isLogRecord(line: string): boolean {
  try {
    const parsed: unknown = JSON.parse(line);
    return typeof parsed === 'object' && parsed !== null && 'level' in parsed;
  } catch {
    return false;
  }
}

function readMeta(file: string): ChildMeta | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ChildMeta) : undefined;
}

/** A report naming log file and line of each finding (at most `limit`). */
export function formatFindings(dir: string, result: SearchResult, limit = 40): string {
  const shown = result.findings.slice(0, limit).map((finding) =>
    [
      `  ${path.join(dir, finding.file)}:${finding.line}: ${finding.address}${finding.literal ? ' (a test e-mail from the sources)' : ''}`,
      ...(finding.origin === undefined ? [] : [`    spawned by ${finding.origin}`]),
      `    ${finding.text}`,
    ].join('\n'),
  );
  const more = result.findings.length > limit ? [`  … and ${result.findings.length - limit} more`] : [];
  return [`e-mail addresses in clear in ${new Set(result.findings.map((f) => f.file)).size} log file(s):`, ...shown, ...more].join('\n');
}
