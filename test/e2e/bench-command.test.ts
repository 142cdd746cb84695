import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Runs `node --import tsx <main> args` in `cwd` with exactly PATH as environment. */
function run(cwd: string, main: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { cwd, env: { PATH: process.env.PATH ?? '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('customer-service bench', () => {
  it('runs bench/run.ts of the source checkout, passing every option on', async () => {
    const result = await run(ROOT, 'src/main.ts', ['bench', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: npm run bench -- \[options\]/);
    expect(result.stdout).toContain('--only per-event|batched|fixed');
  });

  it('says the benchmark is not in an installation without bench/ (as the container image) and exits 2', async () => {
    // The image's layout: the compiled service and its dependencies, no bench/ or test/.
    const image = await mkdtemp(path.join(tmpdir(), 'customer-service-image-'));
    try {
      await cp(path.join(ROOT, 'src'), path.join(image, 'src'), { recursive: true });
      await cp(path.join(ROOT, 'package.json'), path.join(image, 'package.json'));
      await symlink(path.join(ROOT, 'node_modules'), path.join(image, 'node_modules'));
      const result = await run(image, 'src/main.ts', ['bench', '--events', '10']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('the benchmark is not part of this installation');
      expect(result.stderr).toContain(`${path.join(image, 'bench')} is missing`);
      expect(result.stderr).toContain('npm run bench');
    } finally {
      await rm(image, { recursive: true, force: true });
    }
  });
});
