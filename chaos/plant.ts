/**
 * Planted defects, to show the checker catches what it claims to: each copies the source tree and breaks one
 * guarantee in the copy; `npm run chaos -- --plant <name>` runs the instances from that copy. A plant that no longer
 * matches the code fails loudly (update it), never silently runs the unbroken service.
 */
import { cp, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

interface Plant {
  readonly file: string;
  readonly find: string;
  readonly replace: string;
  /** What the checker should report. */
  readonly expect: string;
}

export const PLANTS = {
  /** Kafka offsets committed before the database transaction: a crash mid-batch skips the batch. */
  'kafka-offsets-first': {
    file: 'src/platform/kafka/consumer.ts',
    find: '          await options.handle(chunk);',
    replace: '          await commit(partition, last.offset); // PLANTED DEFECT\n          await options.handle(chunk);',
    expect: 'lost',
  },
  /** A JetStream message acknowledged before its transaction commits: a failure after the ack is never redelivered. */
  'nats-ack-first': {
    file: 'src/platform/nats/consumer.ts',
    find: '      await options.pipeline.handle([inbound]);',
    replace: '      await message.ackAck(); // PLANTED DEFECT\n      await options.pipeline.handle([inbound]);',
    expect: 'lost',
  },
  /** Customer numbers taken on another connection (autocommit): a rolled-back registration burns its number. */
  'numbers-outside-transaction': {
    file: 'src/individual-customers/register-customers.ts',
    find: '        setLastNumbersStatement(lastNumbers),',
    replace:
      '        ((statement) => void (statement && deps.pool.query(statement.text, [...statement.values])))(setLastNumbersStatement(lastNumbers)), // PLANTED DEFECT',
    expect: 'gaps',
  },
} as const satisfies Record<string, Plant>;

export type PlantName = keyof typeof PLANTS;

export function isPlantName(name: string): name is PlantName {
  return Object.hasOwn(PLANTS, name);
}

/** A copy of `root`'s service with the defect in it; returns the copy's root. */
export async function plantedCopy(root: string, name: PlantName): Promise<string> {
  const plant: Plant = PLANTS[name];
  const copy = await mkdtemp(path.join(tmpdir(), `customer-service-plant-${name}-`));
  for (const entry of ['src', 'package.json', 'tsconfig.json']) await cp(path.join(root, entry), path.join(copy, entry), { recursive: true });
  await symlink(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  const file = path.join(copy, plant.file);
  const text = await readFile(file, 'utf8');
  if (!text.includes(plant.find)) throw new Error(`plant ${name}: "${plant.find}" is no longer in ${plant.file}; update chaos/plant.ts`);
  await writeFile(file, text.replace(plant.find, plant.replace));
  return copy;
}
