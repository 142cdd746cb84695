/**
 * The fault rig's reduced run (`npm run chaos` is the full one): both flows through three instances while the broker
 * and PostgreSQL faults overlap and instances are killed, checked from the ledger: nothing lost, duplicated or stuck,
 * no number gaps, no order violations, and nothing written for refused input.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runRig } from '../../chaos/rig.js';
import { ROOT } from '../support/cli.js';
import { kafkaDescription, kafkaIsReal } from '../support/kafka-test-broker.js';

let dir: string | undefined;
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe(`chaos rig, reduced [${kafkaDescription}]`, () => {
  it('overlapping broker and PostgreSQL faults, instances killed: zero lost, duplicated, stuck, gaps and order violations', async () => {
    // The rig starts a real broker of its own; without Java it cannot run, and the run says so by failing here.
    expect(kafkaIsReal, 'the chaos rig needs a real Kafka broker (Java 17 and Maven)').toBe(true);
    dir = await mkdtemp(path.join(tmpdir(), 'customer-service-chaos-'));
    const result = await runRig({ schedule: 'overlap', seed: 8, inputs: 2_400, ratePerSecond: 200, dir, sourceRoot: ROOT, log: () => undefined });
    console.info(
      `chaos overlap/8: ${result.faults.length} faults (${result.faults.map((fault) => fault.kind).join(', ')}), offered ${result.offered}, ` +
        `accepted ${result.accepted}, refused ${result.rejected}, quiesce ${result.quiesceMs} ms`,
    );
    // Seed 8: the broker frozen for 7 s, an instance killed, and PostgreSQL killed while the broker is still frozen.
    expect(result.faults.map((fault) => fault.kind)).toEqual(['freeze-broker', 'kill-instance', 'kill-postgres']);
    expect(result.accepted).toBeGreaterThan(2_000);
    expect({ ...result, details: result.details }).toMatchObject({
      lost: 0,
      parkedValid: 0,
      duplicated: 0,
      stuck: 0,
      gaps: 0,
      orderViolations: 0,
      writtenForRejected: 0,
      details: [],
    });
    expect(result.quiesceMs).not.toBeNull();
  }, 600_000);
});
