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

  it('exits 2 on an unknown command', async () => {
    const result = await run(['frobnicate']);
    expect(result.code).toBe(2);
  });
});
