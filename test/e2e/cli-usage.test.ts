/**
 * A usage error is invalid input: every command, whichever flow adds it, exits 2 ("do not retry") with commander's
 * reason on stderr, and does nothing. Exit 1 would tell a Job controller or a script to run it again.
 */
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildCli } from '../../src/cli.js';
import { runCli } from '../support/cli.js';

/** Every runnable command as its words (`['publish', 'customer-registered']`), as the CLI is assembled. */
function leafCommands(command: Command, path: readonly string[] = []): string[][] {
  return command.commands.flatMap((sub) => (sub.commands.length === 0 ? [[...path, sub.name()]] : leafCommands(sub, [...path, sub.name()])));
}

// `bench` passes every option on to bench/run.ts (documented), so an unknown option is the benchmark's to judge.
const commands = leafCommands(buildCli()).filter((words) => words.join(' ') !== 'bench');

describe('usage errors exit 2', () => {
  it('finds the commands of every flow', () => {
    expect(commands.map((words) => words.join(' '))).toEqual(
      expect.arrayContaining(['serve', 'migrate', 'dead-letters list', 'register-corporate-customer', 'import knapscen', 'publish user-registered', 'publish customer-registered']),
    );
  });

  it.each(commands.map((words) => [words.join(' '), words]))('%s --no-such-option', async (_name, words) => {
    const result = await runCli([...words, '--no-such-option'], {});
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain("error: unknown option '--no-such-option'");
    expect(result.stdout).toBe('');
  });

  it.each([
    [['publish', 'customer-registered', '--count', '0'], "argument '0' is invalid. expected a positive integer"],
    [['publish', 'customer-registered', '--to', 'kafka'], "argument 'kafka' is invalid. expected nats or http"],
  ])('%j: a bad option value, with the reason', async (args, reason) => {
    const result = await runCli(args, {});
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(reason);
    expect(result.stdout).toBe('');
  });
});
