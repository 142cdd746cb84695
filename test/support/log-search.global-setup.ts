/**
 * Gives the run its log directory (`test-results/logs/run-…`, kept after the run for reading) and, after the last test
 * file, searches every log line in it for e-mail addresses (issue 16; see `log-search.ts`). A finding fails the run
 * (exit code 1) and names the log file, the line and the test that spawned the process.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ROOT } from './cli.js';
import { collectTestEmails, formatFindings, searchRunLogs } from './log-search.js';

const LOGS = path.join(ROOT, 'test-results', 'logs');
/** Runs older than this are removed at the start of a run (the directory is git-ignored). */
const KEEP_MS = 12 * 3600_000;

export default function setup(project: TestProject): () => void {
  mkdirSync(LOGS, { recursive: true });
  for (const name of readdirSync(LOGS)) {
    const full = path.join(LOGS, name);
    if (Date.now() - statSync(full).mtimeMs > KEEP_MS) rmSync(full, { recursive: true, force: true });
  }
  const dir = path.join(LOGS, `run-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  project.provide('runLogDir', dir);
  return () => {
    const result = searchRunLogs(dir, collectTestEmails(ROOT));
    process.stderr.write(`\nlog search (issue 16): ${result.lines} log lines in ${result.files} files under ${dir}: ${result.findings.length} e-mail address(es) in clear\n`);
    if (result.findings.length > 0) {
      process.stderr.write(`${formatFindings(dir, result)}\n`);
      // A thrown error here is only printed by vitest (exit code 0); the exit code is what CI reads.
      process.exitCode = 1;
    }
  };
}
