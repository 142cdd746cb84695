import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const run = (args: string[], env: Record<string, string> = {}) => runCli(args, env);

describe('customer-service command line', () => {
  it('exits 2 on bad configuration, naming every offending variable in one message', async () => {
    const result = await run(['serve'], { PORT: 'eighty', LOG_LEVEL: 'loud', DB_HOST: 'db' });
    expect(result.code).toBe(2);
    for (const name of ['PORT', 'LOG_LEVEL', 'DB_USER', 'DB_NAME']) expect(result.stderr).toContain(`${name}:`);
    expect(result.stderr.match(/Invalid configuration/g)).toHaveLength(1);
  });

  it('checks the configuration of migrate too', async () => {
    const result = await run(['migrate'], { DATABASE_URL: 'not a url' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('DATABASE_URL:');
  });

  it.each([[['--help']], [['serve', '--help']], [['migrate', '--help']]])('prints help for %j', async (args) => {
    const result = await run(args);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: customer-service/);
  });

  it('prints its version with --version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await run([flag]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`${version}\n`);
    }
  }, 90_000);

  it('reports bad configuration as one JSON log line with exit code 2', async () => {
    const result = await run(['serve'], { PORT: 'eighty' });
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ level: 'fatal', exitCode: 2, code: 'INVALID_CONFIGURATION', problems: [expect.stringMatching(/^PORT: /)] });
  });

  it('reports a start-up failure (database unreachable) as one JSON log line with exit code 1, no bare stack trace', async () => {
    const result = await run(['serve'], { DATABASE_URL: 'postgres://nobody:secret@127.0.0.1:1/none', AUTH_MODE: 'none', LOG_LEVEL: 'silent' });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines, result.stderr).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? '') as { err?: { message?: string } };
    expect(line).toMatchObject({ level: 'fatal', exitCode: 1, code: 'COMMAND_FAILED' });
    expect(line.err?.message).toContain('ECONNREFUSED');
    expect(result.stderr).not.toContain('secret');
  });

  it('publish: a progress line and the summary on stderr, the JSON report alone on stdout; --url is the base URL', async () => {
    // Nothing listens on port 1: every request fails, which the report counts (exit 1).
    const result = await run(['publish', 'user-registered', '--count', '5', '--to', 'http', '--url', 'http://127.0.0.1:1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^publish user-registered: 5\/5 events \(100%\), \d+\/s, [\d.]+ s, done$/m);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ url: 'http://127.0.0.1:1/api/v1/events', failed: 5, statuses: { unreachable: 5 } });
  });

  it('exits 2 on an unknown command', async () => {
    const result = await run(['frobnicate']);
    expect(result.code).toBe(2);
  });
});
