/**
 * `npm run fuzz`: every way in fuzzed against one running instance (see chaos/fuzz.ts).
 *
 *   npm run fuzz                                   10,000 malformed messages per broker, schemathesis up to 3,000 cases per operation (about 19,000 in all)
 *   npm run fuzz -- --messages 1000 --http-examples 100 --seed 3
 *
 * schemathesis comes from `scripts/install-schemathesis.sh` (.cache/schemathesis). Exits 1 when a message was not
 * parked with a reason, anything was written, the HTTP API answered 5xx, or the instance died.
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fuzzFailures, runFuzz } from './fuzz.js';

const ROOT = path.resolve(new URL('..', import.meta.url).pathname);
const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    messages: { type: 'string', default: '10000' },
    'http-examples': { type: 'string', default: '3000' },
    schemathesis: { type: 'string', default: path.join(ROOT, '.cache/schemathesis/bin/st') },
  },
});

const dir = await mkdtemp(path.join(ROOT, '.chaos', 'fuzz-'));
const result = await runFuzz({
  seed: Number(values.seed),
  messages: Number(values.messages),
  httpExamples: Number(values['http-examples']),
  ...(existsSync(values.schemathesis) ? { schemathesis: values.schemathesis } : {}),
  dir,
  sourceRoot: ROOT,
});
console.info(JSON.stringify(result, null, 2));
const failures = fuzzFailures(result);
console.info(failures.length === 0 ? 'fuzz: every input rejected or parked with a reason, nothing written, no 5xx' : `fuzz FAILED:\n  ${failures.join('\n  ')}`);
process.exitCode = failures.length === 0 ? 0 : 1;
