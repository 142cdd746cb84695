/**
 * `customer-service bench [options]`: the end-to-end benchmark of issue 7 (`bench/run.ts`, the same as `npm run bench`),
 * run from a source checkout. Every option is passed on unchanged (`customer-service bench --help` lists them). The
 * benchmark is development tooling: it needs the sources of bench/ and test/support/ and the dev dependencies (tsx,
 * the Kafka mock's build), which the container image leaves out; there the command says so and exits 2.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

/** The checkout this module belongs to: the folder above `src/` (tsx) or `dist/` (compiled). */
const DEFAULT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('run the end-to-end benchmark (from a source checkout; options as for npm run bench, see bench --help)')
    .argument('[options...]', 'passed on to bench/run.ts')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (options: string[]) => {
      process.exitCode = await runBench(options);
    });
}

/** Runs `bench/run.ts` of `root` with `args`; resolves with its exit code (2 when the benchmark is not there). */
export async function runBench(args: readonly string[], root: string = DEFAULT_ROOT): Promise<number> {
  const script = path.join(root, 'bench', 'run.ts');
  const tsx = resolveTsx(root);
  if (!existsSync(script) || tsx === undefined) {
    process.stderr.write(
      `customer-service bench: the benchmark is not part of this installation (${existsSync(script) ? 'tsx, a dev dependency, is missing' : `${path.join(root, 'bench')} is missing`}).\n` +
        'It runs from a source checkout: git clone …, npm ci, then npm run bench (or customer-service bench).\n',
    );
    return 2;
  }
  const child = spawn(process.execPath, ['--import', tsx, script, ...args], { cwd: root, stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve(code ?? (signal === null ? 1 : 128 + 15)));
    });
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}

function resolveTsx(root: string): string | undefined {
  try {
    return createRequire(path.join(root, 'package.json')).resolve('tsx');
  } catch {
    return undefined;
  }
}
