import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../support/cli.js';

const run = (cwd: string, main: string, args: string[]) => runCli(args, {}, { cwd, main });

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
