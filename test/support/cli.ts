/** Runs the `customer-service` command from source, as `npm start` and `npm run cli` do, and collects its output. */
import { spawn } from 'node:child_process';

/** The project's root folder. */
export const ROOT = new URL('../..', import.meta.url).pathname;

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `node --import tsx <main> ...args` in `cwd` (the project root and `src/main.ts` unless given), with exactly PATH plus
 * `env` as its environment; resolves when the process has exited.
 */
export function runCli(args: readonly string[], env: Readonly<Record<string, string>> = {}, options: { cwd?: string; main?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', options.main ?? 'src/main.ts', ...args], {
      cwd: options.cwd ?? ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
