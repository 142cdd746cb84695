/**
 * The suite-wide log search of issue 16 (run by `log-search.global-setup.ts` after the last test file) finds what it
 * must and names file and line; and the collection really gets a child's output, even one started with
 * `stdio: 'ignore'`, and the in-process logger's lines.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './cli.js';
import { collectTestEmails, formatFindings, searchRunLogs } from './log-search.js';
import { runLogDir, testLogger } from './run-logs.js';

function plantedRun(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'log-search-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

const meta = (args: string[], logPersonalData = false) =>
  JSON.stringify({ command: '/usr/bin/node', args: ['--import', 'tsx', 'src/main.ts', ...args], testFile: 'test/e2e/x.test.ts', testName: 'x > y', logPersonalData });

describe('log search', () => {
  it('finds an address in clear and names file, line and the test that spawned the process', () => {
    const dir = plantedRun({
      '1-1-node.meta.json': meta(['serve']),
      '1-1-node.stdout.log': '{"level":"info","msg":"listening"}\n{"level":"debug","email":"[redacted]"}\n{"level":"warn","user":{"email":"jane.doe@techcorp.com"}}\n',
      '1-1-node.stderr.log': '',
      'in-process.x.1.log': '{"level":"info","url":"/api/v1/customers?email=Generated.User%40Some-Company-ab12.com"}\n',
    });
    const result = searchRunLogs(dir, new Set(['jane.doe@techcorp.com']));
    expect(result.findings.map(({ file, line, address, literal }) => ({ file, line, address, literal }))).toEqual([
      { file: '1-1-node.stdout.log', line: 3, address: 'jane.doe@techcorp.com', literal: true },
      { file: 'in-process.x.1.log', line: 1, address: 'generated.user@some-company-ab12.com', literal: false },
    ]);
    const report = formatFindings(dir, result);
    expect(report).toContain(`${path.join(dir, '1-1-node.stdout.log')}:3: jane.doe@techcorp.com`);
    expect(report).toContain('spawned by test/e2e/x.test.ts > x > y: node --import tsx src/main.ts serve');
  });

  it('treats the report of a command given --show-personal-data as output, but still searches its log records and stderr', () => {
    const dir = plantedRun({
      '1-2-node.meta.json': meta(['dead-letters', 'show', 'abc', '--show-personal-data']),
      '1-2-node.stdout.log': '{\n  "payload": "{\\"email\\":\\"jane.doe@techcorp.com\\"}"\n}\n{"level":"debug","msg":"replaying for jim.beam@techcorp.com"}\n',
      '1-2-node.stderr.log': 'failed for john.smith@techcorp.com\n',
      '1-3-node.meta.json': meta(['dead-letters', 'show', 'abc']),
      '1-3-node.stdout.log': '{\n  "payload": "{\\"email\\":\\"jane.doe@techcorp.com\\"}"\n}\n',
    });
    expect(searchRunLogs(dir, new Set()).findings.map(({ file, line, address }) => `${file}:${line} ${address}`)).toEqual([
      '1-2-node.stderr.log:1 john.smith@techcorp.com',
      '1-2-node.stdout.log:4 jim.beam@techcorp.com',
      '1-3-node.stdout.log:2 jane.doe@techcorp.com',
    ]);
  });

  it('leaves out a process started with LOG_PERSONAL_DATA=true (the documented opt-in)', () => {
    const dir = plantedRun({ '1-4-node.meta.json': meta(['serve'], true), '1-4-node.stdout.log': '{"level":"info","email":"jane.doe@techcorp.com"}\n' });
    expect(searchRunLogs(dir, new Set()).findings).toEqual([]);
  });

  it('collects the literal test addresses of sources and fixtures', () => {
    const emails = collectTestEmails(ROOT);
    expect(emails).toContain('jane.doe@techcorp.com'); // test/fixtures/customer-registered.cloudevent.json
    expect(emails).toContain('jane.dead-letter@example.com'); // test/e2e/dead-letters-personal-data.test.ts
  });
});

describe('log collection', () => {
  it("copies a child's stdout and stderr into the run's log directory, even with stdio 'ignore'", async () => {
    const marker = `tee-check-${process.pid}-${Date.now()}`;
    const child = spawn(process.execPath, ['-e', `console.log('${marker} out'); console.error('${marker} err')`], { stdio: 'ignore' });
    expect(child.stdout).not.toBeNull(); // the harness piped it
    await new Promise((resolve) => child.once('close', resolve));
    const dir = runLogDir();
    const texts = readdirSync(dir)
      .filter((name) => name.startsWith(`${process.pid}-`) && name.endsWith('.log'))
      .map((name) => readFileSync(path.join(dir, name), 'utf8'));
    expect(texts).toContain(`${marker} out\n`);
    expect(texts).toContain(`${marker} err\n`);
    const metas = readdirSync(dir).filter((name) => name.startsWith(`${process.pid}-`) && name.endsWith('.meta.json'));
    expect(metas.map((name) => JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as { testFile: string; testName: string })).toContainEqual(
      expect.objectContaining({ testFile: 'test/support/log-search.test.ts', testName: expect.stringContaining('copies a child') as unknown }),
    );
  });

  it("writes the in-process logger's lines there, redacted as in production", () => {
    const marker = `in-process-check-${Date.now()}`;
    testLogger().info({ user: { profile: { contact: { email: 'nested@example.com' } } } }, marker);
    const dir = runLogDir();
    const line = readdirSync(dir)
      .filter((name) => name.startsWith('in-process.') && name.endsWith(`.${process.pid}.log`))
      .flatMap((name) => readFileSync(path.join(dir, name), 'utf8').split('\n'))
      .find((text) => text.includes(marker));
    expect(line).toBeDefined();
    expect(line).toContain('"email":"[redacted]"');
  });
});
