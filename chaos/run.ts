/**
 * `npm run chaos`: the fault rig over every schedule (or the ones named), each seeded and reproducible.
 *
 *   npm run chaos                                  five schedules, 20,000 inputs each
 *   npm run chaos -- --schedule overlap --seed 7   one schedule, one seed
 *   npm run chaos -- --inputs 3000 --rate 300      a shorter run
 *   npm run chaos -- --plant nats-ack-first         the instances run a copy with a planted defect (chaos/plant.ts)
 *
 * Prints one line per schedule (offered, accepted, lost, duplicated, stuck, gaps, order violations, quiesce time) and
 * writes everything (ledger, instance logs, result.json) under .chaos/<schedule>-<seed>/. Exits 1 when any run found
 * a loss, a duplicate, something stuck, a gap or an order violation.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isPlantName, plantedCopy, PLANTS } from './plant.js';
import { broken, runRig, type RigResult } from './rig.js';
import { isScheduleName, SCHEDULES } from './schedule.js';

const ROOT = path.resolve(new URL('..', import.meta.url).pathname);
const { values } = parseArgs({
  options: {
    schedule: { type: 'string', multiple: true },
    seed: { type: 'string', default: '1' },
    inputs: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '400' },
    plant: { type: 'string' },
  },
});

const schedules = (values.schedule ?? Object.keys(SCHEDULES)).map((name) => {
  if (!isScheduleName(name)) throw new Error(`--schedule: expected one of ${Object.keys(SCHEDULES).join(', ')}, got ${name}`);
  return name;
});
if (values.plant !== undefined && !isPlantName(values.plant)) throw new Error(`--plant: expected one of ${Object.keys(PLANTS).join(', ')}, got ${values.plant}`);
const sourceRoot = values.plant === undefined ? ROOT : await plantedCopy(ROOT, values.plant);
if (values.plant !== undefined) console.info(`instances run ${sourceRoot}: planted defect ${values.plant} (the checker should report ${PLANTS[values.plant].expect})`);
const seed = Number(values.seed);
const results: RigResult[] = [];
let crashed = 0;
for (const [index, schedule] of schedules.entries()) {
  const runSeed = seed + index;
  try {
    const result = await runRig({
      schedule,
      seed: runSeed,
      inputs: Number(values.inputs),
      ratePerSecond: Number(values.rate),
      dir: path.join(ROOT, '.chaos', `${values.plant === undefined ? '' : `${values.plant}-`}${schedule}-${runSeed}`),
      sourceRoot,
    });
    results.push(result);
    console.info(summaryLine(result));
  } catch (error) {
    crashed += 1;
    console.error(`${schedule}/${runSeed}: the rig itself failed:`, error);
  }
}

console.info(`\n${table(results)}`);
const failed = results.filter(broken);
for (const result of failed) console.info(`${result.schedule}/${result.seed}:\n  ${result.details.join('\n  ')}`);
process.exitCode = failed.length + crashed > 0 ? 1 : 0;

function summaryLine(result: RigResult): string {
  return `${result.schedule}/${result.seed}: ${result.faults.length} faults, offered ${result.offered}, accepted ${result.accepted}, lost ${result.lost}, parked ${result.parkedValid}, duplicated ${result.duplicated}, stuck ${result.stuck}, gaps ${result.gaps}, order ${result.orderViolations}, quiesce ${result.quiesceMs ?? 'never'} ms`;
}

function table(rows: readonly RigResult[]): string {
  const header = '| schedule (seed) | faults | offered | accepted | refused | lost | valid parked | duplicated | stuck | gaps | order violations | written for refused | quiesce |';
  const lines = rows.map(
    (r) =>
      `| ${r.schedule} (${r.seed}) | ${r.faults.length} | ${r.offered} | ${r.accepted} | ${r.rejected} | ${r.lost} | ${r.parkedValid} | ${r.duplicated} | ${r.stuck} | ${r.gaps} | ${r.orderViolations} | ${r.writtenForRejected} | ${r.quiesceMs === null ? 'never' : `${(r.quiesceMs / 1000).toFixed(1)} s`} |`,
  );
  return [header, `|${'---|'.repeat(13)}`, ...lines].join('\n');
}
