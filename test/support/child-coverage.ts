/**
 * Coverage of the processes the end-to-end tests start (`node --import tsx src/main.ts ...`): with
 * `CHILD_COVERAGE_DIR` set (only `npm run test:coverage` sets it), every Node.js child spawned by a test writes its V8
 * coverage there, which `scripts/coverage.sh` merges with the in-process report. The tests give their children an
 * explicit environment (PATH plus what they test), so the variable is added here, in one place, instead of in each of
 * them; without `CHILD_COVERAGE_DIR` this file changes nothing.
 */
import childProcess, { type SpawnOptions } from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';

const directory = process.env.CHILD_COVERAGE_DIR;

if (directory !== undefined && directory !== '') {
  const original = childProcess.spawn;
  const withCoverage = (command: string, options: SpawnOptions | undefined): SpawnOptions | undefined =>
    command === process.execPath ? { ...options, env: { ...(options?.env ?? process.env), NODE_V8_COVERAGE: directory } } : options;
  childProcess.spawn = ((command: string, argsOrOptions?: readonly string[] | SpawnOptions, maybeOptions?: SpawnOptions) =>
    Array.isArray(argsOrOptions)
      ? original(command, argsOrOptions as readonly string[], withCoverage(command, maybeOptions) ?? {})
      : original(command, withCoverage(command, argsOrOptions as SpawnOptions | undefined) ?? {})) as typeof childProcess.spawn;
  // Test files import `spawn` by name: the ESM view of the built-in module follows the patched object only after this.
  syncBuiltinESMExports();
}
